"""The harness's structure and arithmetic on a tiny real run (no timing is asserted)."""
import json
import shutil

import pytest
from capabilities import HAS_ONNXRUNTIME, HAS_OPENVINO, HAS_PADDLE
from helpers import DATA
from PIL import Image

from hpi._deps import is_installed
from hpi.tasks.text_recognition.metrics import accuracy, edit_distance, norm_edit_distance
from hpi.bench.report import SEED_HEADER
from hpi.cli import main

pytestmark = pytest.mark.skipif(not (HAS_PADDLE and HAS_ONNXRUNTIME and HAS_OPENVINO and is_installed("onnx")),
                                reason="the full benchmark needs the cpu and paddle extras")
REQUIRED = {"model", "device", "mode", "backend", "precision", "batch_size", "latency_ms", "latency_p90_ms",
            "lines_per_s", "accuracy", "norm_edit_dis", "model_size_mb", "load_s", "peak_rss_mb"}


@pytest.fixture(scope="module")
def run(tmp_path_factory, v4_paddle_dir, v4_onnx_dir):
    root = tmp_path_factory.mktemp("bench")
    model_dir = root / "model"
    shutil.copytree(v4_paddle_dir, model_dir)  # both formats, so normal and high-performance rows exist
    shutil.copyfile(v4_onnx_dir / "inference.onnx", model_dir / "inference.onnx")
    dataset = root / "dataset"
    (dataset / "images").mkdir(parents=True)
    rows = (DATA / "lines" / "labels.txt").read_text("utf-8").splitlines()[:6]
    for row in rows:
        shutil.copyfile(DATA / "lines" / row.split("\t")[0], dataset / row.split("\t")[0])
    (dataset / "labels.txt").write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = root / "out"
    assert main(["benchmark", "--model_dir", str(model_dir), "--output", str(out), "--dataset", str(dataset),
                 "--batch_sizes", "1,2", "--threads", "1", "--seconds", "0.05",
                 "--backends", "openvino,onnxruntime", "--race_rounds", "0"]) == 0
    return json.loads((out / "results.json").read_text()), out


def test_rows_have_the_documented_fields(run):
    result, _ = run
    assert {"cpu", "versions"} <= set(result["machine"]) and result["peak_gflops"]["1"] > 0
    rows = [r for r in result["rows"] if "error" not in r]
    assert rows and all(REQUIRED <= set(r) for r in rows)
    keys = {(r["kind"], r["mode"], r["backend"], r["batch_size"]) for r in rows}
    for kind in ("model", "end_to_end"):
        for batch_size in (1, 2):
            assert (kind, "normal", "paddle", batch_size) in keys
            assert sum(1 for r in rows if r["kind"] == kind and r["batch_size"] == batch_size and r["selected"]) == 1


def test_arithmetic(run):
    result, _ = run
    for row in (r for r in result["rows"] if r["kind"] == "model" and "error" not in r):
        assert row["lines_per_s"] == pytest.approx(row["batch_size"] * 1000 / row["latency_ms"])
        assert row["gflop_per_line_3x48x320"] == pytest.approx(1.40, rel=0.05)
        assert row["gflops"] == pytest.approx(1.405e9 * row["batch_size"] / (row["latency_ms"] / 1000) / 1e9, rel=0.01)
        assert row["pct_of_peak"] == pytest.approx(100 * row["gflops"] / result["peak_gflops"]["1"])
        assert row["latency_p90_ms"] >= row["latency_ms"] and row["threads"] == 1
    for row in (r for r in result["rows"] if r["kind"] == "end_to_end"):
        assert 0 <= row["accuracy"] <= 1 and 0 <= row["norm_edit_dis"] <= 1 and row["lines"] == 6


def test_table_and_chart(run):
    _, out = run
    table = (out / "table.md").read_text("utf-8")
    assert SEED_HEADER in table and "| PP-OCRv4_mobile_rec (1 threads) |" in table
    assert "not measured" in table  # no GPU column is invented
    chart = Image.open(out / "chart.png")
    assert chart.width == 900 and chart.height > 100


def test_metrics():
    assert edit_distance("kitten", "sitting") == 3 and edit_distance("", "abc") == 3
    assert accuracy(["a b", "x"], ["ab", "y"]) == 0.5
    assert norm_edit_distance(["abcd", ""], ["abce", ""]) == pytest.approx(1 - (0.25 + 0) / 2)
