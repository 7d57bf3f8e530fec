from .predictor import TextImageUnwarping
from .result import DocTrResult

__all__ = ["DocTrResult", "TextImageUnwarping"]
