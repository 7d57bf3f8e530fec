"""Measured auto-tuning: time every installed backend/precision candidate on this machine and keep the fastest
whose outputs match the FP32 reference, cached per model, hardware and library versions.

`hpi_config={"auto_config": "tune"}` and `hpi tune --model_dir D` use it. The task supplies the workload (a
TuningWorkload): its own predict path run on a given backend, so that each candidate is timed as predict() runs
it: the same preprocessing and padding for its precision (reduced precision pads lines to 64-px buckets), the same
grouping and batching, the backend's streams. This module knows backends and keys only.

The score is the first pass over the workload, each input shape new to the runtime: what predict() meets on real
data, whose shapes rarely repeat. It matters: OpenVINO's CPU plugin prepares each new input shape once (measured:
about 30 ms extra per new width for PP-OCRv4_mobile_rec), so a warm loop over repeated shapes would favour it. The
warm figure (the same inputs again) is reported beside it. Timing the model alone on unpadded lines, one at a time,
once ranked OpenVINO bf16 below fp32 on an AMX Xeon (18.1 vs 13.3 ms per line) where predict ran it 2.0-2.7x faster.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, List, Optional

from .._env import cpu_model
from .._fs import atomic_write, sha256_files
from .backends import BACKENDS, get_backend_class
from .candidates import Candidate, default_candidates, runnable_here, with_output
from .device import Device, cpu_quota, require_device
from ..errors import HPIError, NoBackendAvailableError
from .model_dir import ModelDir

logger = logging.getLogger(__name__)

MIN_AGREEMENT = 0.995
TUNE_VERSION = 5  # bump when the measurement changes: cached winners are redone


@dataclass
class TuningWorkload:
    """What a task gives tuning: `run(backend, warmup)` runs the task's predict path on `backend` over the
    workload's `size` inputs (at the shapes real data has), or with `warmup` over one input that is not among them
    (one-time setup, not timed), and returns one key per input: what of its result must equal the FP32
    reference's for the candidate to agree (for text recognition: the text)."""

    run: Callable[[Any, bool], List[Hashable]]
    size: int
    output: str = "full"  # what of the model's output the task reads: backends are loaded as predict loads them
    unit: str = "line"  # what one input is, for reports ("ms/line")
    # why a bf16/fp16 candidate is not timed when no validation data judges it
    reduced: str = "reduced precision is judged on your data: hpi tune --val_data DIR"

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError("a tuning workload needs inputs")


@dataclass
class CandidateTiming:
    backend: str
    options: dict
    effective: dict = field(default_factory=dict)
    ms_per_input: Optional[float] = None  # first pass, every width new to the runtime (the score)
    warm_ms_per_input: Optional[float] = None  # the same lines again, widths already seen
    agreement: Optional[float] = None
    gate: Optional[dict] = None  # reduced precision (not INT8, gated when made): judged on the user's validation data
    error: Optional[str] = None

    @property
    def kept(self) -> bool:
        if self.error is not None or self.agreement is None:
            return False
        if self.gate is not None:  # judged on the user's real data, which rendered lines cannot overrule
            return self.gate["passed"]
        return self.agreement >= MIN_AGREEMENT


@dataclass
class TuneResult:
    key: str
    winner: Optional[CandidateTiming]
    candidates: List[CandidateTiming] = field(default_factory=list)
    machine: dict = field(default_factory=dict)
    unit: str = "line"  # what ms_per_input counts per: the workload's unit

    def to_dict(self) -> dict:
        return {"key": self.key, "winner": asdict(self.winner) if self.winner else None,
                "candidates": [asdict(c) for c in self.candidates], "machine": self.machine,
                "min_agreement": MIN_AGREEMENT, "unit": self.unit}


def cache_dir() -> Path:
    return Path(os.environ.get("HPI_CACHE_HOME") or Path.home() / ".cache" / "hpi") / "tuning"


def machine_facts(device: Device) -> dict:
    versions = {dist: version for backend in BACKENDS.values() for dist, version in backend.versions().items()}
    return {"cpu": cpu_model(), "cpus": cpu_quota(), "machine": platform.machine(), "device": str(device),
            "versions": versions, "tune_version": TUNE_VERSION}


def tune_key(model_dir: ModelDir, device: Device, validation=None, max_drop: float = 0.5) -> str:
    """Model files (INT8 ones too), machine, and the validation data that judged reduced precision."""
    from .quantization.record import int8_files

    int8 = sorted({model_dir.path / name for name in int8_files() if (model_dir.path / name).is_file()})
    model_hash = sha256_files(*[p for p in (model_dir.onnx, model_dir.paddle_params, *int8) if p is not None])
    judged = [validation.fingerprint, max_drop] if validation is not None else None
    facts = json.dumps([machine_facts(device), judged], sort_keys=True)
    return hashlib.sha256(f"{model_hash}{facts}".encode()).hexdigest()[:24]


def load_cached(model_dir: ModelDir, device: Device) -> Optional[dict]:
    path = cache_dir() / f"{tune_key(model_dir, device)}.json"  # tuned without validation data (auto_config)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def reduced_candidates(model_dir: ModelDir, device: Device):
    """(candidate, None) for each reduced-precision candidate this hardware runs natively, or (candidate, reason
    it is left out): bf16 only where the CPU has bf16 instructions (elsewhere it is emulated: slower and still
    rounded), INT8 only where a model that held its gate exists. The candidates are each backend's
    `tuned_precisions` on this device kind, by precision (bf16, fp16, int8), backends in the registry's order."""
    from .device import cpu_capabilities

    no_bf16 = None
    if device.kind == "cpu" and not cpu_capabilities().bf16:
        no_bf16 = "this CPU has no bf16 instructions (avx512_bf16 or amx_bf16)"
    found = []
    for precision in ("bf16", "fp16", "int8"):
        for name, backend in BACKENDS.items():
            options = backend.tuned_precisions.get(device.kind, {}).get(precision)
            if options is not None:
                reason = _gated(model_dir, name) if precision == "int8" else no_bf16 if precision == "bf16" else None
                found.append((Candidate(name, dict(options)), reason))
    return found


def _gated(model_dir: ModelDir, backend: str) -> Optional[str]:
    """None when `backend` has an INT8 model of this model dir that held its gate, else why not."""
    from .quantization import gated_model_path

    try:
        gated_model_path(model_dir, model_dir.onnx, backend)
    except HPIError as exc:
        return str(exc)
    return None


def _int8_gate(model_dir: ModelDir, backend: str) -> dict:
    from .quantization import read_record
    from .quantization.record import int8_path

    record = read_record(int8_path(model_dir.path, backend)) or {}
    return {"fp32": record.get("fp32"), "candidate": record.get("int8"), "rule": record.get("gate", {}).get("rule"),
            "passed": bool(record.get("gate", {}).get("passed")), "judged_by": "hpi quantize"}


def tuning_candidates(model_dir: ModelDir, device: Device, with_reduced: bool = True):
    """Every backend x precision worth timing here; the first is the FP32 reference. Reduced-precision ones only
    with `with_reduced` and where `reduced_candidates` admits them."""
    base = default_candidates(model_dir.model_name, device)
    extra = [c for c, reason in reduced_candidates(model_dir, device) if reason is None] if with_reduced else []
    return [c for c in base + extra if runnable_here(get_backend_class(c.backend), model_dir, device) is None]


def tune(model_dir: ModelDir, device: Device, workload: TuningWorkload, rounds: int = 3, validation=None,
         max_drop: float = 0.5) -> TuneResult:
    """Time the candidates on the task's `workload`; `validation` (a quantization Workload of the user's data)
    admits bf16/fp16 candidates whose gate holds on it (`max_drop` points, as `hpi quantize`). INT8 candidates
    were gated when made."""
    from .quantization.search import Gate

    require_device(device)  # timing the CPU for a GPU asked for would cache a winner for a device not used
    gate = Gate(max_drop, validation.labelled) if validation is not None else None
    timings, reference, fp32_validation, fp32_metrics = [], None, None, None
    for candidate in tuning_candidates(model_dir, device):
        timing = CandidateTiming(candidate.backend, dict(candidate.options))
        backend_class = get_backend_class(candidate.backend)
        precision = backend_class.precision_of(candidate.options)
        judged = precision not in ("fp32", "int8")  # bf16/fp16: judged here; INT8 was gated when made
        if judged and validation is None:
            timing.error = workload.reduced
            timings.append(timing)
            continue
        try:
            loaded = with_output(candidate, workload.output)
            with backend_class(model_dir, device, loaded.options) as backend:
                workload.run(backend, True)  # one-time setup, not counted
                start = time.perf_counter()
                keys = workload.run(backend, False)  # predict's own path: every shape new to the runtime
                timing.ms_per_input = round((time.perf_counter() - start) * 1000 / workload.size, 3)
                per_round = []
                for _ in range(rounds):
                    start = time.perf_counter()
                    workload.run(backend, False)
                    per_round.append((time.perf_counter() - start) * 1000 / workload.size)
                timing.effective = {k: v for k, v in backend.config.items() if k not in ("backend", "device")}
                if precision == "int8":
                    timing.gate = _int8_gate(model_dir, candidate.backend)
                if validation is not None and (fp32_validation is None or judged):
                    judged_outputs = backend.infer_many(validation.reduced_validation if judged else
                                                        validation.validation)
                    if fp32_validation is None:  # the first candidate is the FP32 reference
                        fp32_validation = judged_outputs
                        fp32_metrics = validation.judge(judged_outputs, judged_outputs)
                    else:
                        metrics = validation.judge(judged_outputs, fp32_validation)
                        timing.gate = {"fp32": fp32_metrics.to_dict(), "candidate": metrics.to_dict(),
                                       "rule": gate.describe(), "passed": gate.holds(fp32_metrics, metrics)}
            timing.warm_ms_per_input = round(statistics.median(per_round), 3)
            reference = reference or keys
            timing.agreement = sum(a == b for a, b in zip(keys, reference)) / len(keys)
        except (HPIError, RuntimeError, OSError) as exc:
            timing.error = one_line(exc)
        timings.append(timing)
        gate_said = f", gate {'holds' if timing.gate['passed'] else 'fails'}" if timing.gate else ""
        logger.info("tuned %s %s: %s", timing.backend, timing.effective or timing.options, timing.error or
                    f"{timing.ms_per_input} ms/{workload.unit} (warm {timing.warm_ms_per_input}), agreement "
                    f"{timing.agreement:.3f}{gate_said}")
    kept = [t for t in timings if t.kept]
    if not kept:  # nothing to cache: a later run must time again, not reuse "no winner"
        raise NoBackendAvailableError(f"tuning {model_dir.path} timed nothing on {device}: "
                                      + "; ".join(_why_not(t) for t in timings) if timings else
                                      f"tuning {model_dir.path}: no backend installed here runs it on {device}")
    winner = min(kept, key=lambda t: t.ms_per_input)
    result = TuneResult(tune_key(model_dir, device, validation, max_drop), winner, timings, machine_facts(device),
                        workload.unit)
    atomic_write(cache_dir() / f"{result.key}.json", json.dumps(result.to_dict(), indent=2).encode("utf-8"))
    return result


def one_line(exc: BaseException, limit: int = 240) -> str:
    """An error on one line: its lines joined, OpenVINO's 'Exception from src/...cpp:84:' source locations
    dropped, a framework's named by its type (hpi's own errors already say who failed)."""
    message = re.sub(r"Exception from \S+:\d+:\s*", "", " ".join(str(exc).split()))
    message = message if isinstance(exc, HPIError) else f"{type(exc).__name__}: {message}"
    return message if len(message) <= limit else message[:limit - 3] + "..."


def _why_not(timing: CandidateTiming) -> str:
    """'onnxruntime fp32: <its error>', or why its timing was not kept."""
    options = timing.options.get("precision") or timing.options.get("run_mode") or ""
    if timing.error is not None:
        return f"{timing.backend} {options}: {timing.error}"
    if timing.gate is not None and not timing.gate["passed"]:
        return f"{timing.backend} {options}: its accuracy gate failed"
    return f"{timing.backend} {options}: agreed with FP32 on {timing.agreement:.1%} of inputs"
