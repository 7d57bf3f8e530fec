"""Reduced precision behind a measured gate: INT8 models made from calibration data, kept only when they hold
accuracy on validation data (see search.py), written atomically beside the FP32 model with their record.

The runtime side knows tensors only; a task supplies the `Workload` (its inputs, preprocessed, and its judge).
"""
from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Callable, Optional

from ..._env import cpu_model, library_versions
from ..._fs import file_lock, make_scratch_dir, sha256_files, umask_modes, atomic_write
from ..._signals import sigterm_unwinds
from ..device import cpu_capabilities, cpu_quota
from ...errors import ConfigError, ModelDirError, QuantizationError
from ..backends import BACKENDS
from ..model_dir import ModelDir
from .record import QUANTIZER_VERSION, gated_model_path, int8_path, read_record, record_path
from .search import Gate, search
from .workload import Metrics, Workload

__all__ = ["Metrics", "Workload", "Gate", "quantize_model", "gated_model_path", "read_record", "QUANTIZERS"]

logger = logging.getLogger(__name__)

# The backends with a quantizer of their own (`quantizer` on the class); onnxruntime's QDQ model also serves TensorRT
QUANTIZERS = tuple(name for name, backend in BACKENDS.items() if backend.quantizer)


def quantizer_class(backend: str):
    """The quantizer class `backend` names ("module:Class"), imported now; a ConfigError for one without."""
    backend_class = BACKENDS.get(backend)
    if backend_class is None or not backend_class.quantizer:
        raise ConfigError(f"the INT8 backend must be one of {list(QUANTIZERS)}, got {backend!r}")
    module, name = backend_class.quantizer.split(":")
    return getattr(importlib.import_module(module), name)


def _quantizer(backend: str, fp32_path: Path, threads: int, settings: dict):
    return quantizer_class(backend)(fp32_path, threads, **settings)


def quantizer_versions() -> dict:
    """The versions of every quantizer's libraries (part of each INT8 model's key: a new library redoes it)."""
    return library_versions(dict.fromkeys(dist for name in QUANTIZERS for dist in quantizer_class(name).distributions))


def quantize_model(model_dir: ModelDir, workload: Workload, backend: str = "openvino", max_drop: float = 0.5,
                   force: bool = False, threads: Optional[int] = None, settings: Optional[dict] = None,
                   progress: Callable[[str], None] = lambda message: None) -> dict:
    """Make (or reuse) the gated INT8 model of `model_dir` for `backend`; return its record. `settings`: the
    quantizer's own (for OpenVINO: preset, bias_correction, ranges, smooth_quant).

    QuantizationError, and nothing written, when no model holds the gate."""
    if model_dir.onnx is None:
        raise ModelDirError(f"{str(model_dir.path)!r} has no inference.onnx to quantize: convert it first "
                            f"(`hpi convert --model_dir {model_dir.path}`)")
    if not 0 <= max_drop <= 100:
        raise ConfigError(f"max_drop must be between 0 and 100 points, got {max_drop}")
    threads = threads or cpu_quota()
    versions = quantizer_versions()
    fp32_hash = sha256_files(model_dir.onnx)
    target = int8_path(model_dir.path, backend)
    quantizer = _quantizer(backend, model_dir.onnx, threads, dict(settings or {}))
    key = hashlib.sha256(json.dumps([QUANTIZER_VERSION, fp32_hash, workload.fingerprint, quantizer.settings,
                                     versions, max_drop]).encode()).hexdigest()
    if not force and (record := _current(target, key)):
        return {**record, "reused": True}
    with sigterm_unwinds(), file_lock(model_dir.path / f".{target.name}.lock"):
        if not force and (record := _current(target, key)):  # another process just made it
            return {**record, "reused": True}
        result = search(quantizer, workload, max_drop, progress)
        record = {
            "key": key, "quantizer_version": QUANTIZER_VERSION, "backend": backend, "method": quantizer.method,
            "settings": quantizer.settings, "fp32_model": model_dir.onnx.name, "fp32_sha256": fp32_hash,
            "data": {**workload.description, "fingerprint": workload.fingerprint, "labelled": workload.labelled},
            "gate": {"rule": result.gate.describe(), "max_drop": max_drop, "passed": result.chosen is not None},
            "fp32": result.fp32.to_dict(), "layers": result.layers,
            "attempts": [a.to_dict() for a in result.attempts],
            "float_layers": result.chosen.float_layers if result.chosen else None,
            "int8": result.chosen.metrics.to_dict() if result.chosen else None,
            "sensitivity": [[name, round(score, 5)] for name, score in result.ranking[:20]],
            "timing": result.timing, "seconds": result.seconds,
            "machine": {"cpu": cpu_model(), "cpus": cpu_quota(), "machine": platform.machine(), "threads": threads,
                        "capabilities": cpu_capabilities().to_dict()},
            "versions": versions, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if result.chosen is None:
            raise QuantizationError(_refusal(model_dir, result))
        _write(quantizer, result.model, target, record)
    return {**record, "reused": False}


def _current(target: Path, key: str) -> Optional[dict]:
    record = read_record(target)
    if record and record.get("key") == key and record.get("gate", {}).get("passed") and target.is_file():
        return record
    return None


def _write(quantizer, model, target: Path, record: dict) -> None:
    """Save into a scratch folder, then move into place: the record goes last and names the files' hashes, so a
    reader never takes a half-written model or an old record for a new model."""
    scratch = make_scratch_dir(target.parent, f".hpi-quantize-{target.name}-")
    try:
        files = quantizer.save(model, scratch / target.name)
        record["files"] = {path.name: sha256_files(path) for path in files}
        umask_modes(scratch)
        try:
            os.unlink(record_path(target))  # the old record first: no moment where it describes the new files
        except FileNotFoundError:
            pass
        for path in files:
            os.replace(path, target.parent / path.name)
        atomic_write(record_path(target), json.dumps(record, indent=2, ensure_ascii=False).encode("utf-8"))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _refusal(model_dir: ModelDir, result) -> str:
    lines = [f"no INT8 model of {str(model_dir.path)!r} holds the gate ({result.gate.describe()}); nothing written.",
             f"  FP32: {json.dumps(result.fp32.to_dict())}"]
    for attempt in result.attempts:
        lines.append(f"  INT8, {len(attempt.float_layers)} of {result.layers} layers in float: "
                     f"{json.dumps(attempt.metrics.to_dict())}")
    return "\n".join(lines)
