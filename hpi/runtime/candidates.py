"""Backend candidates: the per-device orders of configs/backend_defaults.yaml, on the CPU the plan of this CPU's
class (configs/cpu_plans.yaml), and what can run here.

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
from .device import Device, cpu_class, cpu_quota
from .model_dir import ModelDir
from .plans import Plan, announce, plan_for, process_settings

# The x86 class whose plans the catalog shows on a machine that is not x86: AVX2 + FMA, what every x86-64 server
# since 2013 (Haswell, and AMD since 2015) has.
_X86_CLASS_ELSEWHERE = "x86_avx2"


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


def cpu_plan(model_name: Optional[str], device: Device) -> Optional[Plan]:
    """The plan of this CPU's class for `model_name`; None on a GPU (one order per device class there)."""
    if device.kind != "cpu":
        return None
    return plan_for(model_name, cpu_class().name, backend_orders())


def default_candidates(model_name: Optional[str], device: Device) -> List[Candidate]:
    plan = cpu_plan(model_name, device)
    if plan is None:
        table = backend_orders()
        klass = device_class(device)
        entries = ((table.get("models") or {}).get(model_name) or {}).get(klass) or table["default"][klass]
        return [Candidate(e["backend"], {k: v for k, v in e.items() if k != "backend"}) for e in entries]
    announce(plan)
    candidates = []
    for entry in plan.order:
        options = {k: v for k, v in entry.items() if k != "backend"}
        candidates.append(Candidate(entry["backend"], {**options, **plan_options(entry["backend"], plan)}))
    return candidates


def plan_options(backend: str, plan: Plan) -> Dict[str, Any]:
    """The plan's streams and batching, and its class's process-wide oneDNN kernel cache, as options of the
    backends that take them (streams capped at the CPUs this process has: the plan's 2 were measured on 2 cores)."""
    from .backends import get_backend_class

    values = {"num_streams": max(1, min(plan.num_streams, cpu_quota())), "batching": plan.batching_for(backend),
              "onednn_primitive_cache": process_settings(plan.cpu_class).onednn_primitive_cache}
    return {key: value for key, value in values.items()
            if value is not None and key in get_backend_class(backend).option_checks}


def with_output(candidate: Candidate, output: str) -> Candidate:
    """The candidate asked to return `output` ("top1") where its backend can reduce the output in the model (an
    `output` option); other backends return it whole, and the task reads either."""
    from .backends import get_backend_class

    if output == "full" or "output" not in get_backend_class(candidate.backend).option_checks \
            or "output" in candidate.options:
        return candidate
    return Candidate(candidate.backend, {**candidate.options, "output": output})


def plan_report(model_name: Optional[str], device: Device, hpi_config) -> Dict[str, Any]:
    """{"plan": ...} for a predictor's config in high-performance mode on the CPU: the plan of this CPU's class,
    this CPU, and whether the plan's order chose the backend (not hpi_config.backend or a tuned winner)."""
    plan = cpu_plan(model_name, device)
    if plan is None:
        return {}
    chose = hpi_config.backend is None and hpi_config.auto_config != "tune"
    return {"plan": {**plan.to_dict(), "cpu": cpu_class().model, "chose_backend": chose,
                     "process": process_settings(plan.cpu_class).to_dict()}}


def class_orders(model_name: Optional[str]) -> Dict[str, List[dict]]:
    """Device class -> the ordered entries for `model_name`: on the CPU, the plan of this machine's class (of
    x86_avx2 for cpu_x64 on a machine that is not x86; of arm64_neon for cpu_arm64 on one that is not ARM)."""
    table = backend_orders()
    here = cpu_class().name
    classes = {"cpu_x64": here if here.startswith("x86") else _X86_CLASS_ELSEWHERE,
               "cpu_arm64": here if here.startswith("arm64") else "arm64_neon"}
    own = (table.get("models") or {}).get(model_name) or {}
    return {klass: list(plan_for(model_name, classes[klass], table).order) if klass in classes
            else own.get(klass) or table["default"][klass] for klass in table["default"]}


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
