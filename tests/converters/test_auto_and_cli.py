import logging
import shutil

import pytest

from hpi import TextRecognition
from hpi.cli import main
from hpi.errors import NoBackendAvailableError


@pytest.fixture
def rec_paddle_only(paddle_models, tmp_path):
    model_dir = tmp_path / "rec"
    shutil.copytree(paddle_models[("rec", "pir")], model_dir, ignore=shutil.ignore_patterns("inference.onnx*"))
    return model_dir


def test_use_hpip_converts_a_paddle_only_dir_first(rec_paddle_only, samples_dir, caplog):
    with caplog.at_level(logging.INFO, logger="hpi"):
        model = TextRecognition(model_dir=rec_paddle_only, device="cpu", use_hpip=True)
    assert "converting" in caplog.text and "auto_paddle2onnx" in caplog.text
    assert model.backend in ("openvino", "onnxruntime")
    assert (rec_paddle_only / "inference.onnx").is_file()
    assert model.predict(str(samples_dir / "hello_world.png"))[0]["rec_text"] == "Hello World 2026"


def test_auto_paddle2onnx_off_falls_back_or_says_how(rec_paddle_only):
    model = TextRecognition(model_dir=rec_paddle_only, device="cpu", use_hpip=True,
                            hpi_config={"auto_paddle2onnx": False})
    assert model.backend == "paddle" and not (rec_paddle_only / "inference.onnx").exists()
    with pytest.raises(NoBackendAvailableError, match="hpi convert --model_dir"):
        TextRecognition(model_dir=rec_paddle_only, device="cpu", use_hpip=True,
                        hpi_config={"backend": "openvino", "auto_paddle2onnx": False})


def test_cli_convert_with_paddlex_spelling(rec_paddle_only, tmp_path, capsys):
    out_dir = tmp_path / "onnx_out"
    assert main(["convert", "--paddle_model_dir", str(rec_paddle_only), "--onnx_model_dir", str(out_dir)]) == 0
    printed = capsys.readouterr().out
    assert "converted in" in printed and "max abs difference" in printed and "Concat" in printed
    assert sorted(p.name for p in out_dir.iterdir()) == [".inference.onnx.lock", "inference.onnx",
                                                         "inference.onnx.hpi.json", "inference.yml"]
    assert main(["convert", "--paddle_model_dir", str(rec_paddle_only), "--onnx_model_dir", str(out_dir)]) == 0
    assert "up to date, reused" in capsys.readouterr().out
    model = TextRecognition(model_dir=out_dir, device="cpu", use_hpip=True)  # the ONNX dir runs on its own
    assert model.backend == "openvino" or model.backend == "onnxruntime"
