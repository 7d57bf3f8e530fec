"""Model dirs and data of the text detection tests (skipped with the reason when something is missing)."""
import json
from pathlib import Path

import pytest
from helpers import DATA

OCR_IMAGES = DATA / "ocr_images"
DET_GOLDEN = DATA / "golden" / "paddlex_det_PP-OCRv4_mobile_det.json"


def _model(models_root: Path, name: str) -> Path:
    path = models_root / name
    if not (path / "inference.yml").is_file():
        pytest.skip(f"test model {name} is missing in {models_root}: run `make models` (scripts/fetch_test_models.py)")
    return path


@pytest.fixture(scope="session")
def det_paddle_dir(models_root) -> Path:
    """PP-OCRv4_mobile_det in Paddle format (inference.pdmodel), PaddleX layout."""
    return _model(models_root, "PP-OCRv4_mobile_det")


@pytest.fixture(scope="session")
def det_onnx_dir(models_root) -> Path:
    """The same model converted to ONNX, with the same inference.yml."""
    return _model(models_root, "PP-OCRv4_mobile_det_onnx")


@pytest.fixture(scope="session")
def det_v5_onnx_dir(models_root) -> Path:
    return _model(models_root, "PP-OCRv5_mobile_det_onnx")


@pytest.fixture(scope="session")
def det_v6_small_dir(models_root) -> Path:
    return _model(models_root, "PP-OCRv6_small_det")


@pytest.fixture(scope="session")
def det_v6_tiny_dir(models_root) -> Path:
    return _model(models_root, "PP-OCRv6_tiny_det")


@pytest.fixture(scope="session")
def ocr_images() -> Path:
    if not OCR_IMAGES.is_dir():
        pytest.skip(f"{OCR_IMAGES} is missing")
    return OCR_IMAGES


@pytest.fixture(scope="session")
def det_golden():
    """PaddleX 3.7.2's text detection module on tests/data/ocr_images (scripts/make_ocr_golden.py)."""
    if not DET_GOLDEN.is_file():
        pytest.skip(f"{DET_GOLDEN} is missing: make it with scripts/make_ocr_golden.py in the PaddleX venv")
    return json.loads(DET_GOLDEN.read_text("utf-8"))


@pytest.fixture(scope="session")
def reference_geometry():
    """pyclipper and OpenCV 4.10 outputs (make_reference_geometry.py, run in the PaddleX venv)."""
    return json.loads((Path(__file__).parent / "data" / "reference_geometry.json").read_text("utf-8"))
