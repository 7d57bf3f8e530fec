from .pipeline import DocPreprocessor, DocPreprocessorSettings, rotate_image
from .result import DocPreprocessorResult

__all__ = ["DocPreprocessor", "DocPreprocessorResult", "DocPreprocessorSettings", "rotate_image"]
