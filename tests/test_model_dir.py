import shutil

import pytest

from hpi import TextRecognition
from hpi.errors import ConfigError, ModelDirError
from hpi.runtime.model_dir import load_model_dir


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
        TextRecognition(model_dir=tmp_path, precision="fp16")
