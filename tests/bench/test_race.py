"""The end-to-end race on a tiny real run: hpi's systems side by side, a real peer where one is installed."""
import json
import os
import shutil
import sys
from pathlib import Path

import pytest
from capabilities import HAS_ONNXRUNTIME, HAS_OPENVINO, HAS_PADDLE
from helpers import DATA

from hpi.bench.race import HpiSystem, PeerSystem, add_ratios, race
from hpi.bench.report import target_lines
from hpi.bench.rows import SystemRow
from hpi.cli import main
from hpi.errors import HPIError

needs_cpu_stack = pytest.mark.skipif(not (HAS_PADDLE and HAS_ONNXRUNTIME and HAS_OPENVINO),
                                     reason="the race needs the cpu and paddle extras")
# A venv with rapidocr_onnxruntime, made by `make peers` (the Makefile's test target makes it).
RAPIDOCR_PYTHON = os.environ.get("HPI_TEST_RAPIDOCR_PYTHON", "")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("race_lines")
    (root / "images").mkdir()
    rows = (DATA / "lines" / "labels.txt").read_text("utf-8").splitlines()[:12]
    for row in rows:
        shutil.copyfile(DATA / "lines" / row.split("\t")[0], root / row.split("\t")[0])
    (root / "labels.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return root, [str(root / r.split("\t")[0]) for r in rows], [r.split("\t")[1] for r in rows]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, v4_paddle_dir, v4_onnx_dir):
    root = tmp_path_factory.mktemp("race_model") / "PP-OCRv4_mobile_rec"
    shutil.copytree(v4_paddle_dir, root)
    shutil.copyfile(v4_onnx_dir / "inference.onnx", root / "inference.onnx")
    return root


@needs_cpu_stack
def test_race_rows_ratios_and_reference(dataset, model_dir):
    _, paths, labels = dataset
    systems = [HpiSystem("hpi", model_dir, "cpu", True, None),
               HpiSystem("hpi normal mode", model_dir, "cpu", False, None)]
    try:
        rows, peak = race(systems, paths, labels, batch_size=4, rounds=2, reference="hpi normal mode",
                          peak_probe=iter([50.0, 70.0]).__next__)
    finally:
        for system in systems:
            system.close()
    assert peak == 70.0  # the best of the probes taken in each round
    add_ratios(rows, "hpi normal mode", total_gflop=20.0, peak_gflops=100.0)
    by_name = {r.system: r for r in rows}
    normal, fast = by_name["hpi normal mode"], by_name["hpi"]
    assert normal.speedup_vs_baseline == pytest.approx(1.0) and normal.latency_vs_baseline == pytest.approx(1.0)
    assert fast.speedup_vs_baseline == pytest.approx(fast.items_per_s / normal.items_per_s)
    assert fast.gflops == pytest.approx(20.0 * fast.items_per_s / 12)
    assert fast.pct_of_peak == pytest.approx(fast.gflops)  # peak 100 GFLOP/s
    for row in rows:
        assert row.items == 12 and row.unit == "line" and len(row.rounds_s) == 2
        assert row.latency_ms_p90 >= row.latency_ms_median > 0
    # the reference is normal mode's batch-1 text, which equals PaddleX's: high-performance mode matches it
    assert fast.same_text_as_reference == 1.0 and normal.same_text_as_reference == 1.0
    assert fast.accuracy == normal.accuracy == fast.accuracy_batch1


def system_row(system, **measured):
    """A race row with the fields a test sets; the rest are placeholders no target reads."""
    fields = dict(version="-", batch_size=8, items=100, items_per_s_first=1.0, items_per_s=1.0, rounds_s=[1.0],
                  latency_ms_median=1.0, latency_ms_p90=1.0, accuracy=0.0, norm_edit_dis=0.0, accuracy_batch1=0.0,
                  reference=None)
    return SystemRow(system=system, **{**fields, **measured})


def test_targets_are_judged_from_the_rows():
    systems = [
        system_row("hpi", speedup_vs_baseline=8.4, latency_vs_baseline=0.35, same_text_as_reference=0.995),
        system_row("hpi openvino bf16", items_per_s=130.0, accuracy=0.90),
        system_row("rapidocr_openvino", items_per_s=100.0, accuracy=0.895)]
    systems[0].items_per_s, systems[0].accuracy = 60.0, 0.835
    systems.append(system_row("hpi openvino int8", items_per_s=80.0, accuracy=0.82))
    lines = target_lines(systems)
    assert lines == ["- default throughput >= 8x the baseline: 8.400 (met)",
                     "- default batch-1 latency <= 0.3x the baseline's: 0.350 (missed)",
                     "- default same text as the reference >= 99%: 0.995 (met)",
                     "- bf16 throughput >= 1.3x RapidOCR-OpenVINO: 1.300 (met)",
                     "- bf16 accuracy >= RapidOCR-OpenVINO's: 1.006 (met)",
                     "- INT8 throughput >= 1.3x hpi FP32: 1.333 (met)",
                     "- INT8 accuracy within 1.0 point of hpi FP32: -0.015 (missed)"]


def test_a_peer_that_cannot_start_says_why(model_dir):
    # this interpreter has hpi's stack, not RapidOCR: the worker reports the import failure as an error line
    with pytest.raises(HPIError, match="peer 'rapidocr_openvino'.*could not start.*rapidocr_openvino"):
        PeerSystem("rapidocr_openvino", sys.executable, model_dir, "PP-OCRv4_mobile_rec")
    with pytest.raises(HPIError, match="cannot start"):
        PeerSystem("paddlex", str(Path("/nonexistent/python")), model_dir, "PP-OCRv4_mobile_rec")


def test_cli_refuses_bad_peer_specs(dataset, model_dir, tmp_path, capsys):
    root, _, _ = dataset
    assert main(["benchmark", "--model_dir", str(model_dir), "--output", str(tmp_path), "--dataset", str(root),
                 "--peer", "tesseract=/usr/bin/python3"]) == 2
    assert "expected SYSTEM=PYTHON with SYSTEM one of paddlex" in capsys.readouterr().err
    assert main(["benchmark", "--model_dir", str(model_dir), "--output", str(tmp_path),
                 "--peer", "paddlex=/usr/bin/python3"]) == 2
    assert "give --dataset too" in capsys.readouterr().err


@needs_cpu_stack
@pytest.mark.skipif(not RAPIDOCR_PYTHON, reason="no RapidOCR venv (make peers)")
def test_race_against_a_real_rapidocr(dataset, model_dir, tmp_path):
    root, _, labels = dataset
    out = tmp_path / "out"
    assert main(["benchmark", "--model_dir", str(model_dir), "--output", str(out), "--dataset", str(root),
                 "--no_model_rows", "--race_rounds", "1", "--race_batch_size", "4", "--rss_lines", "24",
                 "--peer", f"rapidocr_onnxruntime={RAPIDOCR_PYTHON}"]) == 0
    result = json.loads((out / "results.json").read_text("utf-8"))
    (race_result,) = result["races"]
    by_name = {r["system"]: r for r in race_result["systems"]}
    from hpi.runtime.device import cpu_capabilities

    bf16 = {"hpi openvino bf16"} if cpu_capabilities().bf16 else set()  # offered only where the CPU has bf16
    assert set(by_name) == {"hpi", "hpi normal mode", "rapidocr_onnxruntime"} | bf16
    if not bf16:
        assert any(s["system"] == "hpi openvino bf16" and "no bf16" in s["error"] for s in race_result["skipped"])
    peer = by_name["rapidocr_onnxruntime"]
    assert peer["version"] == "rapidocr-onnxruntime 1.4.4"
    # RapidOCR runs the upstream ONNX export of the same model: the same text on these clean lines
    assert peer["same_text_as_reference"] >= 0.9 and abs(peer["accuracy"] - by_name["hpi"]["accuracy"]) <= 0.1
    assert race_result["reference"] == "hpi normal mode"
    stages = race_result["stages_ms_per_line"]
    assert set(stages) == {"read", "preprocess", "infer", "postprocess"} and stages["infer"] > stages["postprocess"] > 0
    assert race_result["rss"]["lines"] == 24 and len(race_result["rss"]["samples"]) == 12
    table = (out / "table.md").read_text("utf-8")
    assert "| rapidocr_onnxruntime | rapidocr-onnxruntime 1.4.4 |" in table and "Targets:" in table


RAPIDOCR3_PYTHON = os.environ.get("HPI_TEST_RAPIDOCR3_PYTHON", "")


@needs_cpu_stack
@pytest.mark.skipif(not RAPIDOCR3_PYTHON, reason="no RapidOCR 3.x venv (make peers)")
@pytest.mark.parametrize("engine", ["onnxruntime", "openvino"])
def test_rapidocr3_runs_the_same_onnx_file_as_hpi(dataset, model_dir, engine):
    """RapidOCR 3.x's recognizer on the model dir's own inference.onnx (and its dictionary), as a race peer."""
    _, paths, _ = dataset
    peer = PeerSystem(f"rapidocr3_{engine}", RAPIDOCR3_PYTHON, model_dir, "PP-OCRv4_mobile_rec")
    hpi = HpiSystem("hpi", model_dir, "cpu", True, {"backend": "onnxruntime"})
    try:
        assert peer.version == f"rapidocr 3.10.0 {engine}"
        texts, seconds = peer.run(paths, 4)
        expected, _ = hpi.run(paths, 4)
        assert seconds > 0 and len(texts) == len(paths)
        # the same model file: the same text on these clean lines (RapidOCR pads each batch to its widest line)
        assert sum(a == b for a, b in zip(texts, expected)) >= len(paths) - 1
    finally:
        peer.close()
        hpi.close()


@needs_cpu_stack
@pytest.mark.skipif(not RAPIDOCR3_PYTHON, reason="no RapidOCR 3.x venv (make peers)")
def test_the_rapidocr_names_run_rapidocr3_where_only_it_is_installed(model_dir):
    """`--peer rapidocr_openvino=PY` with a RapidOCR 3.x environment (no 1.x package) races 3.x's OpenVINO engine."""
    peer = PeerSystem("rapidocr_openvino", RAPIDOCR3_PYTHON, model_dir, "PP-OCRv4_mobile_rec")
    try:
        assert peer.version == "rapidocr 3.10.0 openvino"
    finally:
        peer.close()
