"""ModelSpec: the model arguments every entry point takes, checked and resolved once (hpi/runtime/model_spec.py)."""
import dataclasses
import subprocess
import sys
import textwrap

import pytest

from hpi import TextRecognition
from hpi.errors import ConfigError, ModelDirError
from hpi.runtime.config import HPIConfig
from hpi.runtime.device import Device
from hpi.runtime.model_spec import ModelSpec


def test_arguments_are_checked_with_one_message_each(v4_onnx_dir, tmp_path):
    with pytest.raises(ConfigError, match="give model_name, model_dir, or both"):
        ModelSpec.of()
    with pytest.raises(ConfigError, match="use_hpip must be True or False, got 'yes'"):
        ModelSpec.of(model_dir=v4_onnx_dir, use_hpip="yes")
    with pytest.raises(ConfigError, match=r"unknown argument\(s\) \['batch'\] for TextRecognition; allowed: "
                                          r"model_name, model_dir, device, use_hpip \(or enable_hpi\)"):
        ModelSpec.of(model_dir=v4_onnx_dir, where="TextRecognition", batch=2)
    with pytest.raises(ConfigError, match="unsupported device 'tpu'"):
        ModelSpec.of(model_dir=v4_onnx_dir, device="tpu")
    with pytest.raises(ConfigError, match="hpi_config file .* does not exist"):
        ModelSpec.of(model_dir=v4_onnx_dir, hpi_config=tmp_path / "missing.yaml")
    with pytest.raises(ModelDirError, match="does not exist or is not a directory"):
        ModelSpec.of(model_dir=tmp_path / "nowhere")
    # the predictor says the same, through the same spec
    with pytest.raises(ConfigError, match="give model_name, model_dir, or both"):
        TextRecognition()


def test_a_spec_is_resolved_once_and_frozen(v4_onnx_dir, tmp_path):
    config = tmp_path / "hpi.yaml"
    config.write_text("backend: onnxruntime\nbackend_config: {cpu_num_threads: 1}\n")
    spec = ModelSpec.of(model_dir=v4_onnx_dir, device="cpu", enable_hpi=True, hpi_config=config)
    assert (spec.device, spec.use_hpip, spec.name) == (Device("cpu"), True, "PP-OCRv4_mobile_rec")
    assert spec.hpi_config == HPIConfig(backend="onnxruntime", backend_config={"cpu_num_threads": 1})
    config.unlink()  # read once: nothing below reads it again
    assert spec.fetched() is spec  # already here, use_hpip decided
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.use_hpip = False
    with TextRecognition.from_spec(spec) as model:
        assert (model.backend, model.config["cpu_num_threads"]) == ("onnxruntime", 1)
        assert model.spec is spec


def test_engine_options_and_the_edge_default(v4_onnx_dir):
    spec = ModelSpec.of(model_dir=v4_onnx_dir, engine="openvino", where="TextRecognition")
    assert (spec.use_hpip, spec.hpi_config.backend) == (True, "openvino")
    # no use_hpip given, an ONNX-only folder: high-performance mode, decided from the folder's files
    assert ModelSpec.of(model_dir=v4_onnx_dir).use_hpip is True
    # a model known by name only is not fetched until it is needed, and use_hpip waits for its files
    by_name = ModelSpec.of(model_name="PP-OCRv4_mobile_rec", device="cpu")
    assert (by_name.model_dir, by_name.use_hpip) == (None, None)
    assert by_name.decided().use_hpip in (True, False)


def test_normal_mode_checks_its_part_of_hpi_config_before_anything_loads(v4_paddle_dir):
    with pytest.raises(ConfigError):
        ModelSpec.of(model_dir=v4_paddle_dir, use_hpip=False,
                     hpi_config={"backend": "onnxruntime", "backend_config": {"precision": "int4"}})


def test_portable_specs_make_the_same_spec_elsewhere(v4_onnx_dir):
    spec = ModelSpec.of(model_dir=v4_onnx_dir, device="cpu", use_hpip=True,
                        hpi_config={"backend_config": {"num_streams": 2}})
    again = ModelSpec.of(**spec.portable())
    assert (again.name, again.device, again.use_hpip, again.hpi_config) == \
        (spec.name, spec.device, spec.use_hpip, spec.hpi_config)
    assert again.model_dir.path == v4_onnx_dir.resolve()
    threaded = spec.with_threads(3).hpi_config.backend_config
    assert threaded["cpu_num_threads"] == 3 and threaded["num_streams"] == 2  # the caller's value wins


def test_inference_yml_and_the_hpi_config_file_are_each_read_once(v4_onnx_dir, tmp_path):
    """Counted by Python's audit hook on `open`, in a fresh process: making the spec and the predictor from it."""
    config = tmp_path / "hpi.yaml"
    config.write_text("backend: onnxruntime\n")
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        opened = []
        sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" else None)
        from hpi import TextRecognition
        model = TextRecognition(model_dir={str(v4_onnx_dir)!r}, device="cpu", use_hpip=True,
                                hpi_config={str(config)!r})
        model.predict([__import__("numpy").full((48, 160, 3), 255, "uint8")])
        model.close()
        print(opened.count({str(config)!r}), opened.count({str(v4_onnx_dir / "inference.yml")!r}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split()[-2:] == ["1", "1"]
