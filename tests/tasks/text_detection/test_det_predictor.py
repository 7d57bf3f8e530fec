"""TextDetection's API (PaddleX's text detection module) on real images, ONNX models in high-performance mode."""
import json
import shutil

import cv2
import numpy as np
import pytest
import yaml
from capabilities import HAS_ONNXRUNTIME

import hpi
from hpi import TextDetection, TextDetResult
from hpi.errors import ConfigError, ModelDirError

pytestmark = pytest.mark.skipif(not HAS_ONNXRUNTIME, reason="these tests run ONNX models on onnxruntime")
ORT = {"backend": "onnxruntime"}
IMAGES = ["ppocr_00009282.jpg", "ppocr_00018069.jpg", "rapidocr_text_cls.jpg", "ppocr_ger_1.jpg",
          "rapidocr_return_word_debug.jpg"]


@pytest.fixture(scope="module")
def model(det_on):
    return det_on("onnxruntime")


@pytest.fixture(scope="module")
def paths(ocr_images):
    return [str(ocr_images / name) for name in IMAGES]


def test_exported_from_hpi():
    assert hpi.TextDetection is TextDetection and hpi.TextDetResult is TextDetResult


def test_results_have_paddlex_keys_and_types(model, paths):
    (result,) = model.predict(paths[1])
    assert isinstance(result, TextDetResult)
    assert list(result.json["res"]) == ["input_path", "page_index", "dt_polys", "dt_scores"]
    assert result["input_path"] == paths[1] and result["page_index"] is None
    polys, scores = result["dt_polys"], result["dt_scores"]
    assert polys.dtype == np.int16 and polys.shape == (len(scores), 4, 2) and len(scores) > 40  # a lab table
    assert all(isinstance(s, float) and 0.6 <= s <= 1 for s in scores)
    height, width = result["input_img"].shape[:2]
    assert polys[..., 0].min() >= 0 and polys[..., 0].max() <= width
    assert polys[..., 1].min() >= 0 and polys[..., 1].max() <= height
    # corners: top-left, top-right, bottom-right, bottom-left
    assert (polys[:, 1, 0] > polys[:, 0, 0]).all() and (polys[:, 3, 1] > polys[:, 0, 1]).all()


def test_print_and_save(model, paths, tmp_path, capsys):
    (result,) = model.predict(paths[0])
    result.print()
    printed = json.loads(capsys.readouterr().out)
    assert printed["res"]["dt_polys"] == result["dt_polys"].tolist()
    saved = json.loads(result.save_to_json(tmp_path).read_text("utf-8"))
    assert saved == printed["res"] and (tmp_path / "ppocr_00009282_res.json").is_file()
    image_path = result.save_to_img(tmp_path)
    assert image_path.name == "ppocr_00009282_res.jpg"
    original = cv2.imread(paths[0])
    assert cv2.imread(str(image_path)).shape == original.shape
    drawn = np.asarray(result.img["res"])  # RGB, as PaddleX's
    assert drawn.shape == original.shape and drawn.dtype == np.uint8
    for (x0, y0), (x1, y1), _, (x3, y3) in result["dt_polys"].tolist():  # red outlines (2 px), closed
        assert drawn[(y0 + y1) // 2, (x0 + x1) // 2].tolist() == [255, 0, 0]
        assert drawn[(y0 + y3) // 2, (x0 + x3) // 2].tolist() == [255, 0, 0]
    assert np.array_equal(result["input_img"], original)  # drawing works on a copy


def test_batch_size_never_changes_an_output(model, paths):
    one = model.predict(paths, batch_size=1)
    three = model.predict(paths, batch_size=3)
    assert [r["input_path"] for r in three] == paths
    for a, b in zip(one, three):
        assert np.array_equal(a["dt_polys"], b["dt_polys"]) and a["dt_scores"] == b["dt_scores"]


def test_arrays_and_an_image_without_text(model, paths):
    image = cv2.imread(paths[2])  # one short line
    results = model.predict([image, np.full((200, 300, 3), 255, np.uint8)])
    assert results[0]["input_path"] is None and len(results[0]["dt_scores"]) == 1
    assert results[1]["dt_polys"].shape == (0, 4, 2) and results[1]["dt_scores"] == []
    assert results[1].json["res"]["dt_polys"] == []


def test_predict_arguments_change_the_detection(model, paths):
    default = model.predict(paths[1])[0]
    strict = model.predict(paths[1], box_thresh=0.9)[0]
    assert 0 < len(strict["dt_scores"]) < len(default["dt_scores"]) and min(strict["dt_scores"]) >= 0.9
    wide = model.predict(paths[1], unclip_ratio=3.0)[0]
    height = lambda polys: (polys[:, 3, 1] - polys[:, 0, 1]).mean()  # noqa: E731
    assert height(wide["dt_polys"]) > height(default["dt_polys"])
    small = model.predict(paths[1], limit_side_len=160, limit_type="max")[0]  # 267 x 430 read at 96 x 160
    assert len(small["dt_scores"]) < len(default["dt_scores"])
    assert model.preprocess(cv2.imread(paths[1]), model.options(limit_side_len=160))[0].shape == (3, 96, 160)
    assert model.preprocess(cv2.imread(paths[1]), model.options(max_side_limit=200, limit_type="resize_long",
                                                                limit_side_len=960))[0].shape == (3, 128, 192)


def test_defaults_are_the_models(model):
    assert model.defaults == {"limit_side_len": 960, "limit_type": "max", "max_side_limit": 4000, "thresh": 0.3,
                              "box_thresh": 0.6, "unclip_ratio": 1.5}
    assert model.backend == "onnxruntime" and model.config["model_name"] == "PP-OCRv4_mobile_det"


@pytest.mark.parametrize("kwargs, argument", [
    ({"limit_type": "foo"}, "limit_type"), ({"thresh": -1}, "thresh"), ({"thresh": 0}, "thresh"),
    ({"box_thresh": 1.5}, "box_thresh"), ({"unclip_ratio": 0}, "unclip_ratio"),
    ({"limit_side_len": "960"}, "limit_side_len"), ({"limit_side_len": True}, "limit_side_len"),
    ({"max_side_limit": -5}, "max_side_limit"), ({"thresh": float("nan")}, "thresh"),
    ({"text_det_thresh": 0.3}, "text_det_thresh"),
])
def test_bad_arguments_are_config_errors_naming_them(model, paths, kwargs, argument):
    with pytest.raises(ConfigError, match=argument):
        model.predict(paths[0], **kwargs)


def test_unsupported_postprocess_is_a_model_dir_error(det_onnx_dir, tmp_path):
    shutil.copytree(det_onnx_dir, tmp_path / "model")
    config = yaml.safe_load((tmp_path / "model" / "inference.yml").read_text("utf-8"))
    config["PostProcess"]["name"] = "EASTPostProcess"
    (tmp_path / "model" / "inference.yml").write_text(yaml.safe_dump(config), "utf-8")
    with pytest.raises(ModelDirError, match="EASTPostProcess"):
        TextDetection(model_dir=tmp_path / "model", device="cpu", use_hpip=True, hpi_config=ORT)


def test_newer_models_take_their_own_defaults(det_v5_onnx_dir, det_v6_small_dir, det_v6_tiny_dir, paths):
    expected = {det_v5_onnx_dir: (0.3, 0.6, 1.5), det_v6_small_dir: (0.2, 0.45, 1.4), det_v6_tiny_dir: (0.2, 0.4, 1.4)}
    image = cv2.imread(paths[0])  # a care label with 13 lines
    for model_dir, thresholds in expected.items():
        with TextDetection(model_dir=model_dir, device="cpu", use_hpip=True, hpi_config=ORT) as model:
            defaults = model.defaults
            assert (defaults["limit_side_len"], defaults["limit_type"]) == (960, "max")
            assert (defaults["thresh"], defaults["box_thresh"], defaults["unclip_ratio"]) == thresholds
            (result,) = model.predict(image)
            assert 8 <= len(result["dt_scores"]) <= 20, model_dir.name


def test_tuning_workload_runs_predict_on_rendered_pages_judged_by_their_boxes(model):
    workload = model.tuning_workload()
    assert workload.size == 8
    keys = workload.run(model._backend, False)  # predict's own path, on the backend given
    assert len(keys) == 8 and all(len(key) >= 8 * 4 for key in keys)  # several text lines found on every page
    assert keys == workload.run(model._backend, False)  # the same boxes again: a key that can agree
    assert len(workload.run(model._backend, True)) == 1  # the warm-up page, outside the set


@pytest.mark.parametrize("line, bad", [("  unclip_ratio: 1.5", "  unclip_ratio: 1.0e+30"),
                                       ("  thresh: 0.3", "  thresh: .nan")])
def test_a_model_whose_inference_yml_is_out_of_range_is_refused(det_onnx_dir, tmp_path, line, bad):
    """The ranges a caller's options meet hold for a model's own defaults too: an inference.yml with unclip_ratio
    1e30 loaded, then failed in postprocessing (a ZeroDivisionError per image)."""
    model_dir = tmp_path / "det"
    shutil.copytree(det_onnx_dir, model_dir)
    config = model_dir / "inference.yml"
    text = config.read_text()
    assert line + "\n" in text
    config.write_text(text.replace(line + "\n", bad + "\n"))
    key = line.split(":")[0].strip()
    with pytest.raises(ModelDirError, match=rf"inference.yml: {key} .* is out of range"):
        TextDetection(model_dir=model_dir, device="cpu", use_hpip=True)
