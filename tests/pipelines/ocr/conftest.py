"""Models, images and PaddleX goldens of the OCR pipeline tests (skipped with the reason when missing)."""
import json
from pathlib import Path

import pytest
from helpers import DATA

OCR_IMAGES = DATA / "ocr_images"
GOLDEN = DATA / "golden"
# OCR.yaml with text-line orientation at batch size 1 (each crop its own class, see the pipeline's docstring)
ORIENTATION_BS1 = "paddlex_OCR_PP-OCRv4_textline_bs1.json"
# ... and recognition at batch size 1 too: each line unpadded, what high-performance mode gives by design
RECOGNITION_BS1 = "paddlex_OCR_PP-OCRv4_rec_bs1.json"
DEFAULT = "paddlex_OCR_PP-OCRv4.json"  # PaddleX's OCR.yaml batch sizes (orientation and recognition 6)


def _model(models_root: Path, name: str) -> Path:
    path = models_root / name
    if not (path / "inference.yml").is_file():
        pytest.skip(f"test model {name} is missing in {models_root}: run `make models` (scripts/fetch_test_models.py)")
    return path


@pytest.fixture(scope="session")
def ocr_dirs(models_root):
    """PP-OCRv4 mobile det + rec and the mobile v2 orientation classifier: Paddle format and ONNX."""
    return {"paddle": {"text_detection_model_dir": _model(models_root, "PP-OCRv4_mobile_det"),
                       "text_recognition_model_dir": _model(models_root, "PP-OCRv4_mobile_rec"),
                       "textline_orientation_model_dir": _model(models_root, "ppocr_mobile_v2_textline_ori")},
            "onnx": {"text_detection_model_dir": _model(models_root, "PP-OCRv4_mobile_det_onnx"),
                     "text_recognition_model_dir": _model(models_root, "PP-OCRv4_mobile_rec_onnx"),
                     "textline_orientation_model_dir": _model(models_root, "ppocr_mobile_v2_textline_ori_onnx")}}


@pytest.fixture(scope="session")
def ocr_images() -> Path:
    if not OCR_IMAGES.is_dir():
        pytest.skip(f"{OCR_IMAGES} is missing")
    return OCR_IMAGES


@pytest.fixture(scope="session")
def ocr_golden():
    """golden(name): a PaddleX 3.7.2 OCR pipeline golden made by scripts/make_ocr_golden.py, or a skip."""
    loaded = {}

    def load(name: str) -> dict:
        if name not in loaded:
            path = GOLDEN / name
            if not path.is_file():
                pytest.skip(f"{path} is missing: make it with scripts/make_ocr_golden.py in the PaddleX venv")
            loaded[name] = json.loads(path.read_text("utf-8"))
        return loaded[name]
    return load


@pytest.fixture(scope="session")
def hpip_ocr(ocr_dirs):
    """One high-performance pipeline (ONNX Runtime) shared by the tests that only need one."""
    from capabilities import HAS_ONNXRUNTIME

    from hpi import OCR

    if not HAS_ONNXRUNTIME:
        pytest.skip("needs onnxruntime")
    with OCR(**ocr_dirs["onnx"], device="cpu", use_hpip=True, hpi_config={"backend": "onnxruntime"}) as pipeline:
        yield pipeline
