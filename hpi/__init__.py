"""hpi: fast inference for PaddleOCR / PaddleX text recognition models, with PaddleX's API.

`import hpi` imports no inference framework; each backend imports its own when a model is loaded. The public
names below are imported on first use (PEP 562), so that `import hpi.cli` (`hpi --help`) or `hpi.errors` pulls in
neither NumPy nor OpenCV.
"""
from __future__ import annotations

import importlib

from .errors import HPIError

__version__ = "0.1.0"
__all__ = ["HPIError", "OCR", "OCRResult", "PaddleOCR", "TextDetection", "TextDetResult",
           "TextLineOrientationClassification", "TextRecognition", "TextRecResult", "TopkResult", "__version__"]
# public name -> the module that defines it
_LAZY = {"OCR": ".pipelines", "OCRResult": ".pipelines", "PaddleOCR": ".pipelines",
         "TextDetection": ".tasks.text_detection", "TextDetResult": ".tasks.text_detection",
         "TextRecognition": ".tasks.text_recognition", "TextRecResult": ".tasks.text_recognition",
         "TextLineOrientationClassification": ".tasks.textline_orientation",
         "TopkResult": ".tasks.textline_orientation"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'hpi' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value  # looked up once
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
