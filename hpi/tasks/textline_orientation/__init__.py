from .predictor import TextLineOrientationClassification
from .result import TopkResult

__all__ = ["TextLineOrientationClassification", "TopkResult"]
