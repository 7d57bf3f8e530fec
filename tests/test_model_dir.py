import json
import logging
import shutil

import pytest

from hpi import TextRecognition
from hpi.errors import BackendError, ConfigError, ModelDirError
from hpi.runtime.model_dir import check_dynamic_shapes, known_models, load_model_dir

# What PaddleX 3.7.2 exports into inference.yml (Hpi.backend_configs), per task.
REC = {"x": [[1, 3, 48, 160], [1, 3, 48, 320], [8, 3, 48, 3200]]}
DET = {"x": [[1, 3, 32, 32], [1, 3, 736, 736], [1, 3, 4000, 4000]]}
ORI = {"x": [[1, 3, 80, 160], [1, 3, 80, 160], [8, 3, 80, 160]]}


def as_tuples(shapes):
    return {name: tuple(tuple(shape) for shape in profile) for name, profile in shapes.items()}


@pytest.fixture
def onnx_dir(tmp_path):
    """A model dir with the given Global.model_name and Hpi section (inference.yml is JSON, a subset of YAML)."""
    def make(model_name, hpi=None):
        root = tmp_path / "model"
        root.mkdir(exist_ok=True)
        config = {"Global": {"model_name": model_name}, **({"Hpi": hpi} if hpi is not None else {})}
        (root / "inference.yml").write_text(json.dumps(config))
        (root / "inference.onnx").write_bytes(b"not read here")
        return load_model_dir(root)
    return make


def test_legacy_paddle_dir(v4_paddle_dir):
    model_dir = load_model_dir(v4_paddle_dir, "PP-OCRv4_mobile_rec")
    assert model_dir.formats == ("paddle",) and model_dir.paddle_program.name == "inference.pdmodel"
    assert len(model_dir.section("PostProcess", "character_dict")) == 6623


def test_model_name_must_match_inference_yml(v4_onnx_dir):
    with pytest.raises(ModelDirError, match="does not match Global.model_name 'PP-OCRv4_mobile_rec'"):
        TextRecognition(model_name="PP-OCRv5_server_rec", model_dir=v4_onnx_dir, use_hpip=True)


@pytest.mark.parametrize("remove, message", [
    ("inference.yml", "has no inference.yml"),
    ("inference.pdiparams", "has inference.pdmodel but no inference.pdiparams"),
])
def test_incomplete_dirs(tmp_path, v4_paddle_dir, remove, message):
    model_dir = tmp_path / "m"
    shutil.copytree(v4_paddle_dir, model_dir)
    (model_dir / remove).unlink()
    with pytest.raises(ModelDirError, match=message):
        load_model_dir(model_dir)


def test_missing_and_empty_dirs(tmp_path):
    with pytest.raises(ModelDirError, match="does not exist"):
        load_model_dir(tmp_path / "nope")
    (tmp_path / "inference.yml").write_text("Global: {model_name: x}\n")
    with pytest.raises(ModelDirError, match="holds no model"):
        load_model_dir(tmp_path)
    (tmp_path / "inference.yml").write_text("[unclosed\n")
    with pytest.raises(ModelDirError, match="not valid YAML"):
        load_model_dir(tmp_path)


def test_unknown_arguments(tmp_path):
    with pytest.raises(ConfigError, match="unknown argument"):
        TextRecognition(model_dir=tmp_path, precison="fp16")
    with pytest.raises(ConfigError, match="invalid precision 'int4'"):  # PaddleOCR's option: checked before loading
        TextRecognition(model_dir=tmp_path, precision="int4")


# -- dynamic shapes: one place, for every backend and every task ------------------------------------------------
@pytest.mark.parametrize("hpi", [
    {"backend_configs": {"tensorrt": {"dynamic_shapes": DET}}},  # PaddleX's TensorRT key
    {"backend_configs": {"paddle_infer": {"trt_dynamic_shapes": DET}}},  # PaddleX's Paddle-TensorRT key
    {"backend_configs": {"paddle_infer": {"trt_dynamic_shapes": DET}, "tensorrt": {"dynamic_shapes": DET}}},
])
def test_dynamic_shapes_come_from_either_paddlex_key(onnx_dir, hpi):
    # a recognition name, so the catalog would say otherwise: inference.yml comes first
    assert onnx_dir("PP-OCRv4_mobile_rec", hpi).dynamic_shapes == as_tuples(DET)


def test_the_tensorrt_key_wins_when_the_two_differ(onnx_dir, caplog):
    hpi = {"backend_configs": {"paddle_infer": {"trt_dynamic_shapes": REC}, "tensorrt": {"dynamic_shapes": DET}}}
    with caplog.at_level(logging.WARNING, logger="hpi"):
        assert onnx_dir("m", hpi).dynamic_shapes == as_tuples(DET)
    assert "differs from Hpi.backend_configs.paddle_infer.trt_dynamic_shapes" in caplog.text


@pytest.mark.parametrize("model_name, expected", [
    ("PP-OCRv4_mobile_rec", REC), ("PP-OCRv6_tiny_rec", REC),  # recognition's shapes, unchanged
    ("PP-OCRv5_mobile_det", DET), ("PP-OCRv6_small_det", DET), ("PP-OCRv4_server_det", DET),
    ("PP-LCNet_x0_25_textline_ori", ORI), ("PP-LCNet_x1_0_textline_ori", ORI),
])
def test_without_them_in_inference_yml_the_catalog_entry_gives_them(onnx_dir, model_name, expected):
    assert onnx_dir(model_name).dynamic_shapes == as_tuples(expected)


def test_an_unknown_model_has_none_and_a_build_that_needs_them_says_which_key_to_add(onnx_dir):
    model_dir = onnx_dir("my_finetuned_det")
    assert model_dir.dynamic_shapes is None
    with pytest.raises(BackendError, match=r"the tensorrt backend needs the range of input shapes.*'my_finetuned_det' "
                                           r"is not in hpi's catalog\): add Hpi.backend_configs.tensorrt."
                                           r"dynamic_shapes to its inference.yml"):
        model_dir.require_dynamic_shapes("the tensorrt backend")


def test_malformed_shapes_in_inference_yml_name_the_key(onnx_dir):
    model_dir = onnx_dir("m", {"backend_configs": {"tensorrt": {"dynamic_shapes": {"x": [[1, 3, 32, 32]]}}}})
    with pytest.raises(ModelDirError, match=r"Hpi.backend_configs.tensorrt.dynamic_shapes of .*inference.yml'"
                                            r"\['x'\] must be \[min, opt, max\], three shapes"):
        model_dir.dynamic_shapes


def test_every_catalog_entry_has_valid_shapes_and_a_task():
    from hpi.tasks.registry import TASK_CLASSES

    for name, info in known_models().items():
        assert info["task"] in TASK_CLASSES, name
        check_dynamic_shapes(info["dynamic_shapes"], name)


def test_shapes_normalize_to_int_tuples():
    assert check_dynamic_shapes(REC, "dynamic_shapes", ["x"]) == as_tuples(REC)


@pytest.mark.parametrize("shapes, message", [
    ([], "must map each input name"),
    ({"x": [[1, 3, 48, 160], [8, 3, 48, 3200]]}, r"must be \[min, opt, max\], three shapes"),
    ({"x": [[1, 3, 48], [1, 3, 48, 320], [8, 3, 48, 3200]]}, "min must be 4 positive integers"),
    ({"x": [[1, 3, 48, 160], [1, 3, 48.0, 320], [8, 3, 48, 3200]]}, "opt must be 4 positive integers"),
    ({"x": [[1, 3, 48, 160], [1, 3, 48, 320], [True, 3, 48, 3200]]}, "max must be 4 positive integers"),
    ({"x": [[0, 3, 48, 160], [1, 3, 48, 320], [8, 3, 48, 3200]]}, "min must be 4 positive integers"),
    ({"x": [[1, 3, 48, 400], [1, 3, 48, 320], [8, 3, 48, 3200]]}, r"width needs min <= opt <= max, got \[400, 320"),
    ({"x": [[1, 3, 48, 160], [9, 3, 48, 320], [8, 3, 48, 3200]]}, "batch needs min <= opt <= max"),
    ({"": REC["x"]}, "input names must be non-empty strings"),
])
def test_bad_shapes_say_what_is_wrong(shapes, message):
    with pytest.raises(ConfigError, match=message):
        check_dynamic_shapes(shapes)


def test_shapes_must_name_the_model_inputs():
    with pytest.raises(ConfigError, match=r"names the inputs \['x'\] but the model's inputs are \['image'\]"):
        check_dynamic_shapes(REC, "dynamic_shapes", ["image"])
