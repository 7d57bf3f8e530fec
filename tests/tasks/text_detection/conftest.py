"""Model dirs and data of the text detection tests (skipped with the reason when something is missing)."""
import json
from pathlib import Path

import pytest
from helpers import golden_or_skip, model_dir_or_skip


@pytest.fixture(scope="session")
def det_paddle_dir(models_root) -> Path:
    """PP-OCRv4_mobile_det in Paddle format (inference.pdmodel), PaddleX layout."""
    return model_dir_or_skip(models_root, "PP-OCRv4_mobile_det")


@pytest.fixture(scope="session")
def det_onnx_dir(models_root) -> Path:
    """The same model converted to ONNX, with the same inference.yml."""
    return model_dir_or_skip(models_root, "PP-OCRv4_mobile_det_onnx")


@pytest.fixture(scope="session")
def det_v5_onnx_dir(models_root) -> Path:
    return model_dir_or_skip(models_root, "PP-OCRv5_mobile_det_onnx")


@pytest.fixture(scope="session")
def det_v6_small_dir(models_root) -> Path:
    return model_dir_or_skip(models_root, "PP-OCRv6_small_det")


@pytest.fixture(scope="session")
def det_v6_tiny_dir(models_root) -> Path:
    return model_dir_or_skip(models_root, "PP-OCRv6_tiny_det")


@pytest.fixture(scope="session")
def det_golden():
    """PaddleX 3.7.2's text detection module on tests/data/ocr_images (scripts/make_ocr_golden.py)."""
    return golden_or_skip("paddlex_det_PP-OCRv4_mobile_det.json")


@pytest.fixture(scope="session")
def reference_geometry():
    """pyclipper and OpenCV 4.10 outputs (scripts/make_reference_geometry.py, run in the PaddleX venv)."""
    return json.loads((Path(__file__).parent / "data" / "reference_geometry.json").read_text("utf-8"))
