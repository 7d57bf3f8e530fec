"""Facts about this machine and its libraries, recorded with tuning results and benchmarks."""
from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path
from typing import Dict, Iterable


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def library_versions(distributions: Iterable[str]) -> Dict[str, str]:
    """{distribution: version} for those installed (read from metadata: nothing is imported)."""
    versions = {}
    for dist in distributions:
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return versions
