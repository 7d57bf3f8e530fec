"""Model converters: Paddle inference models to verified ONNX (each step in its own small module).

`convert_to_onnx(model_dir)` is the entry point; paddle, paddle2onnx and onnx are imported only inside the
worker process it starts.
"""
from .paddle_to_onnx import DEFAULT_OPSET, convert_to_onnx, record_path

__all__ = ["DEFAULT_OPSET", "convert_to_onnx", "record_path"]
