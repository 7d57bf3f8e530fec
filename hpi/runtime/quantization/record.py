"""Where a reduced-precision model lives beside its FP32 model, and the record that says it passed its gate.

Each backend that runs INT8 names its file (`int8_artifact` on its class, hpi/runtime/backends): today
`<model_dir>/inference.int8.xml` (+ `.bin`, OpenVINO IR) and `<model_dir>/inference.int8.onnx` (QDQ ONNX, for
ONNX Runtime and TensorRT), each with `<file>.hpi.json`: the FP32 model's hash, the calibration and validation
data's fingerprint, the method, what stayed in float, FP32 and INT8 metrics and the measured speed-up. A model is
only ever written after it passed its gate, and a backend only runs one whose record says so for the FP32 model
present now (`gated_model_path`, hpi/runtime/backends/int8.py). Here the same, by backend name.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ...errors import BackendError
from ..backends import BACKENDS
from ..backends.int8 import RECORD_SUFFIX, gated_model_path as _gated_model_path, read_record, record_path

__all__ = ["RECORD_SUFFIX", "QUANTIZER_VERSION", "int8_path", "int8_files", "gated_model_path", "read_record",
           "record_path"]

QUANTIZER_VERSION = 1  # bump when the method changes: cached INT8 models are redone


def _runs_int8(backend: str):
    backend_class = BACKENDS.get(backend)
    if backend_class is None or backend_class.int8_artifact is None:
        runs = [name for name, known in BACKENDS.items() if known.int8_artifact is not None]
        raise BackendError(f"backend {backend!r} has no INT8 model format; INT8 runs on {', '.join(runs)}")
    return backend_class


def int8_path(model_dir: Path, backend: str) -> Path:
    return Path(model_dir) / _runs_int8(backend).int8_artifact.file


def int8_files() -> "set[str]":
    """Every INT8 model file name a registered backend runs."""
    return {known.int8_artifact.file for known in BACKENDS.values() if known.int8_artifact is not None}


def gated_model_path(model_dir, fp32_path: Optional[Path], backend: str) -> Path:
    """The INT8 model `backend` may run: present, gate passed, made from the FP32 model there now.
    Otherwise a BackendError that says what to run."""
    return _gated_model_path(model_dir, fp32_path, _runs_int8(backend))
