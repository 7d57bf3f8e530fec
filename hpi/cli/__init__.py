"""The `hpi` command (also `python -m hpi`), with PaddleOCR's spelling of the options.

    hpi text_recognition -i INPUT [--model_name N] [--model_dir D] [--device cpu|gpu|gpu:0]
                         [--use_hpip | --enable_hpi True] [--hpi_config FILE.yaml] [--batch_size N] [--save_path DIR]
    hpi ocr -i INPUT [--save_path DIR] [--use_hpip] [--device ...] [--text_detection_model_dir D]
            [--text_recognition_model_dir D] [--textline_orientation_model_dir D] [PaddleOCR's other options]
    hpi serve [--model_name N] [--model_dir D] ... [--host 127.0.0.1] [--port 8080] [limits: see --help]
              [--ray [--num_replicas N | --autoscaling MIN:MAX] [--address ADDR]]

Exit status: 0 success, 1 a runtime failure (download, conversion, backend, unreadable input; also stdout closed
early, as by `| head`), 2 a usage error (argparse's, or a ConfigError: a bad option value, device or hpi_config; every
argument is checked before any download or model load), 130 interrupted (Ctrl-C).

One module per command (`add(subparsers)`, `run(args)`); args.py holds the argument types and the option groups
several commands share (the model options that make a ModelSpec, the inputs, the OCR pipeline's options);
predicting.py the predict/print/save loop of text_recognition and ocr. Reports are rendered by the modules that
own what they report (tuning_report, quantization.report, converters.report, catalog.catalog_table).
"""
from __future__ import annotations

import argparse
import os
import select
import sys
from typing import List, Optional

from .._logging import configure_cli
from ..errors import ConfigError, HPIError
from . import batch, benchmark, convert, models, ocr, quantize, serve, text_recognition, tune

EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130
# One module per command, each with add(subparsers) and run(args), in `hpi --help`'s order
COMMANDS = (text_recognition, ocr, convert, tune, quantize, models, benchmark, batch, serve)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hpi", description="High-performance PaddleOCR/PaddleX inference")
    parser.add_argument("--log_level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add(subparsers)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    configure_cli(args.log_level)
    try:
        code = args.handler(args)
        sys.stdout.flush()  # a reader that left early (`| head`) shows here at the latest, inside the try
        return code
    except BrokenPipeError:
        if not _stdout_closed():
            raise  # another pipe (a peer process) broke: a real failure, with its traceback
        # Python's recipe: point stdout at devnull so that the interpreter's own flush at exit finds no pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("hpi: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except HPIError as exc:
        print(f"hpi: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILURE


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader has gone (poll reports an error on the writing end)."""
    if not hasattr(select, "poll"):
        return True  # no way to tell here: the recipe's assumption
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


