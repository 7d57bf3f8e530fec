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


def _describe(config: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items() if k not in ("model_dir", "backend"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hpi", description="High-performance PaddleOCR/PaddleX inference")
    parser.add_argument("--log_level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_text_recognition(subparsers)
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
