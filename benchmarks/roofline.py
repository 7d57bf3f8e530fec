#!/usr/bin/env python3
"""Roofline of text recognition on this CPU: what the FP32 limit really is, and how close hpi's default path is.

In one run: the machine (CPU model, ISA flags, versions); peaks probed now (fp32 matmul in ONNX Runtime, as
hpi.bench.flops does, and in OpenVINO; bf16 matmul in OpenVINO; bandwidth of an OpenVINO Add at L2-, L3- and
DRAM-sized tensors and of a numpy copy); OpenVINO's per-node profile (PERF_COUNT) of one line at each width, in f32
and bf16, latency hint, 2 threads, as hpi compiles it: per op kind time, share, FLOPs, bytes, intensity and the
roof that bounds it; the roofline time (sum over nodes of max(FLOPs/peak, bytes/bandwidth)) against the measured
time and the naive FLOPs/fp32-peak limit; OpenVINO's per-new-shape preparation; and end to end, the lines through
TextRecognition.predict twice per configuration, each in a fresh process (peak RSS). Writes roofline.json and
roofline.md under --output and prints the markdown.

    nice -n 0 .venv/bin/python benchmarks/roofline.py --dataset /tmp/lines400 --output output/roofline
"""
from __future__ import annotations

import argparse, json, platform, statistics, subprocess, sys, time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from hpi.bench.flops import count_flops, matmul_peak_gflops  # noqa: E402

THREADS = 2  # this machine's cores; hpi's default for OpenVINO here
MODEL = REPO / ".cache" / "test_models" / "PP-OCRv4_mobile_rec_onnx"
FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
E2E = {"openvino fp32, shape cache 64 (hpi default)": {"backend": "openvino"},
       "openvino fp32, shape cache 5000 (OpenVINO default)":
           {"backend": "openvino", "backend_config": {"shape_cache_capacity": 5000}},
       "onnxruntime fp32": {"backend": "onnxruntime"}}


def best_seconds(fn, seconds=1.0, at_least=3):
    fn()
    times, deadline = [], time.perf_counter() + seconds
    while time.perf_counter() < deadline or len(times) < at_least:
        start = time.perf_counter(); fn(); times.append(time.perf_counter() - start)
    return min(times)


def machine():
    info = Path("/proc/cpuinfo").read_text()
    model = next(line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name"))
    flags = set(next(line for line in info.splitlines() if line.startswith("flags")).split())
    import onnxruntime, openvino
    return {"cpu": model, "flags": {f: f in flags for f in FLAGS}, "threads": THREADS, "date": time.ctime(),
            "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
            "python": platform.python_version(), "numpy": np.__version__, "onnxruntime": onnxruntime.__version__,
            "openvino": openvino.__version__}


def ov_compile(model, precision, **extra):
    import openvino as ov
    return ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT":
                                                  "LATENCY", "INFERENCE_NUM_THREADS": THREADS, **extra})


def ov_matmul_gflops(precision, n):
    import openvino as ov, openvino.opset13 as ops
    a = ops.parameter([n, n], np.float32)
    b = ops.constant(np.random.default_rng(0).standard_normal((n, n), np.float32))
    request = ov_compile(ov.Model([ops.matmul(a, b, False, False)], [a]), precision).create_infer_request()
    x = np.random.default_rng(1).standard_normal((n, n), np.float32)
    return 2.0 * n ** 3 / best_seconds(lambda: request.infer({0: x}, share_inputs=True, share_outputs=True)) / 1e9


def ov_add_gbs(mbytes, runs=20):
    """GB/s of an OpenVINO Add of two mbytes tensors (3 x mbytes moved), timed by its own PERF_COUNT, as the
    model's nodes are (no call overhead)."""
    import openvino as ov, openvino.opset13 as ops
    n = int(mbytes * 2 ** 20 / 4)
    a, b = ops.parameter([n], np.float32), ops.parameter([n], np.float32)
    request = ov_compile(ov.Model([ops.add(a, b)], [a, b]), "f32", PERF_COUNT=True).create_infer_request()
    x, best = np.ones(n, np.float32), float("inf")
    for _ in range(runs):
        request.infer({0: x, 1: x}, share_inputs=True, share_outputs=True)
        best = min(best, sum(i.real_time.total_seconds() for i in request.profiling_info if i.node_type != "Parameter"
                             and i.real_time.total_seconds() > 0))
    return 3 * n * 4 / best / 1e9


def peaks():
    src, dst = np.ones(2 ** 27, np.float32), np.empty(2 ** 27, np.float32)  # 512 MiB each
    return {"fp32_ort_matmul_gflops": matmul_peak_gflops(THREADS, 1024),
            "fp32_ov_matmul_gflops": ov_matmul_gflops("f32", 1024),
            "bf16_ov_matmul_gflops": ov_matmul_gflops("bf16", 2048),
            "bw_l2_gbs": ov_add_gbs(1), "bw_l3_gbs": ov_add_gbs(16), "bw_dram_gbs": ov_add_gbs(512),
            "numpy_copy_gbs": 2 * src.nbytes / best_seconds(lambda: np.copyto(dst, src)) / 1e9}


def node_work(op, size):
    """(FLOPs, bytes) of one node of OpenVINO's runtime model: 2 x multiply-adds of Convolution (weights
    [Cout, Cin/g, kh, kw] or [g, Cout/g, Cin/g, kh, kw]), FullyConnected and MatMul; bytes = every input and
    output at the node's precision."""
    shapes = [list(port.get_partial_shape().to_shape()) for port in op.inputs()]
    out = list(op.output(0).get_partial_shape().to_shape())
    kind = op.get_rt_info()["layerType"].astype(str)
    flops = 0.0
    if kind == "Convolution" and len(shapes) > 1:
        weight = shapes[1]
        flops = 2.0 * np.prod(out) * np.prod(weight[-3:] if len(weight) == 5 else weight[1:])
    elif kind in ("FullyConnected", "MatMul"):
        flops = 2.0 * np.prod(out) * shapes[0][-1]
    return float(flops), float((sum(np.prod(s) for s in shapes) + np.prod(out)) * size)


def op_key(item):
    """Op kind as the tables show it: 1x1 and 3x3 convolutions apart, depthwise as GroupConvolution."""
    if item.node_type == "Convolution":
        return "Convolution 1x1" if "1x1" in item.exec_type else "Convolution kxk"
    return item.node_type


def profile(model, precision, width, peak, bandwidth, runs=30):
    """Per op kind of one 1x3x48xwidth line: time (each node's best of `runs`, as the peaks are best-of), FLOPs,
    bytes, roofline time (bandwidth: L2's for a node moving <= 3 MiB, else L3's)."""
    compiled = ov_compile(model, precision, PERF_COUNT=True, CPU_RUNTIME_CACHE_CAPACITY=64)
    request = compiled.create_infer_request()
    x = np.random.default_rng(0).random((1, 3, 48, width), np.float32)
    for _ in range(5):
        request.infer({0: x})
    walls, per_node = [], {}
    for _ in range(runs):
        start = time.perf_counter(); request.infer({0: x}); walls.append(time.perf_counter() - start)
        for item in request.profiling_info:
            if item.real_time.total_seconds() > 0:
                per_node.setdefault(item.node_name, (item, []))[1].append(item.real_time.total_seconds())
    nodes = {op.get_friendly_name(): op for op in compiled.get_runtime_model().get_ordered_ops()}
    kinds = {}
    for name, (item, times) in per_node.items():
        op = nodes.get(name)
        size = 2 if op is not None and "bf16" in op.get_rt_info()["runtimePrecision"].astype(str) else 4
        flops, nbytes = node_work(op, size) if op is not None else (0.0, 0.0)
        roof_bw = bandwidth["bw_l2_gbs"] if nbytes <= 3 * 2 ** 20 else bandwidth["bw_l3_gbs"]
        compute_s, memory_s = flops / (peak[size] * 1e9), nbytes / (roof_bw * 1e9)
        row = kinds.setdefault(op_key(item), dict.fromkeys(("nodes", "ms", "gflop", "mb", "roof_ms",
                                                             "compute_bound_ms"), 0.0))
        row["nodes"] += 1
        row["ms"] += min(times) * 1e3
        row["gflop"] += flops / 1e9
        row["mb"] += nbytes / 1e6
        row["roof_ms"] += max(compute_s, memory_s) * 1e3
        row["compute_bound_ms"] += compute_s * 1e3 if compute_s >= memory_s else 0.0
    total_ms = sum(row["ms"] for row in kinds.values())
    for row in kinds.values():
        row["share"] = row["ms"] / total_ms
        row["flop_per_byte"] = row["gflop"] * 1e3 / row["mb"] if row["mb"] else 0.0
        row["achieved_gflops"] = row["gflop"] / row["ms"] * 1e3 if row["ms"] else 0.0
        row["achieved_gbs"] = row["mb"] / row["ms"] if row["ms"] else 0.0
        row["bound"] = "compute" if row["compute_bound_ms"] > row["roof_ms"] / 2 else "memory"
    return {"wall_ms": min(walls) * 1e3, "wall_median_ms": statistics.median(walls) * 1e3, "profiled_ms": total_ms,
            "roof_ms": sum(row["roof_ms"] for row in kinds.values()),
            "gflop": sum(row["gflop"] for row in kinds.values()),
            "ops": dict(sorted(kinds.items(), key=lambda kv: -kv[1]["ms"]))}


def shape_preparation(model, precision, widths):
    """ms the first inference at a new width costs over a repeated one (1 line, hpi's shape-cache bound)."""
    request = ov_compile(model, precision, CPU_RUNTIME_CACHE_CAPACITY=64).create_infer_request()
    request.infer({0: np.zeros((1, 3, 48, 100), np.float32)})
    extra = []
    for width in widths:
        x = np.zeros((1, 3, 48, width), np.float32)
        start = time.perf_counter(); request.infer({0: x}); first = time.perf_counter() - start
        extra.append((first - best_seconds(lambda: request.infer({0: x}), 0.2)) * 1e3)
    return {"widths": list(widths), "extra_ms": extra, "median_extra_ms": statistics.median(extra)}


def dataset_gflop(dataset, gflop_at):
    """Mean GFLOP a line of the dataset needs at its own width (hpi's target_width, no batch padding); FLOPs
    are linear in width: fitted through the profiled widths."""
    import cv2
    from hpi.tasks.text_recognition.preprocess import target_width
    (w1, f1), (w2, f2) = sorted(gflop_at.items())[:1] + sorted(gflop_at.items())[-1:]
    widths = [target_width(*cv2.imread(str(Path(dataset) / line.split("\t")[0])).shape[:2])
              for line in (Path(dataset) / "labels.txt").read_text().splitlines() if line.strip()]
    return statistics.mean(f1 + (f2 - f1) / (w2 - w1) * (w - w1) for w in widths), len(set(widths))


def e2e_child(dataset, hpi_config):
    import hpi
    paths = [str(Path(dataset) / line.split("\t")[0]) for line in (Path(dataset) / "labels.txt").read_text()
             .splitlines() if line.strip()]
    task = hpi.TextRecognition(model_dir=str(MODEL), use_hpip=True, hpi_config=hpi_config)
    rates = []
    for _ in range(3):
        start = time.perf_counter(); task.predict(paths, batch_size=8)
        rates.append(len(paths) / (time.perf_counter() - start))
    config = task.config
    print(json.dumps({"lines": len(paths), "first_pass_lines_s": rates[0], "repeat_pass_lines_s": max(rates[1:]),
                      "precision": config.get("precision"), "backend": config.get("backend"),
                      "peak_rss_mb": peak_rss_mb()}))


def peak_rss_mb():
    """VmHWM: this process's own peak (ru_maxrss would count the parent's, which forked it)."""
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


def end_to_end(dataset, rounds):
    """Each configuration in a fresh process, `rounds` times interleaved; the best rates and the highest RSS."""
    runs = {name: [] for name in E2E}
    for _ in range(rounds):
        for name, hpi_config in E2E.items():
            out = subprocess.run([sys.executable, __file__, "--e2e_child", json.dumps(hpi_config), "--dataset",
                                  dataset], capture_output=True, text=True, check=True).stdout
            runs[name].append(json.loads(out.strip().splitlines()[-1]))
    return {name: {**got[0], **{key: max(run[key] for run in got) for key in got[0] if key.endswith(("_s", "_mb"))},
                   "runs": got} for name, got in runs.items()}


def markdown(r):
    m, p = r["machine"], r["peaks"]
    lines = [f"# Roofline, PP-OCRv4_mobile_rec, {m['date']}", "",
             f"CPU: {m['cpu']}, {m['threads']} threads; flags: " + ", ".join(f for f, on in m["flags"].items()
                                                                        if on),
             f"OpenVINO {m['openvino']}, ONNX Runtime {m['onnxruntime']}, numpy {m['numpy']}; {m['uptime']}", "",
             "| peak | value |", "|---|---|"] + [f"| {k} | {v:.1f} |" for k, v in p.items()]
    for key, prof in r["profiles"].items():
        lines += ["", f"## {key}: wall {prof['wall_ms']:.2f} ms, profiled {prof['profiled_ms']:.2f} ms, roofline "
                      f"{prof['roof_ms']:.2f} ms, {prof['gflop']:.3f} GFLOP, naive fp32 limit "
                      f"{prof['naive_ms']:.2f} ms ({prof['naive_pct']:.0f}% of it reached; "
                      f"{prof['achieved_gflops']:.0f} GFLOP/s, {prof['pct_of_ov_fp32_peak']:.0f}% of OpenVINO's fp32 "
                      f"matmul peak), roofline "
                      f"{prof['roof_pct']:.0f}% of measured", "",
                  "| op | nodes | ms | share | GFLOP | MB | FLOP/B | GFLOP/s | GB/s | roof ms | bound |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {op} | {o['nodes']:.0f} | {o['ms']:.2f} | {o['share']:.0%} | {o['gflop']:.3f} | {o['mb']:.1f} "
                  f"| {o['flop_per_byte']:.1f} | {o['achieved_gflops']:.1f} | {o['achieved_gbs']:.1f} | "
                  f"{o['roof_ms']:.2f} | {o['bound']} |" for op, o in prof["ops"].items() if o["share"] >= 0.01]
    for key, prep in r["shape_preparation"].items():
        lines += ["", f"Per-new-width preparation ({key}): median {prep['median_extra_ms']:.1f} ms over widths "
                      f"{prep['widths']} ({', '.join(f'{v:.1f}' for v in prep['extra_ms'])})"]
    lines += ["", "| end to end (batch 8; best of fresh processes) | lines | pass 1 lines/s | passes 2-3 lines/s | peak RSS MB |",
              "|---|---|---|---|---|"]
    d = r["dataset"]
    lines += [f"| naive limit: FLOPs / fp32 peak ({d['mean_gflop_per_line']:.2f} GFLOP a line, "
              f"{d['distinct_widths']} widths) | | {d['naive_fp32_lines_s']:.0f} | {d['naive_fp32_lines_s']:.0f} | |"]
    lines += [f"| {k} ({v['backend']} {v['precision']}) | {v['lines']} | {v['first_pass_lines_s']:.1f} | "
              f"{v['repeat_pass_lines_s']:.1f} | {v['peak_rss_mb']:.0f} |" for k, v in r["end_to_end"].items()]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="/tmp/lines400", help="a folder with labels.txt")
    parser.add_argument("--widths", default="320,640")
    parser.add_argument("--rounds", type=int, default=3, help="peaks and profiles: the best of this many rounds; "
                        "end to end: of rounds - 1 fresh processes a configuration (the machine may be shared)")
    parser.add_argument("--output", default="output/roofline")
    parser.add_argument("--e2e_child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.e2e_child:
        return e2e_child(args.dataset, json.loads(args.e2e_child))
    import openvino as ov
    model = ov.Core().read_model(str(MODEL / "inference.onnx"))
    rounds = [peaks() for _ in range(args.rounds)]
    result = {"machine": machine(), "peaks": {key: max(r[key] for r in rounds) for key in rounds[0]}, "profiles": {}}
    p = result["peaks"]
    peak = {4: max(p["fp32_ort_matmul_gflops"], p["fp32_ov_matmul_gflops"]), 2: p["bf16_ov_matmul_gflops"]}
    for width in map(int, args.widths.split(",")):
        flops = count_flops(MODEL / "inference.onnx", (1, 3, 48, width))["total"]
        for precision in ("f32", "bf16"):
            prof = min((profile(model, precision, width, peak, p) for _ in range(args.rounds)),
                       key=lambda candidate: candidate["wall_ms"])
            prof["onnx_gflop"] = flops / 1e9
            prof["naive_ms"] = flops / (p["fp32_ort_matmul_gflops"] * 1e9) * 1e3
            prof["naive_pct"] = 100 * prof["naive_ms"] / prof["wall_ms"]
            prof["achieved_gflops"] = flops / 1e9 / prof["wall_ms"] * 1e3
            prof["pct_of_ov_fp32_peak"] = 100 * prof["achieved_gflops"] / p["fp32_ov_matmul_gflops"]
            prof["roof_pct"] = 100 * prof["roof_ms"] / prof["wall_ms"]
            result["profiles"][f"{precision} 1x3x48x{width}"] = prof
    widths = [200 + 37 * i for i in range(10)]
    result["shape_preparation"] = {prec: shape_preparation(model, prec, widths) for prec in ("f32", "bf16")}
    result["end_to_end"] = end_to_end(args.dataset, max(1, args.rounds - 1))
    gflop_at = {int(k.split("x")[-1]): v["onnx_gflop"] for k, v in result["profiles"].items()}
    gflop, distinct = dataset_gflop(args.dataset, gflop_at)
    result["dataset"] = {"mean_gflop_per_line": gflop, "distinct_widths": distinct,
                         "naive_fp32_lines_s": p["fp32_ort_matmul_gflops"] / gflop}
    result["machine"]["uptime_end"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "roofline.json").write_text(json.dumps(result, indent=1))
    (out / "roofline.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
