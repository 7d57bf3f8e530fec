"""Measured auto-tuning: structure, agreement filter, cache and reuse (timings themselves are not asserted)."""
import json
import logging

import pytest
from capabilities import HAS_ONNXRUNTIME, HAS_OPENVINO

from hpi import TextRecognition
from hpi.cli import main
from hpi.runtime.device import Device
from hpi.runtime.model_dir import load_model_dir
from hpi.tasks.text_recognition.predictor import recognition_tuning_workload
from hpi.runtime.tuning import MIN_AGREEMENT, load_cached, tune, tune_key

pytestmark = pytest.mark.skipif(not (HAS_OPENVINO and HAS_ONNXRUNTIME), reason="needs both CPU runtimes")


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HPI_CACHE_HOME", str(tmp_path / "cache"))


def test_tune_times_candidates_filters_by_agreement_and_caches(v4_onnx_dir):
    model_dir = load_model_dir(v4_onnx_dir)
    result = tune(model_dir, Device("cpu"), recognition_tuning_workload(model_dir, 8), rounds=1)
    backends = [(c.backend, c.options.get("precision")) for c in result.candidates]
    assert ("openvino", "fp32") in backends and ("onnxruntime", "fp32") in backends
    reference = result.candidates[0]
    assert reference.agreement == 1.0 and reference.kept  # the FP32 reference agrees with itself
    for timing in result.candidates:
        assert timing.gate is None  # no validation data: nothing reduced-precision was judged, or timed
        assert timing.kept == (timing.error is None and timing.agreement >= MIN_AGREEMENT)
    assert result.winner is not None and result.winner.kept
    assert result.winner.ms_per_input == min(c.ms_per_input for c in result.candidates if c.kept)
    assert load_cached(model_dir, Device("cpu"))["winner"]["backend"] == result.winner.backend


def test_cache_key_covers_the_model(v4_onnx_dir, models_root):
    assert tune_key(load_model_dir(v4_onnx_dir), Device("cpu")) != \
        tune_key(load_model_dir(models_root / "PP-OCRv6_tiny_rec"), Device("cpu"))


def test_auto_config_tune_reuses_the_cached_winner(v4_onnx_dir, caplog):
    with caplog.at_level(logging.INFO, logger="hpi"):
        first = TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=True, hpi_config={"auto_config": "tune"})
    assert "timing the candidate backends" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="hpi"):
        second = TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=True, hpi_config={"auto_config": "tune"})
    assert "timing the candidate backends" not in caplog.text and "measured fastest" in caplog.text
    winner = load_cached(load_model_dir(v4_onnx_dir), Device("cpu"))["winner"]
    assert first.backend == second.backend == winner["backend"]


def test_cli_tune_prints_a_table(v4_onnx_dir, capsys):
    assert main(["tune", "--model_dir", str(v4_onnx_dir), "--device", "cpu", "--lines", "4"]) == 0
    out = capsys.readouterr().out
    assert "| openvino |" in out and "winner:" in out and "cached:" in out
    cached_path = out.rsplit("cached: ", 1)[1].strip()
    assert json.loads(open(cached_path).read())["min_agreement"] == MIN_AGREEMENT


def test_bf16_is_offered_only_on_a_cpu_with_bf16_and_judged_only_on_validation_data(v4_onnx_dir, monkeypatch):
    import hpi.runtime.device
    from hpi.runtime.tuning import reduced_candidates

    model_dir = load_model_dir(v4_onnx_dir)
    without = hpi.runtime.device.CPUCapabilities(int8_dot=True, bf16=False, amx=False)
    monkeypatch.setattr(hpi.runtime.device, "cpu_capabilities", lambda: without)
    reasons = {(c.backend, c.options.get("precision") or c.options.get("run_mode")): r
               for c, r in reduced_candidates(model_dir, Device("cpu"))}
    assert "no bf16 instructions" in reasons[("openvino", "bf16")]
    assert "hpi quantize" in reasons[("openvino", "int8")]  # no gated INT8 model in this dir

    with_bf16 = hpi.runtime.device.CPUCapabilities(int8_dot=True, bf16=True, amx=False)
    monkeypatch.setattr(hpi.runtime.device, "cpu_capabilities", lambda: with_bf16)
    result = tune(model_dir, Device("cpu"), recognition_tuning_workload(model_dir, 4), rounds=1)
    bf16 = next(t for t in result.candidates if t.options.get("precision") == "bf16")
    assert "--val_data" in bf16.error and not bf16.kept and bf16.ms_per_input is None


def test_the_workload_runs_predict_itself_on_the_candidate(v4_onnx_dir):
    """Each candidate is timed on predict's own path: the same text as predict, and the padding its precision
    gets in predict (64-px buckets in reduced precision), not the model alone on FP32 inputs."""
    from hpi.tasks.text_recognition.predictor import REDUCED_PRECISION_WIDTH_MULTIPLE, REDUCED_PRECISIONS
    from hpi.tasks.text_recognition.textlines import render_lines

    model_dir = load_model_dir(v4_onnx_dir)
    workload = recognition_tuning_workload(model_dir, 6)
    model = TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=True, hpi_config={"backend": "openvino"})
    images = [image for image, _ in render_lines(6, seed=0)]
    assert workload.size == 6
    assert workload.run(model._backend, False) == [text for text, _ in model.recognize(images, 8)]
    assert TextRecognition.on_backend(model_dir, model._backend)._width_multiple == 1
    reduced = TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=True,
                              hpi_config={"backend": "openvino", "backend_config": {"precision": "bf16"}})
    runs = reduced.config["precision"]  # bf16 where the CPU has it; OpenVINO says what it runs elsewhere
    expected = REDUCED_PRECISION_WIDTH_MULTIPLE if runs in REDUCED_PRECISIONS else 1
    assert TextRecognition.on_backend(model_dir, reduced._backend)._width_multiple == expected
