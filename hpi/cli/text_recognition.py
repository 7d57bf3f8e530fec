"""`hpi text_recognition`: recognize text-line images, print each result, save it."""
from __future__ import annotations

import logging
import sys
import time

from .args import add_bad_input_options, add_input_option, add_model_options, at_least, model_spec
from .predicting import predict_print_save, report_skipped

logger = logging.getLogger("hpi")


def add(subparsers) -> None:
    parser = subparsers.add_parser("text_recognition", help="recognize text-line images")
    add_input_option(parser)
    add_model_options(parser)
    parser.add_argument("--batch_size", type=at_least(1), default=1)
    parser.add_argument("--save_path", default=None, help="directory for <stem>_res.json and <stem>_res.png")
    add_bad_input_options(parser, like="PaddleX")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..tasks.text_recognition import TextRecognition

    with TextRecognition.from_spec(model_spec(args, "TextRecognition")) as model:
        print(f"backend: {model.backend} ({describe(model.config)})", file=sys.stderr, flush=True)
        # One figure for the whole run: results come out of batches read ahead, so a time per result says nothing
        started = time.perf_counter()
        count, skipped = predict_print_save(model, args, lambda result: result.print(), batch_size=args.batch_size)
        seconds = time.perf_counter() - started
        logger.info("%d line(s) recognized in %.2f s (%.1f lines/s)", count, seconds, count / seconds if seconds else 0)
    report_skipped(skipped, "recognized")
    return 0


def describe(config: dict) -> str:
    """A predictor's config on one line: its options, and its CPU plan in a few words."""
    return ", ".join(f"{k}={_plan_line(v) if k == 'plan' else v}" for k, v in config.items()
                     if k not in ("model_dir", "backend"))


def _plan_line(plan: dict) -> str:
    """config["plan"]: this CPU's class, and whose plan it runs by (docs/cpu_classes.md)."""
    from ..runtime.catalog import plan_basis

    return f"{plan['cpu_class']} ({plan_basis(plan)})"
