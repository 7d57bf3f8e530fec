"""Inference backends behind one interface, and the registry that the selector, tuning, quantization, the bench and
the import hints read: each backend's facts (pip extra, precisions, INT8 file and quantizer, versions, devices) are
attributes of its class (facts.py lists them), so adding a backend is its module plus one line here.

Importing this package imports no framework: each backend imports its own when it loads a model.
"""
from typing import Dict, Type

from .base import InferenceBackend
from .onnxruntime import ONNXRuntimeBackend
from .openvino import OpenVINOBackend
from .paddle import PaddleBackend
from .tensorrt import TensorRTBackend

BACKENDS: Dict[str, Type[InferenceBackend]] = {
    backend.name: backend for backend in (OpenVINOBackend, ONNXRuntimeBackend, PaddleBackend, TensorRTBackend)
}
# What normal mode runs (use_hpip=False): Paddle Inference, as PaddleX
NORMAL_MODE_BACKEND = PaddleBackend.name


def get_backend_class(name: str) -> Type[InferenceBackend]:
    from ...errors import ConfigError

    try:
        return BACKENDS[name]
    except KeyError:
        raise ConfigError(f"unknown backend {name!r}; available: {', '.join(sorted(BACKENDS))}") from None


__all__ = ["BACKENDS", "NORMAL_MODE_BACKEND", "InferenceBackend", "get_backend_class"]
