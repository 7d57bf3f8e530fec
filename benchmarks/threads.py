#!/usr/bin/env python3
"""Threads x backend: lines/s, wrong results and errors when 1, 2, 4, 8 threads share ONE TextRecognition.

For each CPU backend (ONNX Runtime and OpenVINO in high-performance mode on the ONNX model, Paddle in normal mode
on the Paddle model) and each batch size, the first --lines lines of the dataset are cut into chunks of --chunk
lines; the threads take the chunks in turn (thread i: chunks i, i + T, ...) and call `predict(chunk, batch_size)`
on the one shared object, all starting together. lines/s = lines recognized / wall time of the whole run. A wrong
result is a line whose text differs from the text the same chunk gets at the same batch size in one thread
(computed first); an error is a predict call that raised. Rounds are interleaved (every configuration once per
round, in the same order) so that drift on a noisy machine hits all alike; lines/s is the median over rounds,
wrong results and errors are summed over rounds. Writes OUTPUT.json and OUTPUT.md, and prints the markdown.

    python benchmarks/threads.py --models_root .cache/test_models --lines 64 --rounds 3 --batch_sizes 1,8
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

REPO = Path(__file__).resolve().parent.parent
# name -> (model folder under --models_root, use_hpip, hpi_config)
BACKENDS = {
    "onnxruntime": ("PP-OCRv4_mobile_rec_onnx", True, {"backend": "onnxruntime"}),
    "openvino": ("PP-OCRv4_mobile_rec_onnx", True, {"backend": "openvino"}),
    "paddle": ("PP-OCRv4_mobile_rec", False, None),
}
Chunks = List[List[str]]


def int_list(text: str) -> List[int]:
    return [int(value) for value in text.split(",") if value.strip()]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models_root", default=str(REPO / ".cache" / "test_models"))
    parser.add_argument("--dataset", default=str(REPO / "tests" / "data" / "lines"),
                        help="a folder with labels.txt (relative/path<TAB>text a line)")
    parser.add_argument("--lines", type=int, default=64, help="lines per run (the first of the dataset)")
    parser.add_argument("--chunk", type=int, default=8, help="lines per predict call")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int_list, default=[1, 2, 4, 8])
    parser.add_argument("--batch_sizes", type=int_list, default=[1, 8])
    parser.add_argument("--backends", default=",".join(BACKENDS), help=f"some of {', '.join(BACKENDS)}")
    parser.add_argument("--output", default="output/threads", help="writes OUTPUT.json and OUTPUT.md")
    args = parser.parse_args(argv)
    args.backends = [name.strip() for name in args.backends.split(",") if name.strip()]
    unknown = sorted(set(args.backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backend(s) {unknown}; choose among {', '.join(BACKENDS)}")
    if min([args.lines, args.chunk, args.rounds, *args.threads, *args.batch_sizes]) < 1:
        parser.error("--lines, --chunk, --rounds, --threads and --batch_sizes must be positive")
    return args


def load(name: str, models_root: Path):
    from hpi import TextRecognition

    folder, use_hpip, hpi_config = BACKENDS[name]
    model = TextRecognition(model_dir=models_root / folder, device="cpu", use_hpip=use_hpip, hpi_config=hpi_config)
    if model.backend != name:
        model.close()
        raise RuntimeError(f"asked for {name}, got {model.backend}")
    return model


def run_threads(predict: Callable[[List[str]], List[str]], chunks: Chunks, threads: int
                ) -> Tuple[float, List[Optional[List[str]]], List[str]]:
    """(wall seconds, each chunk's texts or None where predict raised, the errors) with `threads` threads taking
    the chunks in turn, all released together."""
    texts: List[Optional[List[str]]] = [None] * len(chunks)
    errors: List[str] = []
    start = threading.Barrier(threads + 1)

    def work(first: int) -> None:
        start.wait()
        for index in range(first, len(chunks), threads):
            try:
                texts[index] = predict(chunks[index])
            except Exception as exc:  # noqa: BLE001 - counted and reported, whatever it is
                errors.append(f"{type(exc).__name__}: {exc}")

    workers = [threading.Thread(target=work, args=(first,), name=f"bench-{first}") for first in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    for worker in workers:
        worker.join()
    return time.perf_counter() - began, texts, errors


def wrong_results(texts: Sequence[Optional[List[str]]], reference: Sequence[List[str]]) -> int:
    return sum(sum(a != b for a, b in zip(got, want)) + abs(len(got) - len(want))
               for got, want in zip(texts, reference) if got is not None)


def benchmark(args: argparse.Namespace) -> dict:
    from hpi.tasks.text_recognition.labels import read_dataset

    paths = read_dataset(Path(args.dataset))[0][:args.lines]
    chunks = [paths[i:i + args.chunk] for i in range(0, len(paths), args.chunk)]
    models, skipped = {}, {}
    for name in args.backends:
        try:
            models[name] = load(name, Path(args.models_root))
        except Exception as exc:  # noqa: BLE001 - a backend not installed here is reported, not fatal
            skipped[name] = f"{type(exc).__name__}: {exc}"
            print(f"skipping {name}: {skipped[name]}", file=sys.stderr)

    def predictor(model, batch_size: int) -> Callable[[List[str]], List[str]]:
        return lambda chunk: [result["rec_text"] for result in model.predict(chunk, batch_size=batch_size)]

    configs = [(name, batch_size, threads) for name in models for batch_size in args.batch_sizes
               for threads in args.threads]
    reference, runs = {}, {config: [] for config in configs}
    for name, model in models.items():  # single-thread reference texts; then every context made, untimed
        for batch_size in args.batch_sizes:
            reference[name, batch_size] = [predictor(model, batch_size)(chunk) for chunk in chunks]
            run_threads(predictor(model, batch_size), chunks, max(args.threads))
    load_before = os.getloadavg()
    for round_index in range(args.rounds):
        for name, batch_size, threads in configs:
            seconds, texts, errors = run_threads(predictor(models[name], batch_size), chunks, threads)
            done = sum(len(chunk_texts) for chunk_texts in texts if chunk_texts is not None)
            runs[name, batch_size, threads].append({"seconds": seconds, "lines_per_s": done / seconds,
                                                    "wrong": wrong_results(texts, reference[name, batch_size]),
                                                    "errors": errors})
        print(f"round {round_index + 1}/{args.rounds} done", file=sys.stderr)
    load_after = os.getloadavg()
    for model in models.values():
        model.close()

    rows = []
    for (name, batch_size, threads), samples in runs.items():
        errors = [error for sample in samples for error in sample["errors"]]
        rows.append({"backend": name, "mode": "hpi" if BACKENDS[name][1] else "normal", "model": BACKENDS[name][0],
                     "batch_size": batch_size, "threads": threads,
                     "lines_per_s": statistics.median(sample["lines_per_s"] for sample in samples),
                     "lines_per_s_rounds": [round(sample["lines_per_s"], 2) for sample in samples],
                     "wrong": sum(sample["wrong"] for sample in samples), "errors": len(errors),
                     "first_errors": errors[:3]})
    return {"machine": machine(load_before, load_after),
            "settings": {"lines": len(paths), "chunk": args.chunk, "chunks": len(chunks), "rounds": args.rounds,
                         "threads": args.threads, "batch_sizes": args.batch_sizes, "dataset": args.dataset,
                         "models_root": args.models_root},
            "skipped": skipped, "rows": rows}


def machine(load_before: Tuple[float, ...], load_after: Tuple[float, ...]) -> dict:
    from hpi.bench.runner import machine_info
    from hpi.runtime.device import cpu_quota, parse_device

    return {**machine_info(parse_device("cpu")).to_dict(), "cpus_usable": cpu_quota(), "cpus_online": os.cpu_count(),
            "os": platform.platform(), "load_average_1_5_15_before": [round(v, 2) for v in load_before],
            "load_average_1_5_15_after": [round(v, 2) for v in load_after]}


def markdown(result: dict) -> str:
    settings, machine_facts = result["settings"], result["machine"]
    backends = list(dict.fromkeys(row["backend"] for row in result["rows"]))
    lines = ["# Threads x backend: one shared TextRecognition",
             "",
             f"{machine_facts['cpu']}, {machine_facts['cpus_usable']} usable CPUs ({machine_facts['cpus_online']} "
             f"online), Python {machine_facts['python']}; load average (1, 5, 15 min) "
             f"{machine_facts['load_average_1_5_15_before']} before the timed rounds, "
             f"{machine_facts['load_average_1_5_15_after']} after.",
             f"{settings['lines']} lines in {settings['chunks']} predict calls of {settings['chunk']} lines, "
             f"threads taking the calls in turn; lines/s: median of {settings['rounds']} interleaved rounds; "
             "wrong: lines whose text differs from one thread's at the same batch size and chunking; errors: "
             "predict calls that raised (wrong and errors summed over the rounds).",
             ""]
    for batch_size in settings["batch_sizes"]:
        header = [f"{name} ({'hpi' if BACKENDS[name][1] else 'normal'})" for name in backends]
        lines += [f"## batch_size {batch_size}", "",
                  "| threads | " + " | ".join(header) + " |", "|---|" + "---|" * len(backends)]
        for threads in settings["threads"]:
            cells = []
            for name in backends:
                row = next(row for row in result["rows"] if (row["backend"], row["batch_size"], row["threads"])
                           == (name, batch_size, threads))
                cells.append(f"{row['lines_per_s']:.1f} lines/s, {row['wrong']} wrong, {row['errors']} errors")
            lines.append(f"| {threads} | " + " | ".join(cells) + " |")
        lines.append("")
    for name, reason in result["skipped"].items():
        lines.append(f"- {name} skipped: {reason}")
    for row in result["rows"]:
        for error in row["first_errors"]:
            lines.append(f"- error, {row['backend']} batch {row['batch_size']} x {row['threads']} threads: {error}")
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    result = benchmark(args)
    text = markdown(result)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{output}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", "utf-8")
    Path(f"{output}.md").write_text(text, "utf-8")
    print(text)
    return 1 if any(row["wrong"] or row["errors"] for row in result["rows"]) else 0


if __name__ == "__main__":
    sys.exit(main())
