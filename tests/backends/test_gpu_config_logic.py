"""GPU configuration logic, checked on the CPU (no session is created: this is not GPU verification)."""
import pytest

from hpi.runtime.backends import get_backend_class
from hpi.runtime.backends.onnxruntime import trt_profile_strings
from hpi.runtime.device import Device
from hpi.errors import ConfigError
from hpi.runtime.model_dir import load_model_dir

GPU1 = Device("gpu", 1)


def test_trt_profile_strings():
    assert trt_profile_strings("x", [[1, 3, 48, 160], [1, 3, 48, 320], [8, 3, 48, 3200]]) == (
        "x:1x3x48x160", "x:1x3x48x320", "x:8x3x48x3200")
    with pytest.raises(ValueError, match="min, opt, max"):
        trt_profile_strings("x", [[1, 3, 48, 160]])


def test_onnxruntime_cuda_chain_targets_the_device(v4_onnx_dir):
    backend = get_backend_class("onnxruntime")(load_model_dir(v4_onnx_dir), GPU1,
                                               {"cudnn_conv_algo_search": "HEURISTIC"})
    chain = backend._providers()
    assert chain[0] == ("CUDAExecutionProvider", {"device_id": 1, "cudnn_conv_algo_search": "HEURISTIC"})
    assert chain[-1] == "CPUExecutionProvider"


def test_onnxruntime_tensorrt_chain_uses_yml_profiles_and_fp16(v4_onnx_dir, tmp_path):
    backend = get_backend_class("onnxruntime")(
        load_model_dir(v4_onnx_dir), GPU1,
        {"execution_provider": "tensorrt", "precision": "fp16", "trt_engine_cache_dir": str(tmp_path)})
    name, options = backend._providers()[0]
    assert name == "TensorrtExecutionProvider"
    assert options["trt_fp16_enable"] is True and options["trt_engine_cache_path"] == str(tmp_path)
    assert options["trt_profile_max_shapes"] == "x:8x3x48x3200"


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_onnxruntime_reduced_precision_on_a_gpu_needs_tensorrt(v4_onnx_dir, precision, tmp_path):
    backend = get_backend_class("onnxruntime")(load_model_dir(v4_onnx_dir), GPU1, {"precision": precision})
    with pytest.raises(ValueError, match=f"runs {precision} on a GPU only with the tensorrt execution provider"):
        backend._providers()
    trt = get_backend_class("onnxruntime")(load_model_dir(v4_onnx_dir), GPU1, {
        "precision": precision, "execution_provider": "tensorrt", "trt_engine_cache_dir": str(tmp_path)})
    name, options = trt._providers()[0]
    assert name == "TensorrtExecutionProvider"
    assert options["trt_fp16_enable"] is (precision == "fp16") and options["trt_int8_enable"] is (precision == "int8")


@pytest.mark.parametrize("device, run_mode, ok", [
    (Device("cpu"), "mkldnn", True), (Device("cpu"), "trt_fp16", False),
    (GPU1, "trt_fp16", True), (GPU1, "mkldnn", False),
])
def test_paddle_run_modes_per_device(v4_paddle_dir, device, run_mode, ok):
    cls = get_backend_class("paddle")
    if ok:
        backend = cls(load_model_dir(v4_paddle_dir), device, {"run_mode": run_mode})
        assert backend.config["precision"] == ("fp16" if run_mode == "trt_fp16" else "fp32")
    else:
        with pytest.raises(ConfigError, match=f"run_mode '{run_mode}' does not run on"):
            cls(load_model_dir(v4_paddle_dir), device, {"run_mode": run_mode})
