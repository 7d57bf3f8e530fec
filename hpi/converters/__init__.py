"""Model converters (Paddle inference model -> ONNX -> optimized artifacts), each step cacheable on its own.

Not implemented yet: high-performance mode currently needs `inference.onnx` in the model dir.
"""
