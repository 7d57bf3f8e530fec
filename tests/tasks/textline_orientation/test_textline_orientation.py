"""TextLineOrientationClassification: PaddleX 3.7.2's textline_orientation module on real crops."""
import json

import numpy as np
import pytest
from capabilities import HAS_ONNXRUNTIME, HAS_OPENVINO, HAS_PADDLE
from helpers import DATA

from hpi import TextLineOrientationClassification, TopkResult
from hpi.errors import ConfigError, InputError, ModelDirError
from hpi.tasks.textline_orientation.preprocess import ClsPreprocess

BACKENDS = [pytest.param("onnxruntime", marks=pytest.mark.skipif(not HAS_ONNXRUNTIME, reason="needs onnxruntime")),
            pytest.param("openvino", marks=pytest.mark.skipif(not HAS_OPENVINO, reason="needs openvino"))]


@pytest.fixture(scope="module")
def ort_model(ori_on):
    if not HAS_ONNXRUNTIME:
        pytest.skip("needs onnxruntime")
    return ori_on("onnxruntime")


@pytest.mark.skipif(not HAS_PADDLE, reason="normal mode needs paddlepaddle")
def test_normal_mode_equals_paddlex(ori_paddle_dir, ori_golden, golden_crops):
    """Same classes and the same (5-decimal) scores as PaddleX for all 200 crops at its batch size, and for the
    first 60 at batch size 1."""
    rows = ori_golden["crops"]
    assert len(rows) == 200 and sum(row["class_ids"] == [1] for row in rows) > 50
    with TextLineOrientationClassification(model_name="PP-LCNet_x0_25_textline_ori", model_dir=ori_paddle_dir,
                                           device="cpu") as model:
        assert model.backend == "paddle"
        for batch_size, count in ((ori_golden["batch_size"], len(rows)), (1, 60)):
            results = model.predict(golden_crops[:count], batch_size=batch_size)
            assert [[r["class_ids"], r["scores"], r["label_names"]] for r in results] == \
                [[row["class_ids"], row["scores"], row["label_names"]] for row in rows[:count]]


@pytest.mark.parametrize("backend", BACKENDS)
def test_high_performance_agrees_with_paddlex(backend, ori_on, ori_golden, golden_crops):
    """Every class as PaddleX; scores within one step of its 5-decimal rounding (measured: 1.0e-5)."""
    rows = ori_golden["crops"]
    results = ori_on(backend).predict(golden_crops, batch_size=6)
    assert [r["class_ids"] for r in results] == [row["class_ids"] for row in rows]
    assert max(abs(r["scores"][0] - row["scores"][0]) for r, row in zip(results, rows)) <= 1.1e-5


def test_result_json_image_and_topk(ort_model, golden_crops, tmp_path):
    upright = golden_crops[0]  # the golden's first crop, upright (0_degree)
    result, flipped = ort_model.predict([upright, np.ascontiguousarray(upright[::-1, ::-1])], topk=2)
    assert isinstance(result, TopkResult)
    assert result.json == {"res": {"input_path": None, "page_index": None, "class_ids": [0, 1],
                                   "scores": result["scores"], "label_names": ["0_degree", "180_degree"]}}
    assert result["scores"][0] > 0.9 > result["scores"][1] and flipped["class_ids"] == [1, 0]
    (single,) = ort_model.predict(upright)  # topk from inference.yml: 1
    assert single["class_ids"] == [0] and single["label_names"] == ["0_degree"]
    image = result.img["res"]
    assert image.size == (upright.shape[1], upright.shape[0])
    assert image.getpixel((4, 4)) == (255, 0, 0)  # PaddleX's red label box at the top left
    saved = result.save_to_img(tmp_path)
    assert saved.name.endswith("_res.png") and saved.stat().st_size > 0
    assert json.loads(result.save_to_json(tmp_path / "r.json").read_text())["label_names"] == ["0_degree",
                                                                                                "180_degree"]


def test_paths_and_pages(ort_model):
    path = str(DATA / "ocr_images" / "rapidocr_text_cls.jpg")
    (result,) = ort_model.predict(path)
    assert result["input_path"] == path and result["class_ids"] in ([0], [1])


def test_bad_input_names_it(ort_model, tmp_path):
    missing = str(tmp_path / "nope.png")
    with pytest.raises(InputError, match="nope.png"):
        ort_model.predict(missing)
    bad = []
    results = ort_model.predict([np.zeros((20, 60, 3), np.uint8), missing], on_bad_input=bad.append)
    assert len(results) == 1 and bad[0].source == missing


def test_bad_options(ori_onnx_dir, ort_model):
    for topk in (0, -1, 1.5, True):
        with pytest.raises(ConfigError, match="topk"):
            ort_model.predict(np.zeros((20, 60, 3), np.uint8), topk=topk)
    with pytest.raises(ConfigError, match="topk"):
        TextLineOrientationClassification(model_dir=ori_onnx_dir, use_hpip=True, device="cpu", topk=0)
    with pytest.raises(ConfigError, match="unknown"):
        ort_model.predict(np.zeros((20, 60, 3), np.uint8), limit_side_len=3)


def test_preprocessing_follows_inference_yml():
    where = "inference.yml"
    yml = {"PreProcess": {"transform_ops": [{"ResizeImage": {"size": [192, 48]}},
                                            {"NormalizeImage": {"mean": [0.5] * 3, "std": [0.5] * 3,
                                                                "scale": "1./255.", "order": ""}},
                                            {"ToCHWImage": None}]}}
    transform = ClsPreprocess.from_config(yml, where)
    image = np.zeros((30, 100, 3), np.uint8)
    image[:, :, 2] = 255  # red in BGR: the model sees RGB, so channel 0 is 1.0
    out = transform(image)
    assert out.shape == (3, 48, 192) and out.dtype == np.float32
    assert out[0].min() == 1.0 and out[2].max() == -1.0
    short = ClsPreprocess.from_config({"PreProcess": {"transform_ops": [
        {"ResizeImage": {"resize_short": 64}}, {"CropImage": {"size": 48}}, {"NormalizeImage": {}}]}}, where)
    assert short(np.zeros((100, 300, 3), np.uint8)).shape == (3, 48, 48)
    for ops, message in (([{"DecodeImage": {}}], "not supported"), ([{"ResizeImage": {"size": [1, 2]}}], "needs"),
                         ([{"ResizeImage": {"resize_short": 32}}, {"CropImage": {"size": 64}},
                           {"NormalizeImage": {}}], "larger than")):
        with pytest.raises(ModelDirError, match=message):
            ClsPreprocess.from_config({"PreProcess": {"transform_ops": ops}}, where)
