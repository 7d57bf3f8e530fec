"""The OCR pipeline against PaddleX 3.7.2's own (tests/data/golden, scripts/make_ocr_golden.py) on real photos and
scans: normal mode gives PaddleX's JSON (scores within 1e-5); high-performance mode PaddleX's texts on >= 99% of
the boxes."""
import numpy as np
import pytest
from capabilities import HAS_ONNXRUNTIME, HAS_OPENVINO, HAS_PADDLE
from conftest import DEFAULT, ORIENTATION_BS1, RECOGNITION_BS1

from hpi import OCR

# Normal mode detects with plain Paddle kernels on this class of machine (slow): a spread of small images, with
# upside-down lines among them. PP-OCRv4_mobile_det's legacy .pdmodel cannot run oneDNN under Paddle 3.3.1's new IR
# (PaddleX's golden used the old IR; plain kernels agree with it within 3.4e-6, see the text detection tests).
NORMAL_IMAGES = ["ppocr_00009282.jpg", "ppocr_en_img_195.jpg", "rects_000005.jpg", "rapidocr_return_word_debug.jpg",
                 "ppocr_00207393_rot180.jpg"]
PLAIN_PADDLE_DET = {"text_detection": {"backend": "paddle", "backend_config": {"run_mode": "paddle"}}}
# High-performance mode: a receipt, documents, a scene, upside-down lines and pages (162 boxes; all 34 images,
# 748 boxes, measured: every text PaddleX's)
HPIP_IMAGES = ["sroie_100.jpg", "ppocr_00077949.jpg", "ppocr_en_254_rot180.jpg", "rapidocr_check_return_word_len.jpg",
               "ppocr_en_img_12.jpg", "ppocr_en_img_195.jpg", "rects_000003.jpg"]


def same_texts(results, golden, names):
    """(boxes, boxes whose text is PaddleX's) over the images; an image whose count differs counts none."""
    boxes = same = 0
    for result, name in zip(results, names):
        expected = golden["results"][name]["rec_texts"]
        boxes += len(expected)
        if len(result["rec_texts"]) == len(expected):
            same += sum(a == b for a, b in zip(result["rec_texts"], expected))
    return boxes, same


@pytest.mark.skipif(not HAS_PADDLE, reason="normal mode needs paddlepaddle")
def test_normal_mode_is_paddlex(ocr_dirs, ocr_images, ocr_golden):
    """Every key of PaddleX's JSON equal (polygons, angles, texts, boxes, settings), scores within 1e-5."""
    golden = ocr_golden(ORIENTATION_BS1)
    with OCR(**ocr_dirs["paddle"], device="cpu", textline_orientation_batch_size=1,
             hpi_config=PLAIN_PADDLE_DET) as pipeline:
        results = pipeline.predict([str(ocr_images / name) for name in NORMAL_IMAGES])
    for result, name in zip(results, NORMAL_IMAGES):
        ours, expected = dict(result.json["res"]), golden["results"][name]
        assert ours.pop("input_path") == str(ocr_images / name)
        assert list(ours) == list(expected)  # PaddleX's keys, in its order
        scores = ours.pop("rec_scores")
        assert ours == {key: value for key, value in expected.items() if key != "rec_scores"}, name
        assert np.abs(np.array(scores) - expected["rec_scores"]).max() <= 1e-5
    assert sum(result["textline_orientation_angles"].count(1) for result in results) >= 8


def test_paddlex_orientation_batches_quirk(ocr_golden):
    """Why the goldens above use orientation batch size 1: PaddleX 3.7.2 gives each crop of an orientation
    batch the first crop's class (its results carry the whole batch's class_ids), which turns upright lines
    upside down before recognition; hpi classifies each crop. Its default batch of 6 shows it."""
    default, per_crop = ocr_golden(DEFAULT), ocr_golden(ORIENTATION_BS1)
    for name, result in default["results"].items():
        angles = result.get("textline_orientation_angles", [])
        assert angles == [angles[i - i % 6] for i in range(len(angles))], name  # batches of 6 share one class
    changed = sum(a != b for name in default["results"]
                  for a, b in zip(default["results"][name]["rec_texts"], per_crop["results"][name]["rec_texts"]))
    assert changed > 50


@pytest.mark.parametrize("backend", [
    pytest.param("onnxruntime", marks=pytest.mark.skipif(not HAS_ONNXRUNTIME, reason="needs onnxruntime")),
    pytest.param("openvino", marks=pytest.mark.skipif(not HAS_OPENVINO, reason="needs openvino"))])
def test_high_performance_texts_are_paddlex(backend, ocr_on, ocr_images, ocr_golden):
    """The same boxes, and PaddleX's text on >= 99% of them, against PaddleX with recognition batch size 1:
    high-performance mode never pads a line (batching changes no text), and PaddleX's batches of 6 padded to the
    widest line change some texts (measured on all 34 images: 31 of 748)."""
    golden = ocr_golden(RECOGNITION_BS1)
    results = ocr_on(backend).predict([str(ocr_images / name) for name in HPIP_IMAGES])
    polys = sum(r["dt_polys"] == golden["results"][name]["dt_polys"] for r, name in
                zip((result.json["res"] for result in results), HPIP_IMAGES))
    assert polys == len(HPIP_IMAGES)
    boxes, same = same_texts(results, golden, HPIP_IMAGES)
    assert boxes == 162 and same >= 0.99 * boxes, (boxes, same)
