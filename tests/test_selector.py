"""Backend choice and fall-through, on real model dirs (a broken ONNX file is a real load failure)."""
import logging
import shutil

import pytest
from capabilities import HAS_OPENVINO, HAS_PADDLE

from hpi import TextRecognition
from hpi.runtime.config import HPIConfig
from hpi.runtime.device import Device
from hpi.errors import NoBackendAvailableError
from hpi.runtime.model_dir import load_model_dir
from hpi.runtime.candidates import default_candidates
from hpi.runtime.selector import load_backend


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


def test_default_order_on_x86_cpu_is_its_class_plan(monkeypatch):
    """The order depends on the CPU class (configs/cpu_plans.yaml): measured per class, the same for any machine."""
    from hpi.runtime import candidates
    from hpi.runtime.device import CPUClass

    for klass, first in (("x86_avx512_bf16", "onnxruntime"), ("x86_amx", "openvino"), ("x86_avx2", "onnxruntime")):
        monkeypatch.setattr(candidates, "cpu_class", lambda: CPUClass(klass, "test", "x86_64"))
        order = [c.backend for c in default_candidates("PP-OCRv4_mobile_rec", Device("cpu"))]
        assert order == [first, *(b for b in ("onnxruntime", "openvino") if b != first), "paddle"], klass


@pytest.mark.skipif(not HAS_OPENVINO, reason="openvino missing")
def test_backend_config_merges_over_the_suggestion(v4_onnx_dir):
    model = TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=True,
                            hpi_config={"backend": "openvino", "backend_config": {"cpu_num_threads": 1}})
    assert model.config["cpu_num_threads"] == 1 and model.config["precision"] == "fp32"


@pytest.mark.parametrize("model_name, first_cpu", [  # on the Zen 4 class, where recognition was measured
    ("PP-OCRv4_mobile_rec", "onnxruntime"), ("PP-OCRv6_tiny_rec", "onnxruntime"),
    ("PP-OCRv5_server_rec", "paddle"), ("some_new_model", "onnxruntime"),
    ("PP-OCRv4_mobile_det", "openvino"), ("PP-OCRv6_small_det", "openvino"), ("PP-LCNet_x0_25_textline_ori", "openvino"),
])
def test_per_model_defaults_cover_device_classes(model_name, first_cpu, monkeypatch):
    from hpi.runtime import candidates
    from hpi.runtime.device import CPUClass

    monkeypatch.setattr(candidates, "cpu_class", lambda: CPUClass("x86_avx512_bf16", "test", "x86_64"))
    assert default_candidates(model_name, Device("cpu"))[0].backend == first_cpu
    gpu_order = [c.backend for c in default_candidates(model_name, Device("gpu", 0))]
    assert gpu_order == ["onnxruntime", "tensorrt", "paddle"]


def test_every_seed_model_has_an_entry():
    from hpi.runtime.candidates import backend_orders

    seed_models = {"PP-OCRv5_server_rec", "PP-OCRv5_mobile_rec", "PP-OCRv4_server_rec_doc", "PP-OCRv4_mobile_rec",
                   "PP-OCRv4_server_rec", "PP-OCRv3_mobile_rec", "ch_SVTRv2_rec", "ch_RepSVTR_rec",
                   "en_PP-OCRv4_mobile_rec", "en_PP-OCRv3_mobile_rec", "korean_PP-OCRv3_mobile_rec",
                   "japan_PP-OCRv3_mobile_rec", "chinese_cht_PP-OCRv3_mobile_rec", "te_PP-OCRv3_mobile_rec",
                   "ka_PP-OCRv3_mobile_rec", "ta_PP-OCRv3_mobile_rec", "latin_PP-OCRv3_mobile_rec",
                   "arabic_PP-OCRv3_mobile_rec", "cyrillic_PP-OCRv3_mobile_rec", "devanagari_PP-OCRv3_mobile_rec"}
    models = backend_orders()["models"]
    assert seed_models <= set(models)
    assert all(entry["source"] in ("measured", "paddlex", "family") for entry in models.values())


@pytest.fixture
def a_gpu_is_visible(monkeypatch):
    """The driver shows one GPU (the CUDA runtimes themselves may still be missing): the device check passes."""
    monkeypatch.setattr("hpi.runtime.device.cuda_device_count", lambda: 1)


def test_gpu_device_without_gpu_backends_installed_explains(v4_onnx_dir, a_gpu_is_visible):
    from hpi.errors import NoBackendAvailableError

    with pytest.raises(NoBackendAvailableError) as error:
        load_backend(load_model_dir(v4_onnx_dir), Device("gpu", 0), True, HPIConfig(backend="tensorrt"))
    assert "tensorrt" in str(error.value)


def test_onnxruntime_falling_back_from_cuda_to_cpu_is_loud(v4_onnx_dir, caplog, a_gpu_is_visible):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has a working CUDA provider: no fallback to observe")
    with caplog.at_level(logging.WARNING, logger="hpi"):
        model = TextRecognition(model_dir=v4_onnx_dir, device="gpu:0", use_hpip=True,
                                hpi_config={"backend": "onnxruntime"})
    assert model.config["active_providers"] == ["CPUExecutionProvider"]
    assert "asked for CUDAExecutionProvider but runs on ['CPUExecutionProvider']" in caplog.text


@pytest.mark.skipif(not HAS_OPENVINO, reason="openvino missing")
def test_backend_config_without_a_backend_goes_to_those_that_take_it(v4_onnx_dir):
    model = TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=True,
                            hpi_config={"backend_config": {"cpu_num_threads": 1, "performance_hint": "throughput"}})
    assert model.config["cpu_num_threads"] == 1  # whichever backend was picked
    from hpi.errors import ConfigError

    with pytest.raises(ConfigError, match=r"keys \['turbo'\] are options of no backend"):
        TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=True, hpi_config={"backend_config": {"turbo": 1}})


@pytest.mark.parametrize("use_hpip, model", [(False, "v4_paddle_dir"), (True, "v4_onnx_dir")])
def test_a_gpu_asked_for_and_not_here_fails_in_either_mode(use_hpip, model, request, monkeypatch):
    from hpi.runtime.device import DeviceUnavailableError

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no GPU, whatever this machine has
    with pytest.raises(DeviceUnavailableError, match=r"device 'gpu:0' was asked for, but no NVIDIA GPU is visible "
                                                     r"here \(CUDA_VISIBLE_DEVICES='' hides every GPU\); use "
                                                     r"device='cpu'"):
        TextRecognition(model_dir=request.getfixturevalue(model), device="gpu", use_hpip=use_hpip)


def test_normal_mode_checks_hpi_config_and_names_what_it_ignores():
    from hpi.errors import ConfigError
    from hpi.runtime.selector import normal_mode_options

    def normal(config):  # (Paddle options, a note for each ignored part: load_backend logs each as a warning)
        return normal_mode_options(HPIConfig.from_user(config))

    # Paddle named: all of backend_config is Paddle's, as before; nothing to warn about.
    assert normal({"backend": "paddle", "backend_config": {"cpu_threads": 1}}) == ({"cpu_threads": 1}, [])
    # No backend named: Paddle takes its own keys (cpu_threads is PaddleX's spelling of its cpu_num_threads), the
    # rest is named as ignored, one warning each.
    options, warnings = normal({"backend_config": {"cpu_threads": 1, "cpu_num_threads": 1, "num_streams": 2,
                                                   "performance_hint": "latency"}})
    assert options == {"cpu_threads": 1, "cpu_num_threads": 1} and len(warnings) == 2
    assert "backend_config.num_streams (an option of openvino, onnxruntime) is ignored" in warnings[0]
    assert "backend_config.performance_hint (an option of openvino) is ignored" in warnings[1]
    # Another backend named: it and its options are ignored, each said once; the defaults-only keys too.
    options, warnings = normal({"backend": "openvino", "auto_config": False, "auto_paddle2onnx": False,
                                "backend_config": {"cpu_num_threads": 1}})
    assert options == {} and len(warnings) == 4
    assert "hpi_config.backend 'openvino' is ignored (it applies with use_hpip=True)" in warnings[0]
    assert "auto_config=False is ignored" in warnings[2] and "auto_paddle2onnx=False is ignored" in warnings[3]
    # Errors stay errors: a key of no backend, or a key the named backend does not take.
    with pytest.raises(ConfigError, match=r"keys \['turbo'\] are options of no backend"):
        normal({"backend": "paddle", "backend_config": {"turbo": 1}})
    with pytest.raises(ConfigError, match="unknown option 'cpu_threads' for backend 'openvino'"):
        normal({"backend": "openvino", "backend_config": {"cpu_threads": 1}})


@pytest.mark.skipif(not HAS_PADDLE, reason="normal mode is Paddle Inference")
def test_normal_mode_applies_paddle_keys_and_warns_about_the_rest(v4_paddle_dir, caplog):
    from hpi.errors import ConfigError

    with caplog.at_level(logging.WARNING, logger="hpi"):
        model = TextRecognition(model_dir=v4_paddle_dir, device="cpu",
                                hpi_config={"backend_config": {"cpu_threads": 1, "performance_hint": "latency"}})
    assert model.config["cpu_num_threads"] == 1 and "cpu_threads" not in model.config  # the one spelling
    assert model.config["device"] == "cpu"
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("hpi")]
    assert [r.getMessage() for r in warned] == [
        "normal mode runs Paddle Inference: hpi_config.backend_config.performance_hint (an option of openvino) is "
        "ignored (it applies with use_hpip=True)"]
    model.close()
    with pytest.raises(ConfigError, match=r"keys \['turbo'\] are options of no backend"):
        TextRecognition(model_dir=v4_paddle_dir, device="cpu", hpi_config={"backend_config": {"turbo": 1}})


# -- a wrong configuration is the user's to fix: ConfigError before any load, never a fall-through -------------
@pytest.mark.parametrize("backend_config, message", [
    ({"precision": "fp16"}, "ONNX Runtime runs fp16 only with execution_provider 'tensorrt'"),
    ({"execution_provider": "cuda"}, "execution_provider 'cuda' runs on a GPU, and the device is cpu"),
    ({"execution_provider": "tensorrt", "precision": "int8"}, "execution_provider 'tensorrt' runs on a GPU"),
])
def test_a_wrong_onnxruntime_configuration_is_a_config_error_before_any_load(broken_onnx_dir, backend_config,
                                                                             message):
    """The ONNX file is garbage: a load would fail with a BackendError and the selector would try the next
    candidate. The configuration is refused first (it was a ValueError inside the load, so a fall-through)."""
    from hpi.errors import ConfigError
    from hpi.runtime.backends import get_backend_class

    config = HPIConfig(backend="onnxruntime", backend_config=backend_config)
    with pytest.raises(ConfigError, match=message):
        load_backend(load_model_dir(broken_onnx_dir), Device("cpu"), True, config)
    with pytest.raises(ConfigError, match=message):  # made, not loaded
        get_backend_class("onnxruntime")(load_model_dir(broken_onnx_dir), Device("cpu"), backend_config)


def test_a_right_configuration_that_fails_to_load_is_still_a_load_failure(broken_onnx_dir):
    """Only a wrong configuration is a ConfigError: a model that will not load stays a load failure (exit 1), and
    unpinned, the selector goes on to the next candidate (test_a_backend_that_fails_to_load_falls_through)."""
    with pytest.raises(NoBackendAvailableError, match="onnxruntime: failed to load"):
        load_backend(load_model_dir(broken_onnx_dir), Device("cpu"), True, HPIConfig(backend="onnxruntime"))


def test_paddle_refuses_a_precision_its_run_mode_does_not_run(v4_paddle_dir):
    from hpi.errors import ConfigError
    from hpi.runtime.backends import get_backend_class

    paddle = get_backend_class("paddle")
    with pytest.raises(ConfigError, match=r"precision 'bf16' does not go with run_mode 'mkldnn' .*"
                                          r"bf16 is run_mode 'mkldnn_bf16'"):
        paddle(load_model_dir(v4_paddle_dir), Device("cpu"), {"precision": "bf16"})
    with pytest.raises(ConfigError, match="no run mode runs fp16"):
        paddle(load_model_dir(v4_paddle_dir), Device("cpu"), {"precision": "fp16"})
    agreed = paddle(load_model_dir(v4_paddle_dir), Device("cpu"), {"precision": "bf16", "run_mode": "mkldnn_bf16"})
    assert agreed.config["precision"] == "bf16"


def test_the_cli_exits_2_on_a_wrong_backend_config(v4_onnx_dir, samples_dir, tmp_path):
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text("backend: onnxruntime\nbackend_config:\n  precision: fp16\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "hpi", "text_recognition", "-i", str(samples_dir / "hello_world.png"),
                          "--model_dir", str(v4_onnx_dir), "--device", "cpu", "--enable_hpi", "True",
                          "--hpi_config", str(bad)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2, run.stderr
    assert "ONNX Runtime runs fp16 only with execution_provider 'tensorrt'" in run.stderr
    assert "Traceback" not in run.stderr
