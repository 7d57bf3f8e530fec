from .pipeline import OCR
from .result import OCRResult

PaddleOCR = OCR  # PaddleOCR 3.x's name for the same pipeline: `from hpi import PaddleOCR`

__all__ = ["OCR", "OCRResult", "PaddleOCR"]
