#!/usr/bin/env python3
"""Normal vs high-performance mode on a labeled line set, side by side in one run.

For each configuration: lines/s of `predict(paths, batch_size)` end to end (files to text), accuracy (exact match
ignoring spaces) and agreement with a reference (PaddleX golden batch-1 text when given, else our normal mode at
batch 1). Rounds are interleaved (every configuration once per round) so drift on a noisy machine cancels.

    python benchmarks/compare_modes.py --paddle_dir .cache/test_models/PP-OCRv4_mobile_rec \
        --onnx_dir .cache/test_models/PP-OCRv4_mobile_rec_onnx --dataset tests/data/lines \
        --golden tests/data/golden/paddlex_PP-OCRv4_mobile_rec.json
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paddle_dir", required=True)
    parser.add_argument("--onnx_dir", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--golden", default=None)
    parser.add_argument("--batch_sizes", default="1,8")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)

    from hpi import TextRecognition
    from hpi.tasks.text_recognition.metrics import accuracy
    from hpi.tasks.text_recognition.labels import read_dataset
    from hpi.runtime.device import cpu_quota

    paths, labels = read_dataset(Path(args.dataset))
    models = {
        "normal (paddle, mkldnn)": TextRecognition(model_dir=args.paddle_dir, device="cpu"),
        "hpi (openvino f32)": TextRecognition(model_dir=args.onnx_dir, device="cpu", use_hpip=True,
                                              hpi_config={"backend": "openvino"}),
        "hpi (onnxruntime fp32)": TextRecognition(model_dir=args.onnx_dir, device="cpu", use_hpip=True,
                                                  hpi_config={"backend": "onnxruntime"}),
    }
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    if args.golden:
        reference = [r["rec_text"] for r in json.loads(Path(args.golden).read_text("utf-8"))["results"]["1"]]
    else:
        reference = [r["rec_text"] for r in models["normal (paddle, mkldnn)"].predict(paths, batch_size=1)]

    for model in models.values():  # warm-up
        model.predict(paths[:16], batch_size=8)
    timings = {(name, bs): [] for name in models for bs in batch_sizes}
    texts = {}
    for _ in range(args.rounds):
        for name, model in models.items():
            for bs in batch_sizes:
                start = time.perf_counter()
                results = model.predict(paths, batch_size=bs)
                timings[(name, bs)].append(time.perf_counter() - start)
                texts[(name, bs)] = [r["rec_text"] for r in results]

    normal_bs = {bs: statistics.median(timings[("normal (paddle, mkldnn)", bs)]) for bs in batch_sizes}
    print(f"# {len(paths)} lines, {platform.processor() or platform.machine()}, {cpu_quota()} CPUs, "
          f"median of {args.rounds} interleaved rounds\n")
    print("| configuration | batch_size | lines/s | speed-up vs normal | accuracy | same text as reference |")
    print("|---|---|---|---|---|---|")
    for (name, bs), values in timings.items():
        seconds = statistics.median(values)
        agree = sum(a == b for a, b in zip(texts[(name, bs)], reference)) / len(paths)
        print(f"| {name} | {bs} | {len(paths) / seconds:.1f} | {normal_bs[bs] / seconds:.2f}x | "
              f"{accuracy(texts[(name, bs)], labels):.2%} | {agree:.2%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
