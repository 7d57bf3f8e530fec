from .predictor import TextRecognition
from .result import TextRecResult

__all__ = ["TextRecognition", "TextRecResult"]
