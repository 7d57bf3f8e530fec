from .predictor import TextDetection
from .result import TextDetResult

__all__ = ["TextDetection", "TextDetResult"]
