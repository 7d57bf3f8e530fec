"""Models, images and PaddleX goldens of the OCR pipeline tests (skipped with the reason when missing)."""
from pathlib import Path

import pytest
from helpers import golden_or_skip, model_dir_or_skip

# OCR.yaml with text-line orientation at batch size 1 (each crop its own class, see the pipeline's docstring)
ORIENTATION_BS1 = "paddlex_OCR_PP-OCRv4_textline_bs1.json"
# ... and recognition at batch size 1 too: each line unpadded, what high-performance mode gives by design
RECOGNITION_BS1 = "paddlex_OCR_PP-OCRv4_rec_bs1.json"
DEFAULT = "paddlex_OCR_PP-OCRv4.json"  # PaddleX's OCR.yaml batch sizes (orientation and recognition 6)



@pytest.fixture(scope="session")
def ocr_dirs(models_root):
    """PP-OCRv4 mobile det + rec and the mobile v2 orientation classifier: Paddle format and ONNX."""
    return {"paddle": {"text_detection_model_dir": model_dir_or_skip(models_root, "PP-OCRv4_mobile_det"),
                       "text_recognition_model_dir": model_dir_or_skip(models_root, "PP-OCRv4_mobile_rec"),
                       "textline_orientation_model_dir": model_dir_or_skip(models_root, "ppocr_mobile_v2_textline_ori")},
            "onnx": {"text_detection_model_dir": model_dir_or_skip(models_root, "PP-OCRv4_mobile_det_onnx"),
                     "text_recognition_model_dir": model_dir_or_skip(models_root, "PP-OCRv4_mobile_rec_onnx"),
                     "textline_orientation_model_dir": model_dir_or_skip(models_root, "ppocr_mobile_v2_textline_ori_onnx")}}



@pytest.fixture(scope="session")
def ocr_golden():
    """golden(name): a PaddleX 3.7.2 OCR pipeline golden made by scripts/make_ocr_golden.py, or a skip."""
    loaded = {}

    def load(name: str) -> dict:
        if name not in loaded:
            loaded[name] = golden_or_skip(name)
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
