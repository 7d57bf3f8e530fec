"""GPU configuration logic, checked on the CPU (no session is created: this is not GPU verification)."""
import json
from types import SimpleNamespace

import pytest

from hpi.runtime.backends import get_backend_class
from hpi.runtime.backends.onnxruntime import trt_profile_strings
from hpi.runtime.device import Device
from hpi.errors import BackendError, ConfigError
from hpi.runtime.model_dir import check_dynamic_shapes, load_model_dir

GPU1 = Device("gpu", 1)
DET = {"x": [[1, 3, 32, 32], [1, 3, 736, 736], [1, 3, 4000, 4000]]}


@pytest.fixture
def onnx_dir(tmp_path):
    """An ONNX model dir (the file is never read here) named `model_name`, without an Hpi section."""
    def make(model_name):
        root = tmp_path / model_name
        root.mkdir()
        (root / "inference.yml").write_text(json.dumps({"Global": {"model_name": model_name}}))
        (root / "inference.onnx").write_bytes(b"not read here")
        (root / "inference.pdmodel").write_bytes(b"not read here")
        (root / "inference.pdiparams").write_bytes(b"not read here")
        return load_model_dir(root)
    return make


def test_trt_profile_strings():
    profiles = check_dynamic_shapes({"x": [[1, 3, 48, 160], [1, 3, 48, 320], [8, 3, 48, 3200]]})
    assert trt_profile_strings(profiles) == ("x:1x3x48x160", "x:1x3x48x320", "x:8x3x48x3200")
    two = check_dynamic_shapes({"a": [[1, 3, 8, 8]] * 3, "b": [[1, 1, 2, 2], [1, 1, 2, 2], [2, 1, 2, 2]]})
    assert trt_profile_strings(two)[2] == "a:1x3x8x8,b:2x1x2x2"


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


def tensorrt_provider(model_dir, tmp_path, **options):
    backend = get_backend_class("onnxruntime")(model_dir, GPU1, {"execution_provider": "tensorrt",
                                                                 "trt_engine_cache_dir": str(tmp_path), **options})
    name, provider_options = backend._providers()[0]
    assert name == "TensorrtExecutionProvider"
    return [provider_options[f"trt_profile_{which}_shapes"] for which in ("min", "opt", "max")]


def test_onnxruntime_tensorrt_profile_for_any_task(onnx_dir, tmp_path):
    """Detection and orientation models take the same path as recognition: the model dir's shapes."""
    assert tensorrt_provider(onnx_dir("PP-OCRv5_mobile_det"), tmp_path) == ["x:1x3x32x32", "x:1x3x736x736",
                                                                            "x:1x3x4000x4000"]
    assert tensorrt_provider(onnx_dir("PP-LCNet_x0_25_textline_ori"), tmp_path)[2] == "x:8x3x80x160"
    # the option's older form ([min, opt, max] of input x) is still taken
    assert tensorrt_provider(onnx_dir("PP-OCRv4_mobile_rec"), tmp_path,
                             dynamic_shapes=[[1, 3, 48, 100], [1, 3, 48, 200], [4, 3, 48, 400]])[2] == "x:4x3x48x400"
    with pytest.raises(BackendError, match="onnxruntime's tensorrt execution provider needs the range of input "
                                           "shapes.*Hpi.backend_configs.tensorrt.dynamic_shapes"):
        tensorrt_provider(onnx_dir("unknown_model"), tmp_path)


class FakePaddleConfig:
    """Records what the paddle backend asks of paddle.inference.Config for Paddle-TensorRT."""

    def enable_tensorrt_engine(self, **kwargs):
        self.engine = kwargs

    def set_trt_dynamic_shape_info(self, low, high, opt):
        self.shapes = (low, opt, high)

    def set_optim_cache_dir(self, path):
        self.cache = path


FAKE_PADDLE_INFERENCE = SimpleNamespace(PrecisionType=SimpleNamespace(Half="half", Float32="float32"))


@pytest.mark.parametrize("model_name, options, expected", [
    ("PP-OCRv4_mobile_rec", {}, ([1, 3, 48, 160], [1, 3, 48, 320], [8, 3, 48, 3200])),
    ("PP-OCRv5_mobile_det", {}, tuple(DET["x"])),
    ("PP-OCRv5_mobile_det", {"trt_dynamic_shapes": {"x": [[1, 3, 64, 64]] * 3}}, ([1, 3, 64, 64],) * 3),
])
def test_paddle_tensorrt_profile_for_any_task(onnx_dir, model_name, options, expected):
    backend = get_backend_class("paddle")(onnx_dir(model_name), GPU1, {"run_mode": "trt_fp16", **options})
    config = FakePaddleConfig()
    backend._enable_tensorrt(config, FAKE_PADDLE_INFERENCE, half=True)
    assert config.shapes == tuple({"x": shape} for shape in expected)
    assert config.engine["max_batch_size"] == expected[2][0] and config.engine["precision_mode"] == "half"


def test_paddle_tensorrt_without_a_profile_says_which_key_to_add(onnx_dir):
    backend = get_backend_class("paddle")(onnx_dir("unknown_model"), GPU1, {"run_mode": "trt_fp32"})
    with pytest.raises(BackendError, match=r"paddle run_mode 'trt_fp32' \(Paddle-TensorRT\) needs the range"):
        backend._enable_tensorrt(FakePaddleConfig(), FAKE_PADDLE_INFERENCE, half=False)


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_onnxruntime_reduced_precision_on_a_gpu_needs_tensorrt(v4_onnx_dir, precision, tmp_path):
    # refused when the backend is made, before any load (a ConfigError, which is a ValueError)
    with pytest.raises(ValueError, match=f"runs {precision} on a GPU only with the tensorrt execution provider"):
        get_backend_class("onnxruntime")(load_model_dir(v4_onnx_dir), GPU1, {"precision": precision})
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
