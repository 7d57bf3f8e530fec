import pytest

from hpi.runtime.config import HPIConfig
from hpi.errors import ConfigError


def test_defaults_as_paddlex():
    config = HPIConfig.from_user(None)
    assert (config.auto_config, config.backend, config.backend_config, config.auto_paddle2onnx) == (True, None, {}, True)


def test_yaml_file(tmp_path):
    path = tmp_path / "hpi.yaml"
    path.write_text("backend: onnxruntime\nbackend_config:\n  cpu_num_threads: 1\n")
    config = HPIConfig.from_user(str(path))
    assert config.backend == "onnxruntime" and config.backend_config == {"cpu_num_threads": 1}


@pytest.mark.parametrize("value, message", [
    ({"backend": "tvm"}, "'tvm' is not one of"),
    ({"auto_config": "yes"}, "auto_config must be true, false or 'tune'"),
    ({"auto_paddle2onnx": 1}, "auto_paddle2onnx must be true or false"),
    ({"speed": "max"}, "unknown hpi_config key"),
    ({"auto_config": False}, "must name a backend"),
    ({"backend_config": [1]}, "must be a mapping"),
    (3, "must be a dict or a YAML file path"),
    ("/no/such/hpi.yaml", "does not exist"),
])
def test_invalid_configs_say_what_is_allowed(value, message):
    with pytest.raises(ConfigError, match=message):
        HPIConfig.from_user(value)


@pytest.mark.parametrize("kwargs, message", [
    ({"backend": "tvm"}, r"hpi_config.backend 'tvm' is not one of \['openvino', 'onnxruntime', 'paddle', 'tensorrt'\]"),
    ({"auto_config": "fast"}, "auto_config must be true, false or 'tune'"),
    ({"backend_config": {"turbo": 1}}, r"keys \['turbo'\] are options of no backend"),
    ({"auto_config": False}, "must name a backend"),
])
def test_made_in_code_it_is_checked_as_from_user(kwargs, message):
    """HPIConfig(...) itself, not only HPIConfig.from_user: a config made in code cannot skip the checks."""
    with pytest.raises(ConfigError, match=message):
        HPIConfig(**kwargs)
    assert HPIConfig(backend="onnxruntime").backend == "onnxruntime"


def test_older_spellings_are_accepted_as_backend_config_keys():
    """PaddleX's Paddle keys cpu_threads and trt_dynamic_shapes are options of the paddle backend, so a config
    written for PaddleX passes; the backend then holds them under the one spelling (tests/backends)."""
    shapes = {"x": [[1, 3, 48, 160], [1, 3, 48, 320], [8, 3, 48, 3200]]}
    config = HPIConfig(backend="paddle", backend_config={"cpu_threads": 2, "trt_dynamic_shapes": shapes})
    assert config.backend_config == {"cpu_threads": 2, "trt_dynamic_shapes": shapes}
