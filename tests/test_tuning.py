"""Measured auto-tuning: structure, agreement filter, cache and reuse (timings themselves are not asserted)."""
import json
import logging

import numpy as np
import pytest
from capabilities import HAS_ONNXRUNTIME, HAS_OPENVINO

from hpi import TextRecognition
from hpi.cli import main
from hpi.runtime.device import Device
from hpi.runtime.model_dir import load_model_dir
from hpi.tasks.text_recognition.predictor import recognition_tuning_workload
from hpi.runtime.tuning import MIN_AGREEMENT, cache_dir, load_cached, tune, tune_key

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


def test_the_workload_runs_predict_itself_on_the_candidate(v4_onnx_dir, rec_on):
    """Each candidate is timed on predict's own path: the same text as predict, and the padding its precision
    gets in predict (64-px buckets in reduced precision), not the model alone on FP32 inputs."""
    from hpi.tasks.text_recognition.predictor import REDUCED_PRECISION_WIDTH_MULTIPLE, REDUCED_PRECISIONS
    from hpi.tasks.text_recognition.textlines import render_lines

    model_dir = load_model_dir(v4_onnx_dir)
    workload = recognition_tuning_workload(model_dir, 6)
    model = rec_on("openvino")
    images = [image for image, _ in render_lines(6, seed=0)]
    assert workload.size == 6
    assert workload.run(model._backend, False) == [text for text, _ in model.recognize(images, 8)]
    assert TextRecognition.on_backend(model_dir, model._backend)._width_multiple == 1
    reduced = TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=True,
                              hpi_config={"backend": "openvino", "backend_config": {"precision": "bf16"}})
    runs = reduced.config["precision"]  # bf16 where the CPU has it; OpenVINO says what it runs elsewhere
    expected = REDUCED_PRECISION_WIDTH_MULTIPLE if runs in REDUCED_PRECISIONS else 1
    assert TextRecognition.on_backend(model_dir, reduced._backend)._width_multiple == expected


@pytest.fixture(scope="module")
def det_dir(models_root):
    return models_root / "PP-OCRv4_mobile_det_onnx"


def test_each_model_dir_is_tuned_as_its_own_task(det_dir, v4_onnx_dir, models_root, tmp_path):
    import shutil

    from hpi.tasks.registry import task_of

    assert task_of(load_model_dir(det_dir)) == "text_detection"
    assert task_of(load_model_dir(v4_onnx_dir)) == "text_recognition"
    assert task_of(load_model_dir(models_root / "ppocr_mobile_v2_textline_ori_onnx")) == "textline_orientation"
    renamed = tmp_path / "my_det"  # a model name outside the catalog: told by its PostProcess
    shutil.copytree(det_dir, renamed)
    config = renamed / "inference.yml"
    config.write_text(config.read_text().replace("model_name: PP-OCRv4_mobile_det", "model_name: my_det"))
    assert task_of(load_model_dir(renamed)) == "text_detection"


def test_cli_tune_times_a_detection_model_on_pages_at_photo_and_scan_sizes(det_dir, capsys):
    """It was fed text lines: both backends failed, the command exited 0 and cached 'winner: none'."""
    assert main(["tune", "--model_dir", str(det_dir), "--device", "cpu", "--inputs", "2"]) == 0
    out = capsys.readouterr().out
    rows = {line.split(" | ")[0].strip("| "): line for line in out.splitlines() if "precision=fp32" in line}
    assert set(rows) == {"openvino", "onnxruntime"} and "ms/image, new shapes" in out
    for row in rows.values():  # both timed, and both found the same boxes
        assert "not timed" not in row and "| 100.0% |" in row and row.endswith("| yes |"), row
    cached = json.loads(open(out.rsplit("cached: ", 1)[1].strip()).read())
    assert cached["winner"]["backend"] in rows and cached["unit"] == "image"


def test_detection_workload_pages_and_the_users_photos(det_dir, det_on, ocr_images, tmp_path):
    from hpi.tasks.text_detection.pages import PAGE_SIZES, render_pages
    from hpi.tasks.tuning import WORKLOADS

    assert [page.shape[:2] for page in render_pages(3)] == list(PAGE_SIZES[:3])  # a 12 MP photo comes first
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("ppocr_00009282.jpg", "sroie_000.jpg", "ppocr_en_img_10.jpg"):
        (photos / name).write_bytes((ocr_images / name).read_bytes())
    model_dir = load_model_dir(det_dir)
    workload, validation = WORKLOADS["text_detection"](model_dir, 2, photos, False)
    assert workload.size == 2 and validation is None and workload.unit == "image"
    model = det_on("onnxruntime")
    boxes = [tuple(np.asarray(r["dt_polys"]).reshape(-1).tolist()) for r in
             model.predict([str(photos / "ppocr_00009282.jpg"), str(photos / "ppocr_en_img_10.jpg")])]
    assert workload.run(model._backend, False) == boxes  # the photos themselves, in name order
    assert main(["tune", "--model_dir", str(det_dir), "--device", "cpu", "--val_data", str(photos)]) == 0


def test_cli_tune_fails_with_each_backends_reason_and_caches_nothing(det_dir, tmp_path, capsys):
    broken = tmp_path / "broken_det"
    broken.mkdir()
    (broken / "inference.yml").write_bytes((det_dir / "inference.yml").read_bytes())
    (broken / "inference.onnx").write_bytes((det_dir / "inference.onnx").read_bytes()[:5000])  # cut short
    assert main(["tune", "--model_dir", str(broken), "--device", "cpu"]) == 1
    captured = capsys.readouterr()
    assert "winner" not in captured.out
    (message,) = [line for line in captured.err.splitlines() if line.startswith("hpi: error:")]
    assert "timed nothing" in message
    for reason in ("openvino fp32: openvino could not load", "onnxruntime fp32: onnxruntime could not load",
                   "INVALID_PROTOBUF"):
        assert reason in message, message
    assert "Exception from src" not in message  # OpenVINO's source locations are left out
    assert not list(cache_dir().glob("*.json"))


def test_cli_tune_refuses_a_task_without_a_workload(models_root, capsys):
    assert main(["tune", "--model_dir", str(models_root / "ppocr_mobile_v2_textline_ori_onnx")]) == 2
    assert "has no tuning workload" in capsys.readouterr().err
