"""hpi: fast inference for PaddleOCR / PaddleX text recognition models, with PaddleX's API.

`import hpi` imports no inference framework; each backend imports its own when a model is loaded.
"""
from .errors import HPIError
from .pipelines import OCR, OCRResult, PaddleOCR
from .tasks.text_detection import TextDetection, TextDetResult
from .tasks.text_recognition import TextRecognition, TextRecResult
from .tasks.textline_orientation import TextLineOrientationClassification, TopkResult

__version__ = "0.1.0"
__all__ = ["HPIError", "OCR", "OCRResult", "PaddleOCR", "TextDetection", "TextDetResult",
           "TextLineOrientationClassification", "TextRecognition", "TextRecResult", "TopkResult", "__version__"]
