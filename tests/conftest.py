import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from helpers import DATA, REPO  # noqa: E402

# Flags that change what runs and how fast (CPU classes, bf16, VNNI/AMX INT8): printed at the start of every run
_REPORTED_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
                   "amx_bf16", "amx_int8", "sve", "asimd")


def pytest_report_header(config):
    """The CPU the suite ran on: capability-dependent tests run or skip by these flags."""
    from hpi.runtime.device import cpu_class, cpuinfo_flags

    here = cpu_class()
    flags = sorted(cpuinfo_flags() & set(_REPORTED_FLAGS))
    return [f"cpu: {here.model} ({here.machine}), class {here.name}, flags: {' '.join(flags) or 'none of note'}"]


@pytest.fixture(scope="session")
def models_root() -> Path:
    root = Path(os.environ.get("HPI_TEST_MODELS", REPO / ".cache" / "test_models"))
    if not (root / "fetched.json").is_file():
        pytest.fail(f"test models missing in {root}: run `make models` (scripts/fetch_test_models.py)")
    return root


@pytest.fixture(scope="session")
def v4_paddle_dir(models_root) -> Path:
    return models_root / "PP-OCRv4_mobile_rec"


@pytest.fixture(scope="session")
def v4_onnx_dir(models_root) -> Path:
    return models_root / "PP-OCRv4_mobile_rec_onnx"


@pytest.fixture(scope="session")
def lines():
    """The committed rendered set: (paths, labels), in labels.txt order."""
    root = DATA / "lines"
    rows = [line.split("\t", 1) for line in (root / "labels.txt").read_text("utf-8").splitlines() if line]
    return [str(root / rel) for rel, _ in rows], [text for _, text in rows]


@pytest.fixture(scope="session")
def golden():
    return json.loads((DATA / "golden" / "paddlex_PP-OCRv4_mobile_rec.json").read_text("utf-8"))


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    return DATA / "samples"



@pytest.fixture(scope="session")
def ocr_images() -> Path:
    """The real photos and scans of the OCR tests (sources in tests/data/ocr_images/SOURCES.md)."""
    return DATA / "ocr_images"
