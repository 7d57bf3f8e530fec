"""INT8 for OpenVINO on the real PP-OCRv4 model and real line crops (tests/data/real_lines), through `hpi quantize`,
then run by the backend and by TextRecognition only because its gate held."""
import json
import shutil

import pytest

from capabilities import CPU_HAS_AMX_INT8
from helpers import DATA, texts
from hpi import TextRecognition
from hpi.cli import main
from hpi.errors import QuantizationError
from hpi.runtime.model_dir import load_model_dir
from hpi.runtime.quantization import quantize_model, read_record
from hpi.tasks.text_recognition.calibration import read_lines, recognition_workload

pytest.importorskip("nncf")
REAL = DATA / "real_lines"


@pytest.fixture(scope="module")
def quantized(tmp_path_factory, v4_onnx_dir):
    """A copy of the ONNX model dir, quantized by the CLI: calibration on the first 24 crops, validation (their
    pseudo-labels) on the other 16, a gate wide enough that the full INT8 model holds it."""
    root = tmp_path_factory.mktemp("int8")
    model = root / "model"
    model.mkdir()
    for name in ("inference.onnx", "inference.yml"):
        shutil.copyfile(v4_onnx_dir / name, model / name)
    rows = (REAL / "labels.txt").read_text("utf-8").splitlines()
    for name, part in (("calib", rows[:24]), ("val", rows[24:]), ("small", rows[24:30])):
        (root / name / "images").mkdir(parents=True)
        for row in part:
            shutil.copyfile(REAL / row.split("\t")[0], root / name / row.split("\t")[0])
        (root / name / "labels.txt").write_text("\n".join(part) + "\n", "utf-8")
    code = main(["quantize", "--model_dir", str(model), "--calib_data", str(root / "calib"),
                 "--val_data", str(root / "val"), "--max_drop", "100"])
    assert code == 0
    return root, model


def test_quantize_writes_the_int8_model_with_its_record(quantized, capsys):
    root, model = quantized
    record = read_record(model / "inference.int8.xml")
    assert (model / "inference.int8.xml").is_file() and (model / "inference.int8.bin").is_file()
    assert record["gate"]["passed"] and record["data"]["labelled"]
    assert record["data"]["calibration_items"] == 24 and record["data"]["validation_items"] == 16
    assert record["float_layers"] == [] and record["layers"] > 40  # every Conv/MatMul of PP-OCRv4 mobile
    assert set(record["files"]) == {"inference.int8.xml", "inference.int8.bin"}
    assert 0 < record["int8"]["accuracy"] <= 100 and record["fp32"]["agreement"] == 100
    assert record["timing"]["speedup"] > 0 and record["fp32_sha256"]
    # the same data and settings again: reused, not redone
    assert main(["quantize", "--model_dir", str(model), "--calib_data", str(root / "calib"),
                 "--val_data", str(root / "val"), "--max_drop", "100"]) == 0
    assert "reused" in capsys.readouterr().out


def test_int8_predictor_keeps_most_fp32_text(quantized):
    root, model = quantized
    paths, _ = read_lines(root / "val")
    fp32 = TextRecognition(model_dir=str(model), use_hpip=True, hpi_config={"backend": "openvino"})
    int8 = TextRecognition(model_dir=str(model), use_hpip=True,
                           hpi_config={"backend": "openvino", "backend_config": {"precision": "int8"}})
    assert int8.config["precision"] == "int8" and int8.config["float_layers_precision"] == "fp32"
    # on an AMX int8 CPU one compilation per input shape, as the gate ran it (dynamic shapes read garbage there)
    assert int8.config["static_shapes"] == CPU_HAS_AMX_INT8
    # as its gate judged it: one latency compilation (a throughput one broke a mixed-precision model)
    assert (int8.config["num_streams"], int8.config["performance_hint"]) == (1, "latency")
    expected, got = texts(fp32.predict(paths)), texts(int8.predict(paths))
    record = read_record(model / "inference.int8.xml")
    same = 100 * sum(a == b for a, b in zip(expected, got)) / len(got)
    assert same == pytest.approx(record["int8"]["agreement"])  # what the gate measured is what runs
    assert same >= 50  # 68.75% (11 of 16) on an AVX2 host without VNNI; a broken model reads ~nothing right
    # (0% on an AMX Xeon before static shapes)
    asked = TextRecognition(model_dir=str(model), use_hpip=True, hpi_config={
        "backend": "openvino", "backend_config": {"precision": "int8", "num_streams": 2}})
    assert asked.config["num_streams"] == 1 and texts(asked.predict(paths)) == got


def test_a_gate_no_model_holds_writes_nothing(quantized, v4_onnx_dir, tmp_path):
    """max_drop 0 against FP32 text on lines where the full INT8 model changes some: either a model with layers in
    float keeps every line, or the refusal leaves the model dir as it was."""
    root, _ = quantized
    for name in ("inference.onnx", "inference.yml"):
        shutil.copyfile(v4_onnx_dir / name, tmp_path / name)
    model_dir = load_model_dir(tmp_path)
    workload = recognition_workload(model_dir, root / "small", root / "small")  # 6 lines: the search stays short
    workload.labelled = False  # agreement with FP32 on every line is the gate
    try:
        record = quantize_model(model_dir, workload, max_drop=0)
    except QuantizationError as refused:
        assert "nothing written" in str(refused)
        left = sorted(p.name for p in tmp_path.iterdir() if p.name != ".inference.int8.xml.lock")  # the lock stays
        assert left == ["inference.onnx", "inference.yml"]
    else:
        assert record["int8"]["agreement"] == 100
        assert json.loads((tmp_path / "inference.int8.xml.hpi.json").read_text())["gate"]["passed"]


def test_tune_considers_the_gated_int8_model(quantized, tmp_path, monkeypatch):
    from hpi.runtime.device import Device
    from hpi.tasks.text_recognition.predictor import recognition_tuning_workload
    from hpi.runtime.tuning import tune

    monkeypatch.setenv("HPI_CACHE_HOME", str(tmp_path))
    _, model = quantized
    result = tune(load_model_dir(model), Device("cpu"), recognition_tuning_workload(load_model_dir(model), 4), rounds=1)
    int8 = next(t for t in result.candidates if t.backend == "openvino" and t.options.get("precision") == "int8")
    assert int8.error is None and int8.gate["passed"] and int8.gate["judged_by"] == "hpi quantize"
    assert int8.kept  # its gate held on the user's data when it was made; rendered lines do not overrule it
    assert not any(t.options.get("precision") == "int8" and t.backend == "onnxruntime" for t in result.candidates)
