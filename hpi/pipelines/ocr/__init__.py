from .pipeline import OCR
from .result import OCRResult

__all__ = ["OCR", "OCRResult"]
