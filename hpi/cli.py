"""The `hpi` command (also `python -m hpi`), with PaddleOCR's spelling of the options.

    hpi text_recognition -i INPUT [--model_name N] [--model_dir D] [--device cpu|gpu|gpu:0]
                         [--use_hpip | --enable_hpi True] [--hpi_config FILE.yaml] [--batch_size N] [--save_path DIR]
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import List, Optional

from .errors import HPIError

logger = logging.getLogger("hpi")


def str2bool(value: str) -> bool:
    lowered = str(value).strip().lower()
    if lowered in ("true", "yes", "t", "y", "1"):
        return True
    if lowered in ("false", "no", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (True/False), got {value!r}")


def _add_text_recognition(subparsers) -> None:
    parser = subparsers.add_parser("text_recognition", help="recognize text-line images")
    parser.add_argument("-i", "--input", required=True, nargs="+",
                        help="image/PDF/TIFF paths, directories or http(s) URLs")
    parser.add_argument("--model_name", default=None)
    parser.add_argument("--model_dir", default=None)
    parser.add_argument("--device", default=None, help="cpu, gpu or gpu:N")
    parser.add_argument("--use_hpip", action="store_true", help="high-performance mode")
    parser.add_argument("--enable_hpi", type=str2bool, default=None, help="PaddleOCR's spelling of --use_hpip")
    parser.add_argument("--hpi_config", default=None, help="a YAML file with hpi_config")
    parser.add_argument("--batch_size", type=int, default=1)
    parser.add_argument("--save_path", default=None, help="directory for <stem>_res.json and <stem>_res.png")
    parser.set_defaults(handler=_run_text_recognition)


def _run_text_recognition(args) -> int:
    from .tasks.text_recognition import TextRecognition

    use_hpip = args.use_hpip if args.enable_hpi is None else args.enable_hpi
    model = TextRecognition(model_name=args.model_name, model_dir=args.model_dir, device=args.device,
                            use_hpip=use_hpip, hpi_config=args.hpi_config)
    print(f"backend: {model.backend} ({_describe(model.config)})", file=sys.stderr, flush=True)
    inputs = args.input if len(args.input) > 1 else args.input[0]
    started = time.perf_counter()
    for index, result in enumerate(model.predict_iter(inputs, batch_size=args.batch_size)):
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.info("Processed item %d in %.2f ms", index, elapsed_ms)
        result.print()
        if args.save_path:
            result.save_all(args.save_path)
        started = time.perf_counter()
    model.close()
    return 0


def _add_convert(subparsers) -> None:
    parser = subparsers.add_parser("convert", help="convert a Paddle inference model to verified ONNX")
    parser.add_argument("--model_dir", "--paddle_model_dir", dest="model_dir", required=True,
                        help="folder with inference.json or inference.pdmodel, and inference.pdiparams")
    parser.add_argument("--save_file", default=None, help="ONNX file to write (default: MODEL_DIR/inference.onnx)")
    parser.add_argument("--onnx_model_dir", default=None,
                        help="PaddleX's spelling: write ONNX_MODEL_DIR/inference.onnx (inference.yml copied beside)")
    parser.add_argument("--opset_version", type=int, default=None)
    parser.add_argument("--force", action="store_true", help="convert again even if an up-to-date ONNX exists")
    parser.set_defaults(handler=_run_convert)


def _run_convert(args) -> int:
    from pathlib import Path

    from .converters import DEFAULT_OPSET, convert_to_onnx, record_path

    save_file = args.save_file or (str(Path(args.onnx_model_dir) / "inference.onnx") if args.onnx_model_dir else None)
    record = convert_to_onnx(args.model_dir, save_file=save_file, opset_version=args.opset_version or DEFAULT_OPSET,
                             force=args.force)
    target = Path(save_file) if save_file else Path(args.model_dir) / "inference.onnx"
    check = record["verification"]
    state = "up to date, reused" if record["reused"] else f"converted in {record['total_s']:.1f} s"
    print(f"{target}: {state}")
    print(f"verified against Paddle Inference on inputs {check['shapes']}: max abs difference "
          f"{check['worst']:.3g} (tolerance {check['tolerance']:g}); opset {record['opset_version']}")
    if record["onnx_repairs"] or record["pir_patches"]:
        print(f"repairs: {len(record['onnx_repairs'])} Concat rank fix(es), PIR patches {record['pir_patches']}")
    print(f"record: {record_path(target)}")
    return 0


def _add_tune(subparsers) -> None:
    parser = subparsers.add_parser("tune", help="time every installed backend/precision here and cache the fastest")
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--device", default=None, help="cpu, gpu or gpu:N")
    parser.add_argument("--lines", type=int, default=None, help="rendered lines to time (default 64)")
    parser.set_defaults(handler=_run_tune)


def _run_tune(args) -> int:
    from .device import parse_device
    from .model_dir import load_model_dir
    from .tuning import MIN_AGREEMENT, TUNE_LINES, cache_dir, tune

    result = tune(load_model_dir(args.model_dir), parse_device(args.device), lines=args.lines or TUNE_LINES)
    print(f"| backend | options | ms/line, new widths | ms/line, widths seen | agreement with FP32 | "
          f"kept (>= {MIN_AGREEMENT:.1%}) |")
    print("|---|---|---|---|---|---|")
    for timing in result.candidates:
        options = ", ".join(f"{k}={v}" for k, v in timing.options.items())
        if timing.error:
            print(f"| {timing.backend} | {options} | failed: {timing.error} | | | no |")
        else:
            print(f"| {timing.backend} | {options} | {timing.ms_per_line:.2f} | {timing.warm_ms_per_line:.2f} | "
                  f"{timing.agreement:.1%} | "
                  f"{'yes' if timing.kept else 'no'} |")
    winner = result.winner
    print(f"winner: {winner.backend} {winner.options}" if winner else "winner: none kept the FP32 text")
    print(f"cached: {cache_dir() / (result.key + '.json')}")
    return 0


def _add_models(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list the text recognition models hpi knows")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_run_models)


def _run_models(args) -> int:
    import json

    from .catalog import catalog

    entries = list(catalog().values())
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=2, ensure_ascii=False))
        return 0
    rows = [("model", "languages", "accuracy %", "size MB", "CPU backend order", "cached")]
    for e in entries:
        seed = e.seed or {}
        rows.append((e.name, ",".join(e.languages), f"{seed['accuracy']:.2f}" if seed else "-",
                     f"{seed['size_mb']:g}" if seed else "-",
                     " > ".join(c["backend"] for c in e.backends.get("cpu_x64", [])), "yes" if e.cached else "no"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))
    return 0


def _add_benchmark(subparsers) -> None:
    parser = subparsers.add_parser("benchmark", help="normal vs high-performance timing tables, with accuracy")
    parser.add_argument("--model_dir", action="append", default=[], help="a model dir (repeatable)")
    parser.add_argument("--model_name", action="append", default=[], help="an official model (repeatable)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output", required=True, help="folder for results.json, table.md, chart.png")
    parser.add_argument("--dataset", default=None, help="folder with labels.txt (relative/path<TAB>text)")
    parser.add_argument("--batch_sizes", default="1,8")
    parser.add_argument("--backends", default=None, help="comma list to restrict high-performance candidates")
    parser.add_argument("--threads", default=None, help="comma list of thread counts (default: the CPUs this "
                                                        "process may use)")
    parser.add_argument("--seconds", type=float, default=2.0, help="timing budget per candidate and batch size")
    parser.add_argument("--peer", action="append", default=[], metavar="SYSTEM=PYTHON",
                        help="race a peer in its own environment: paddlex, rapidocr_openvino or rapidocr_onnxruntime "
                             "= that environment's python (repeatable; needs --dataset)")
    parser.add_argument("--race_system", action="append", default=[], metavar="NAME=HPI_CONFIG",
                        help="race another hpi configuration: a name, '=', and an hpi_config as JSON (repeatable)")
    parser.add_argument("--race_rounds", type=int, default=3,
                        help="interleaved rounds over the dataset per system in the race (0: no race)")
    parser.add_argument("--race_batch_size", type=int, default=8, help="batch_size of the race's predict calls")
    parser.add_argument("--rss_lines", type=int, default=0,
                        help="after the race, stream this many lines (the dataset repeated) and record memory")
    parser.add_argument("--no_model_rows", action="store_true",
                        help="skip the per-candidate tables (model rows and single end-to-end passes)")
    parser.set_defaults(handler=_run_benchmark)


def _race_systems(specs: list) -> dict:
    import json

    systems = {}
    for spec in specs:
        name, _, text = spec.partition("=")
        try:
            config = json.loads(text)
        except ValueError:
            config = None
        if not name or not isinstance(config, dict):
            raise HPIError(f"--race_system {spec!r}: expected NAME={{...}} with an hpi_config as a JSON object")
        systems[name] = config
    return systems


def _peers(specs: list) -> dict:
    from .bench.race import PEER_SYSTEMS

    peers = {}
    for spec in specs:
        name, _, python = spec.partition("=")
        if name not in PEER_SYSTEMS or not python:
            raise HPIError(f"--peer {spec!r}: expected SYSTEM=PYTHON with SYSTEM one of {', '.join(PEER_SYSTEMS)}")
        peers[name] = python
    return peers


def _int_list(text: str, what: str) -> list:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise HPIError(f"--{what} must be a comma list of positive integers, got {text!r}") from None
    if not values or min(values) < 1:
        raise HPIError(f"--{what} must be a comma list of positive integers, got {text!r}")
    return values


def _run_benchmark(args) -> int:
    from pathlib import Path

    from .bench.report import write_report
    from .bench.runner import benchmark
    from .device import cpu_quota, parse_device
    from .download import ensure_official_model
    from .model_dir import load_model_dir

    dirs = [load_model_dir(d) for d in args.model_dir] + [load_model_dir(ensure_official_model(n), n)
                                                         for n in args.model_name]
    if not dirs:
        raise HPIError("give at least one --model_dir or --model_name")
    peers = _peers(args.peer)
    if peers and not args.dataset:
        raise HPIError("--peer races on image files: give --dataset too")
    if args.race_rounds < 0 or args.race_batch_size < 1 or args.rss_lines < 0:
        raise HPIError("--race_rounds and --rss_lines must be >= 0 and --race_batch_size >= 1")
    result = benchmark(dirs, parse_device(args.device),
                       _int_list(args.threads, "threads") if args.threads else [cpu_quota()],
                       _int_list(args.batch_sizes, "batch_sizes"), Path(args.dataset) if args.dataset else None,
                       args.backends.split(",") if args.backends else None, seconds=args.seconds, peers=peers,
                       race_rounds=args.race_rounds, race_batch_size=args.race_batch_size,
                       rss_lines=args.rss_lines, model_rows=not args.no_model_rows,
                       race_systems=_race_systems(args.race_system))
    write_report(result, Path(args.output))
    print((Path(args.output) / "table.md").read_text(encoding="utf-8"))
    return 0


def _describe(config: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items() if k not in ("model_dir", "backend"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hpi", description="High-performance PaddleOCR/PaddleX inference")
    parser.add_argument("--log_level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_text_recognition(subparsers)
    _add_convert(subparsers)
    _add_tune(subparsers)
    _add_models(subparsers)
    _add_benchmark(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(asctime)s] hpi %(levelname)s: %(message)s", "%Y/%m/%d %H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(args.log_level)
    logger.propagate = False
    try:
        return args.handler(args)
    except HPIError as exc:
        print(f"hpi: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
