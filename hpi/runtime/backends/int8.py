"""The INT8 model a backend runs: which file it is (a fact of the backend class, `int8_artifact`), the record
beside it, and the one check that lets a backend run it (`gated_model_path`).

`hpi quantize` (hpi.runtime.quantization) writes `<model_dir>/<file>` and `<file>.hpi.json`: the FP32 model's hash,
the data's fingerprint, the method and settings, FP32 and INT8 metrics, the hashes of the files written. A backend
runs one only when its record says it passed its gate for the FP32 model present now. This module sits with the
backends, below the quantizers: the quantizers import it, never the other way round.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..._fs import sha256_files
from ...errors import BackendError

RECORD_SUFFIX = ".hpi.json"


@dataclass(frozen=True)
class Int8Artifact:
    """The INT8 model file a backend runs with precision 'int8', and which quantizer makes it."""

    file: str  # beside the FP32 model: "inference.int8.onnx"
    kind: str  # what it is, for messages and docs: "QDQ ONNX", "OpenVINO IR (.xml + .bin)"
    made_by: str  # the registered backend whose quantizer writes it (`hpi quantize --backend NAME`)


def record_path(model_path: Path) -> Path:
    return model_path.with_name(model_path.name + RECORD_SUFFIX)


def read_record(model_path: Path) -> Optional[dict]:
    try:
        return json.loads(record_path(model_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def gated_model_path(model_dir, fp32_path: Optional[Path], backend_class) -> Path:
    """The INT8 model `backend_class` may run: present, gate passed, made from the FP32 model there now.
    Otherwise a BackendError that says what to run. `backend_class` has an int8_artifact (its callers check)."""
    path = Path(model_dir.path) / backend_class.int8_artifact.file
    record = read_record(path)
    hint = (f"make one with `hpi quantize --model_dir {model_dir.path} --calib_data DIR "
            f"--backend {backend_class.int8_artifact.made_by}`")
    if record is None or not path.is_file():
        raise BackendError(f"precision 'int8' needs a gated INT8 model, and {str(model_dir.path)!r} has none: {hint}")
    if not record.get("gate", {}).get("passed"):
        raise BackendError(f"{str(path)!r} did not pass its accuracy gate and is not run: {hint}")
    if fp32_path is None or record.get("fp32_sha256") != sha256_files(fp32_path):
        raise BackendError(f"{str(path)!r} was made from another FP32 model than {str(fp32_path)!r}: {hint}")
    # A backend that runs on the CPU may run the model on the CPU's int8 kernels
    if "cpu" in backend_class.device_kinds and (record.get("settings") or {}).get("overflow_fix") != "enable":
        from ..device import cpu_capabilities

        if not cpu_capabilities().int8_dot:  # see quantization/openvino.py: resolve_overflow_fix
            raise BackendError(f"{str(path)!r} was made for a CPU with 8-bit dot-product instructions (VNNI); this "
                               "CPU has none, so its INT8 products would saturate and lose accuracy the gate never "
                               f"measured: {hint} on this machine")
    for name, digest in (record.get("files") or {}).items():
        if not (path.parent / name).is_file() or sha256_files(path.parent / name) != digest:
            raise BackendError(f"{str(path.parent / name)!r} is missing or differs from what its gate measured: {hint}")
    return path
