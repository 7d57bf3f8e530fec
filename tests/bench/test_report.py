"""The typed rows and the report written from them, with rows built here (no model, no timing)."""
import json

from PIL import Image

from hpi.bench.report import SEED_HEADER, markdown, write_report
from hpi.bench.rows import BenchmarkResult, CandidateRow, MachineInfo, ModelRace, RssTrace, Skipped, SystemRow


def candidate(**fields):
    common = dict(model="PP-OCRv4_mobile_rec", device="cpu", threads=2, model_size_mb=10.8,
                  gflop_per_line_3x48x320=1.405, kind="model", mode="hpi", backend="openvino", selected=False,
                  batch_size=1, peak_rss_mb=812.0)
    return CandidateRow(**{**common, **fields})


def system(name, **fields):
    common = dict(version=f"{name} 1.0", batch_size=8, items=400, items_per_s_first=150.0, items_per_s=200.0,
                  rounds_s=[2.667, 2.0, 2.0], latency_ms_median=6.25, latency_ms_p90=7.5, accuracy=0.8425,
                  norm_edit_dis=0.9712, accuracy_batch1=0.8425, reference="hpi normal mode",
                  same_text_as_reference=1.0)
    return SystemRow(system=name, **{**common, **fields})


def result():
    rows = [candidate(mode="normal", backend="paddle", precision="fp32", load_s=1.5, latency_ms=12.34,
                      latency_p90_ms=13.0, lines_per_s=81.0, samples=40),
            candidate(selected=True, precision="fp32", load_s=0.5, latency_ms=3.21, latency_p90_ms=3.5,
                      lines_per_s=311.5, gflops=437.7, pct_of_peak=61.0, samples=150),
            candidate(backend="onnxruntime", error="onnxruntime is not installed"),
            candidate(kind="end_to_end", selected=True, precision="fp32", load_s=0.6, latency_ms=5.0,
                      lines_per_s=200.0, accuracy=0.8425, norm_edit_dis=0.9712, lines=400)]
    race = ModelRace(model="PP-OCRv4_mobile_rec", batch_size=8, rounds=3, threads=2, baseline="hpi normal mode",
                     gflop_total=564.0, peak_gflops=720.5,
                     systems=[system("hpi", items_per_s=321.0, speedup_vs_baseline=3.21, latency_vs_baseline=0.4),
                              system("hpi normal mode", items_per_s=100.0, speedup_vs_baseline=1.0)],
                     skipped=[Skipped("paddlex", "PaddleX needs the Paddle model")],
                     hpi_config={"backend": "openvino"},
                     stages_ms={"read": 0.5, "preprocess": 0.25, "infer": 2.5, "postprocess": 0.25},
                     rss=RssTrace(items=2000, samples=[(200, 500.0), (2000, 510.5)], rss_mb_first=500.0,
                                  rss_mb_last=510.5, growth_mb_after_first=10.5))
    machine = MachineInfo(cpu="Test CPU", machine="x86_64", python="3.11.0", device="cpu",
                          versions={"openvino": "2025.4"})
    return BenchmarkResult(machine, {2: 720.5}, "lines400", rows, [race])


def test_the_tables_show_the_rows_numbers():
    table = markdown(result())
    assert SEED_HEADER in table
    assert ("| PP-OCRv4_mobile_rec (2 threads) | 84.25 | not measured | 12.34 / 3.21 | 10.8 |") in table
    assert ("| PP-OCRv4_mobile_rec | 2 | model | hpi | openvino | fp32 | yes | 1 | 3.21 | 3.50 | 311.5 | 437.7 | "
            "61 | - | - | 0.50 | 812 |") in table
    assert "| PP-OCRv4_mobile_rec | 2 | model | hpi | onnxruntime | | | 1 | failed: onnxruntime is not installed |" \
        in table
    assert ("| hpi | hpi 1.0 | 150.0 | 321.0 | 3.21 | 6.25 / 7.50 | 0.40 | 84.25 | 0.9712 | 100.00% | - | - |"
            in table)
    assert "| paddlex | not run: PaddleX needs the Paddle model |" in table
    assert "work at batch size 1: 1.41 GFLOP per line" in table and "float32 peak" in table and "720.5" in table
    assert "read 0.50 ms, preprocess 0.25 ms, infer 2.50 ms, postprocess 0.25 ms (pre- and post-processing 28.6%)" \
        in table and "pipelined, as predict runs: 3.12 ms per line." in table
    assert "Memory over 2000 lines: RSS 500.0 MB after the first 200, 510.5 MB at the end (+10.5 MB)." in table
    assert "- default throughput >= 8x the baseline: 3.210 (missed)" in table


def test_json_keys_are_the_documented_ones(tmp_path):
    write_report(result(), tmp_path)
    written = json.loads((tmp_path / "results.json").read_text("utf-8"))
    assert written == json.loads(json.dumps(result().to_dict()))
    assert set(written) == {"machine", "peak_gflops", "dataset", "rows", "races"} and written["peak_gflops"] == \
        {"2": 720.5}
    ok, _, failed, e2e = written["rows"]
    assert ok["latency_ms"] == 12.34 and ok["accuracy"] is None and ok["samples"] == 40 and "error" not in ok
    assert "lines" not in ok and "gflops" not in ok  # only where they apply
    assert failed["error"] == "onnxruntime is not installed" and failed["latency_ms"] is None
    assert e2e["lines"] == 400 and e2e["latency_p90_ms"] is None and "samples" not in e2e
    (race,) = written["races"]
    assert race["reference"] == race["baseline"] == "hpi normal mode"
    assert race["stages_ms_per_line"]["infer"] == 2.5 and race["rss"]["lines"] == 2000
    assert race["skipped"] == [{"system": "paddlex", "error": "PaddleX needs the Paddle model"}]
    hpi = race["systems"][0]
    assert (hpi["lines"], hpi["lines_per_s"], hpi["lines_per_s_first"]) == (400, 321.0, 150.0)
    assert hpi["speedup_vs_baseline"] == 3.21 and "gflops" not in hpi and "unit" not in hpi
    assert Image.open(tmp_path / "chart.png").width == 900


def test_a_row_of_images_is_spelled_in_images():
    row = system("hpi ocr", unit="image", items=30, items_per_s=12.5).to_dict()
    assert (row["images"], row["images_per_s"], row["images_per_s_first"]) == (30, 12.5, 150.0)
    assert "lines" not in row and "lines_per_s" not in row
