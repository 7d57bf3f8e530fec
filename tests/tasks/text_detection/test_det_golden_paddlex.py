"""Text detection equals PaddleX 3.7.2's module on real photos and scans (tests/data/golden, made by
scripts/make_ocr_golden.py): normal mode the same polygons and scores within 1e-5; high-performance mode the
same polygons (at least 99% within a pixel) on ONNX Runtime and OpenVINO."""
import numpy as np
import pytest
from capabilities import HAS_ONNXRUNTIME, HAS_OPENVINO, HAS_PADDLE

from hpi import TextDetection

# Normal mode is slow on this class of machine: a spread of sizes and contents.
NORMAL_IMAGES = ["ppocr_00018069.jpg", "rapidocr_text_cls.jpg", "ppocr_00009282.jpg", "rects_000003.jpg",
                 "ppocr_en_img623.jpg", "sroie_005.jpg"]
NORMAL_OTHER_IMAGES = ["ppocr_00018069.jpg", "rapidocr_text_cls.jpg", "rects_000003.jpg"]
OPENVINO_IMAGES = ["ppocr_00015504.jpg", "ppocr_en_254.jpg", "sroie_002.jpg", "rects_000002.jpg"]
# Paddle 3.3.1 cannot run this legacy .pdmodel with oneDNN under the new IR (PaddleX's CPU default): the golden
# run told PaddleX enable_new_ir=False, and so do we.
OLD_IR = {"backend": "paddle", "backend_config": {"run_mode": "mkldnn", "enable_new_ir": False}}


def compare(results, expected: dict):
    """(boxes, boxes identical, boxes within 1 px, largest score difference) over images whose box counts
    agree; an image whose count differs counts all its boxes as different."""
    boxes = same = near = 0
    worst = 0.0
    for result, (name, golden) in zip(results, expected.items()):
        assert result["input_path"].endswith(name)
        polys = np.asarray(result["dt_polys"], dtype=np.int64).reshape(-1, 4, 2)
        gold = np.asarray(golden["dt_polys"], dtype=np.int64).reshape(-1, 4, 2)
        boxes += len(gold)
        if len(polys) != len(gold):
            continue
        distance = np.abs(polys - gold).reshape(len(gold), -1).max(axis=1) if len(gold) else np.zeros(0)
        same += int((distance == 0).sum())
        near += int((distance <= 1).sum())
        if len(gold):
            worst = max(worst, float(np.abs(np.array(result["dt_scores"]) - golden["dt_scores"]).max()))
    return boxes, same, near, worst


def run(golden, name):
    return next(r for r in golden["runs"] if r["name"] == name)


def test_golden_records_the_defaults_we_use(det_golden):
    defaults = run(det_golden, "defaults")
    assert defaults["resolved_defaults"] == {"limit_side_len": 960, "limit_type": "max", "max_side_limit": 4000,
                                             "thresh": 0.3, "box_thresh": 0.6, "unclip_ratio": 1.5,
                                             "max_candidates": 1000, "score_mode": "fast", "box_type": "quad",
                                             "use_dilation": False}
    assert sum(len(r["dt_polys"]) for r in defaults["results"].values()) > 700


@pytest.mark.skipif(not HAS_ONNXRUNTIME, reason="needs onnxruntime")
def test_high_performance_onnxruntime_matches_paddlex(det_on, det_golden, ocr_images):
    model = det_on("onnxruntime")
    assert model.defaults == {k: v for k, v in run(det_golden, "defaults")["resolved_defaults"].items()
                              if k in model.defaults}
    for name in ("defaults", "other"):
        golden = run(det_golden, name)
        results = model.predict([str(ocr_images / f) for f in golden["results"]], batch_size=4,
                                **golden["predict_params"])
        boxes, same, near, worst = compare(results, golden["results"])
        # measured: every box identical, scores within 2e-5 of Paddle's
        assert near >= 0.99 * boxes and same >= 0.98 * boxes, (name, boxes, same, near)
        assert worst < 1e-4, name


@pytest.mark.skipif(not HAS_OPENVINO, reason="needs openvino")
def test_high_performance_openvino_matches_paddlex(det_on, det_golden, ocr_images):
    golden = run(det_golden, "defaults")
    expected = {name: golden["results"][name] for name in OPENVINO_IMAGES}
    results = det_on("openvino").predict([str(ocr_images / f) for f in expected])
    boxes, same, near, worst = compare(results, expected)
    assert near >= 0.99 * boxes, (boxes, same, near)
    assert worst < 1e-3


@pytest.mark.skipif(not HAS_PADDLE, reason="normal mode needs paddlepaddle")
def test_normal_mode_matches_paddlex(det_paddle_dir, det_golden, ocr_images):
    with TextDetection(model_dir=det_paddle_dir, device="cpu", hpi_config=OLD_IR) as model:
        assert model.backend == "paddle"
        for name, images in (("defaults", NORMAL_IMAGES), ("other", NORMAL_OTHER_IMAGES)):
            golden = run(det_golden, name)
            expected = {image: golden["results"][image] for image in images}
            results = model.predict([str(ocr_images / f) for f in expected], **golden["predict_params"])
            boxes, same, near, worst = compare(results, expected)
            assert same == boxes > 0, (name, boxes, same)
            assert worst <= 1e-5, name


@pytest.mark.skipif(not HAS_PADDLE, reason="normal mode needs paddlepaddle")
def test_normal_mode_on_the_new_ir_says_how_to_run_this_model(det_paddle_dir, ocr_images):
    from hpi.errors import BackendError

    with TextDetection(model_dir=det_paddle_dir, device="cpu") as model:
        with pytest.raises(BackendError, match="enable_new_ir"):
            model.predict(str(ocr_images / "rapidocr_text_cls.jpg"))
