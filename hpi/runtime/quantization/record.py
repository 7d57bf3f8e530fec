"""Where a reduced-precision model lives beside its FP32 model, and the record that says it passed its gate.

`<model_dir>/inference.int8.xml` (+ `.bin`, OpenVINO IR) and `<model_dir>/inference.int8.onnx` (QDQ ONNX, for
ONNX Runtime and TensorRT), each with `<file>.hpi.json`: the FP32 model's hash, the calibration and validation
data's fingerprint, the method, what stayed in float, FP32 and INT8 metrics and the measured speed-up. A model is
only ever written after it passed its gate, and a backend only runs one whose record says so for the FP32 model
present now (`gated_model_path`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from ...errors import BackendError

RECORD_SUFFIX = ".hpi.json"
QUANTIZER_VERSION = 1  # bump when the method changes: cached INT8 models are redone

# backend -> (file of the INT8 model, its format)
INT8_FILES = {"openvino": "inference.int8.xml", "onnxruntime": "inference.int8.onnx", "tensorrt": "inference.int8.onnx"}
# which quantizer makes the file each backend runs
QUANTIZER_OF = {"openvino": "openvino", "onnxruntime": "onnxruntime", "tensorrt": "onnxruntime"}


def int8_path(model_dir: Path, backend: str) -> Path:
    if backend not in INT8_FILES:
        raise BackendError(f"backend {backend!r} has no INT8 model format; INT8 runs on {', '.join(INT8_FILES)}")
    return Path(model_dir) / INT8_FILES[backend]


def record_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + RECORD_SUFFIX)


def read_record(model_path: Path) -> Optional[dict]:
    try:
        return json.loads(record_path(model_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def gated_model_path(model_dir, fp32_path: Optional[Path], backend: str) -> Path:
    """The INT8 model `backend` may run: present, gate passed, made from the FP32 model there now.
    Otherwise a BackendError that says what to run."""
    from ..._fs import sha256_files

    path = int8_path(model_dir.path, backend)
    record = read_record(path)
    hint = (f"make one with `hpi quantize --model_dir {model_dir.path} --calib_data DIR "
            f"--backend {QUANTIZER_OF[backend]}`")
    if record is None or not path.is_file():
        raise BackendError(f"precision 'int8' needs a gated INT8 model, and {str(model_dir.path)!r} has none: {hint}")
    if not record.get("gate", {}).get("passed"):
        raise BackendError(f"{str(path)!r} did not pass its accuracy gate and is not run: {hint}")
    if fp32_path is None or record.get("fp32_sha256") != sha256_files(fp32_path):
        raise BackendError(f"{str(path)!r} was made from another FP32 model than {str(fp32_path)!r}: {hint}")
    if backend in ("openvino", "onnxruntime") and (record.get("settings") or {}).get("overflow_fix") != "enable":
        from ..device import cpu_capabilities

        if not cpu_capabilities().int8_dot:  # see quantization/openvino.py: resolve_overflow_fix
            raise BackendError(f"{str(path)!r} was made for a CPU with 8-bit dot-product instructions (VNNI); this "
                               "CPU has none, so its INT8 products would saturate and lose accuracy the gate never "
                               f"measured: {hint} on this machine")
    for name, digest in (record.get("files") or {}).items():
        if not (path.parent / name).is_file() or sha256_files(path.parent / name) != digest:
            raise BackendError(f"{str(path.parent / name)!r} is missing or differs from what its gate measured: {hint}")
    return path
