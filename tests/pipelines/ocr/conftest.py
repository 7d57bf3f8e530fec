"""PaddleX goldens of the OCR pipeline tests (skipped with the reason when missing); the model dirs and the shared
pipeline (ocr_dirs, hpip_ocr) are in tests/conftest.py."""
import pytest
from helpers import golden_or_skip

# OCR.yaml with text-line orientation at batch size 1 (each crop its own class, see the pipeline's docstring)
ORIENTATION_BS1 = "paddlex_OCR_PP-OCRv4_textline_bs1.json"
# ... and recognition at batch size 1 too: each line unpadded, what high-performance mode gives by design
RECOGNITION_BS1 = "paddlex_OCR_PP-OCRv4_rec_bs1.json"
DEFAULT = "paddlex_OCR_PP-OCRv4.json"  # PaddleX's OCR.yaml batch sizes (orientation and recognition 6)


@pytest.fixture(scope="session")
def ocr_golden():
    """golden(name): a PaddleX 3.7.2 OCR pipeline golden made by scripts/make_ocr_golden.py, or a skip."""
    loaded = {}

    def load(name: str) -> dict:
        if name not in loaded:
            loaded[name] = golden_or_skip(name)
        return loaded[name]
    return load
