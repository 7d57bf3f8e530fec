"""The OCR pipeline's behaviour (high-performance mode, real models on real images): options, results, files,
errors. Parity with PaddleX is in test_parity.py."""
import json
import re
import threading

import cv2
import numpy as np
import pytest
from capabilities import HAS_PDFIUM

from hpi import OCR, OCRResult
from hpi.errors import ConfigError, InputError
from hpi.pipelines.ocr.pipeline import Plan

FEW = ["ppocr_00009282.jpg", "rects_000005.jpg", "ppocr_en_img_195.jpg"]


@pytest.fixture(scope="module")
def few(ocr_images):
    return [str(ocr_images / name) for name in FEW]


def plain(result):
    return {k: v for k, v in result.json["res"].items()}


def test_batching_across_images_changes_nothing(hpip_ocr, few):
    """All crops of all images are recognized together, lines of equal width batched: each image's result is the
    one it gets alone."""
    together = hpip_ocr.predict(few)
    assert [r["input_path"] for r in together] == few
    assert [plain(r) for r in together] == [plain(hpip_ocr.predict(path)[0]) for path in few]
    assert sum(len(r["rec_texts"]) for r in together) == 13 + 3 + 5


def test_result_keys_and_types(hpip_ocr, few):
    result = hpip_ocr.predict(few[0])[0]
    assert isinstance(result, OCRResult)
    assert list(result.json["res"]) == ["input_path", "page_index", "model_settings", "dt_polys", "text_det_params",
                                        "text_type", "textline_orientation_angles", "text_rec_score_thresh",
                                        "return_word_box", "rec_texts", "rec_scores", "rec_polys", "rec_boxes"]
    assert result["model_settings"] == {"use_doc_preprocessor": False, "use_textline_orientation": True}
    assert result["text_det_params"] == {"limit_side_len": 64, "limit_type": "min", "thresh": 0.3,
                                         "max_side_limit": 4000, "box_thresh": 0.6, "unclip_ratio": 1.5}
    assert result["text_type"] == "general" and result["text_rec_score_thresh"] == 0.0
    boxes = result["rec_boxes"]
    assert boxes.shape == (13, 4) and boxes.tolist() == [
        [int(p[:, 0].min()), int(p[:, 1].min()), int(p[:, 0].max()), int(p[:, 1].max())] for p in result["rec_polys"]]
    assert "洗涤说明" in result["rec_texts"]


def test_per_call_options(hpip_ocr, few):
    base = hpip_ocr.predict(few[0])[0]
    off = hpip_ocr.predict(few[0], use_textline_orientation=False)[0]
    assert off["textline_orientation_angles"] == [-1] * 13
    assert off["model_settings"]["use_textline_orientation"] is False
    strict = hpip_ocr.predict(few[0], text_rec_score_thresh=0.98)[0]
    assert strict.json["res"]["dt_polys"] == base.json["res"]["dt_polys"] and 0 < len(strict["rec_texts"]) < len(base["rec_texts"])
    assert min(strict["rec_scores"]) >= 0.98 and strict["text_rec_score_thresh"] == 0.98
    loose = hpip_ocr.predict(few[0], text_det_box_thresh=0.3, text_det_limit_type="max",
                             text_det_limit_side_len=960)[0]
    assert loose["text_det_params"]["box_thresh"] == 0.3 and loose["text_det_params"]["limit_type"] == "max"
    assert hpip_ocr.predict(few[0])[0]["text_det_params"]["box_thresh"] == 0.6  # overrides last one call


def test_image_without_text(hpip_ocr):
    (result,) = hpip_ocr.predict(np.full((120, 200, 3), 255, np.uint8))
    assert "textline_orientation_angles" not in result  # as PaddleX: only images with boxes get the key
    assert result.json["res"]["dt_polys"] == [] and result.json["res"]["rec_boxes"] == []
    assert result["rec_texts"] == [] and result["input_path"] is None


def test_files_and_drawing(hpip_ocr, few, tmp_path):
    (result,) = hpip_ocr.predict(few[0])
    image = result.img["ocr_res_img"]
    height, width = result["input_img"].shape[:2]
    assert image.size == (2 * width, height)
    assert image.getpixel((width + width // 2, 2)) == (255, 255, 255)  # the right panel is a white page
    saved = result.save_to_img(tmp_path)
    assert saved.name == "ppocr_00009282_ocr_res_img.jpg" and saved.stat().st_size > 0
    data = json.loads(result.save_to_json(tmp_path).read_text("utf-8"))
    assert data["rec_texts"] == result["rec_texts"] and (tmp_path / "ppocr_00009282_res.json").is_file()
    result.save_all(tmp_path / "all")
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == ["ppocr_00009282_ocr_res_img.jpg",
                                                                    "ppocr_00009282_res.json"]


@pytest.mark.skipif(not HAS_PDFIUM, reason="PDF input needs pypdfium2")
def test_pdf_pages(hpip_ocr, few, tmp_path):
    from PIL import Image

    pdf = tmp_path / "doc.pdf"
    Image.open(few[0]).convert("RGB").save(pdf, save_all=True, append_images=[Image.open(few[1]).convert("RGB")])
    results = hpip_ocr.predict(str(pdf))
    assert [r["page_index"] for r in results] == [0, 1] and len(results[0]["rec_texts"]) > 5
    assert results[1].save_to_json(tmp_path).name == "doc_1_res.json"


def test_bad_inputs_in_place(hpip_ocr, few, tmp_path):
    missing = str(tmp_path / "missing.jpg")
    stream = hpip_ocr.predict_iter([few[1], missing, few[2]])
    assert next(stream)["input_path"] == few[1]
    with pytest.raises(InputError, match="missing.jpg"):
        next(stream)
    bad = []
    results = hpip_ocr.predict([few[1], missing, few[2]], on_bad_input=bad.append)
    assert [r["input_path"] for r in results] == [few[1], few[2]] and bad[0].source == missing


def test_unsupported_and_bad_options(hpip_ocr, ocr_dirs, few):
    with pytest.raises(ConfigError, match="not supported"):
        OCR(**ocr_dirs["onnx"], use_hpip=True, return_word_box=True)
    with pytest.raises(ConfigError, match="not supported"):
        hpip_ocr.predict(few[1], return_word_box=True)
    for options in ({"use_doc_unwarping": True}, {"use_doc_orientation_classify": True}):  # built without one
        with pytest.raises(ConfigError, match="this pipeline has no document preprocessor"):
            hpip_ocr.predict(few[1], **options)
    with pytest.raises(ConfigError, match="use_doc_unwarping must be True, False or None"):
        OCR(**ocr_dirs["onnx"], use_hpip=True, use_doc_unwarping="yes")
    assert len(hpip_ocr.predict(few[1], use_doc_unwarping=False, use_doc_orientation_classify=False)) == 1
    for options, message in (({"text_det_thresh": 2}, "text_det_thresh"), ({"text_det_limit_type": "mid"}, "limit"),
                             ({"text_rec_score_thresh": "high"}, "text_rec_score_thresh"), ({"foo": 1}, "foo")):
        with pytest.raises(ConfigError, match=message):
            hpip_ocr.predict(few[1], **options)
    with pytest.raises(ConfigError, match="lang='ka'"):  # routed as PaddleOCR 3.7 (test_paddleocr_compat.py)
        OCR(lang="ka")
    with pytest.raises(ConfigError, match="text_recognition_batch_size"):
        OCR(**ocr_dirs["onnx"], text_recognition_batch_size=0)


RANGES = {"text_det_thresh": "(0, 1)", "text_det_box_thresh": "(0, 1]", "text_det_unclip_ratio": "(0, 100]",
          "text_rec_score_thresh": "[0, 1]", "text_det_limit_side_len": "from 1 to 8192",
          "text_det_max_side_limit": "from 1 to 8192"}


@pytest.mark.parametrize("name", sorted(RANGES))
@pytest.mark.parametrize("value", [1e30, -1, float("nan"), float("inf"), -float("inf"), "0.5", True, 100000])
def test_numeric_options_out_of_range_are_config_errors_naming_them(hpip_ocr, ocr_dirs, few, name, value):
    """1e30 for text_det_unclip_ratio was a ZeroDivisionError in the box offset (1e15 ran out of memory)."""
    expected = rf"bad value {re.escape(repr(value))} for {name}: expected .*{re.escape(RANGES[name])}"
    with pytest.raises(ConfigError, match=expected):
        hpip_ocr.predict(few[0], **{name: value})
    with pytest.raises(ConfigError, match=expected):
        OCR(**ocr_dirs["onnx"], use_hpip=True, **{name: value})


def test_numeric_options_at_their_bounds_run(hpip_ocr, few):
    # the image's own size: "max" does not enlarge it ("min" to 8192 would take ~12 GB)
    (wide,) = hpip_ocr.predict(few[0], text_det_unclip_ratio=100, text_det_limit_type="max",
                               text_det_limit_side_len=8192, text_det_max_side_limit=8192, text_rec_score_thresh=0)
    params = wide["text_det_params"]
    assert (params["unclip_ratio"], params["limit_side_len"], params["max_side_limit"]) == (100, 8192, 8192)
    height, width = cv2.imread(few[0]).shape[:2]
    assert len(wide["dt_polys"]) == 13 and len(wide["rec_texts"]) >= 1  # every box grown to the image's edges
    assert all(np.min(poly) == 0 and np.max(poly, axis=0).tolist() == [width, height]
               for poly in wide["dt_polys"])
    (strict,) = hpip_ocr.predict(few[0], text_det_thresh=1e-6, text_det_box_thresh=1, text_rec_score_thresh=1)
    assert strict["text_det_params"]["box_thresh"] == 1 and min(strict["rec_scores"], default=1) >= 1


def test_orientation_model_is_optional(ocr_dirs, few):
    dirs = {k: v for k, v in ocr_dirs["onnx"].items() if not k.startswith("textline")}
    with OCR(**dirs, device="cpu", use_hpip=True) as pipeline:  # PaddleOCR would download one; not offline here
        assert pipeline.textline_orientation_model is None
        (result,) = pipeline.predict(few[2])
        assert result["textline_orientation_angles"] == [-1] * 5
        with pytest.raises(ConfigError, match="no text-line orientation model"):
            pipeline.predict(few[2], use_textline_orientation=True)


def test_default_models_are_paddlex_ocr_yaml():
    """Nothing given: PaddleX 3.7.2's OCR.yaml models, orientation on (downloaded through the model sources)."""
    plan = Plan.of({}, {})
    assert plan.models == {"text_detection": {"model_name": "PP-OCRv6_medium_det", "model_dir": None},
                           "text_recognition": {"model_name": "PP-OCRv6_medium_rec", "model_dir": None},
                           "textline_orientation": {"model_name": "PP-LCNet_x1_0_textline_ori", "model_dir": None}}
    assert plan.defaults.use_textline_orientation and plan.rec_batch_size == plan.textline_batch_size == 6
    assert not Plan.of({"text_detection_model_dir": "d", "text_recognition_model_dir": "r"}, {}).defaults \
        .use_textline_orientation
    assert Plan.of({}, {"use_angle_cls": False, "rec_batch_num": 2}).rec_batch_size == 2  # PaddleOCR 2.x names


def test_threads_share_one_pipeline(hpip_ocr, few):
    expected = [plain(r) for r in hpip_ocr.predict(few)]
    outputs, errors = [], []

    def work():
        try:
            outputs.append([plain(r) for r in hpip_ocr.predict(few)])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and outputs == [expected] * 3


def test_an_image_wider_than_opencv_warps_is_read(hpip_ocr):
    """A 34,000 px wide banner of text: PaddleX (and hpi before) ended in a raw cv2.error from the crop's warp
    (OpenCV takes sides below 32,767 px); now its lines are read."""
    def banner(width):
        image = np.full((300, width, 3), 255, np.uint8)
        for x in range(0, 31_400, 560):
            cv2.putText(image, "HELLO WORLD", (x, 200), cv2.FONT_HERSHEY_SIMPLEX, 4, (0, 0, 0), 12)
        return image

    wide = hpip_ocr.predict(banner(34_000), use_textline_orientation=False)[0]
    assert wide["rec_texts"] and all(text for text in wide["rec_texts"])
