"""The converter's earlier import path (`from hpi.converters import convert_to_onnx`), kept for existing code;
it lives in hpi.runtime.converters."""
from .runtime.converters import DEFAULT_OPSET, convert_to_onnx, record_path

__all__ = ["DEFAULT_OPSET", "convert_to_onnx", "record_path"]
