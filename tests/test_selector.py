"""Backend choice and fall-through, on real model dirs (a broken ONNX file is a real load failure)."""
import logging
import shutil

import pytest
from capabilities import HAS_OPENVINO, HAS_PADDLE

from hpi import TextRecognition
from hpi.config import HPIConfig
from hpi.device import Device
from hpi.errors import NoBackendAvailableError
from hpi.model_dir import load_model_dir
from hpi.selector import default_candidates, device_class, load_backend


@pytest.fixture
def broken_onnx_dir(tmp_path, v4_paddle_dir):
    """Paddle weights that load, beside an inference.onnx that no runtime can read."""
    model_dir = tmp_path / "model"
    shutil.copytree(v4_paddle_dir, model_dir)
    (model_dir / "inference.onnx").write_bytes(b"\x08\x07garbage")
    return model_dir


@pytest.mark.skipif(not HAS_PADDLE, reason="the last candidate is Paddle")
def test_a_backend_that_fails_to_load_falls_through(broken_onnx_dir, caplog):
    with caplog.at_level(logging.WARNING, logger="hpi"):
        model = TextRecognition(model_dir=broken_onnx_dir, device="cpu", use_hpip=True)
    assert model.backend == "paddle"
    failed = [r.getMessage() for r in caplog.records if "failed to load" in r.getMessage()]
    assert any("openvino" in m for m in failed) and any("onnxruntime" in m for m in failed)


def test_no_candidate_lists_every_reason(broken_onnx_dir):
    (broken_onnx_dir / "inference.pdmodel").unlink()
    (broken_onnx_dir / "inference.pdiparams").unlink()
    with pytest.raises(NoBackendAvailableError) as error:
        load_backend(load_model_dir(broken_onnx_dir), Device("cpu"), True, HPIConfig())
    message = str(error.value)
    assert "openvino: failed to load" in message and "paddle: needs a paddle model" in message


def test_default_order_on_x86_cpu():
    if device_class(Device("cpu")) != "cpu_x64":
        pytest.skip("x86-64 only")
    assert [c.backend for c in default_candidates("PP-OCRv4_mobile_rec", Device("cpu"))] == \
        ["openvino", "onnxruntime", "paddle"]


@pytest.mark.skipif(not HAS_OPENVINO, reason="openvino missing")
def test_backend_config_merges_over_the_suggestion(v4_onnx_dir):
    model = TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=True,
                            hpi_config={"backend": "openvino", "backend_config": {"cpu_num_threads": 1}})
    assert model.config["cpu_num_threads"] == 1 and model.config["precision"] == "f32"
