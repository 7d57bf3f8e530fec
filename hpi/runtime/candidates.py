"""Backend candidates: the per-device orders of configs/backend_defaults.yaml, and what can run here.

One definition each, used by the selector (what to load), tuning (what to time) and the catalog (what to show).
"""
from __future__ import annotations

import platform
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Dict, List, Optional

import yaml

from .._deps import is_installed
from .device import Device
from .model_dir import ModelDir


@dataclass(frozen=True)
class Candidate:
    """A backend and the backend_config it would be loaded with."""

    backend: str
    options: Dict[str, Any]


def device_class(device: Device) -> str:
    if device.kind == "gpu":
        return "gpu_cuda"
    machine = platform.machine().lower()
    return "cpu_arm64" if machine in ("arm64", "aarch64") else "cpu_x64"


@lru_cache(maxsize=1)
def backend_orders() -> Dict[str, Any]:
    """configs/backend_defaults.yaml: `default` (device class -> ordered entries) and per-model `models`."""
    text = resources.files("hpi.configs").joinpath("backend_defaults.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def default_candidates(model_name: Optional[str], device: Device) -> List[Candidate]:
    table = backend_orders()
    klass = device_class(device)
    entries = ((table.get("models") or {}).get(model_name) or {}).get(klass) or table["default"][klass]
    return [Candidate(e["backend"], {k: v for k, v in e.items() if k != "backend"}) for e in entries]


def runnable_here(backend_class, model_dir: ModelDir, device: Device, any_format: bool = False) -> Optional[str]:
    """None when `backend_class` can run `model_dir` on `device` here (device kind, framework installed, model
    format present unless `any_format`: a model that can still be converted), else why not."""
    if device.kind not in backend_class.device_kinds:
        return f"does not run on {device.kind}"
    if not is_installed(backend_class.framework):
        return f"{backend_class.framework} is not installed"
    if not any_format and backend_class.model_format not in model_dir.formats:
        hint = " (convert it: `hpi convert --model_dir DIR`)" if backend_class.model_format == "onnx" else ""
        return (f"needs a {backend_class.model_format} model, the model dir has "
                f"{', '.join(model_dir.formats)}{hint}")
    return None
