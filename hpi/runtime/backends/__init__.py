"""Inference backends behind one interface, and the registry the selector reads.

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


def get_backend_class(name: str) -> Type[InferenceBackend]:
    from ...errors import ConfigError

    try:
        return BACKENDS[name]
    except KeyError:
        raise ConfigError(f"unknown backend {name!r}; available: {', '.join(sorted(BACKENDS))}") from None


__all__ = ["BACKENDS", "InferenceBackend", "get_backend_class"]
