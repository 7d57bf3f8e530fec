"""The loop `hpi text_recognition` and `hpi ocr` share: predict the inputs, print each result, save it, then
list the bad inputs skipped."""
from __future__ import annotations

import logging
from typing import Callable, List

logger = logging.getLogger("hpi")


def predict_print_save(predictor, args, print_result: Callable[[object], None],
                       **predict_options) -> "tuple[int, list]":
    """Run `predictor.predict_iter` over `args.input` (-i) with --on_bad_input and --max_image_pixels, print every
    result and save it under --save_path; the number of results and the bad inputs skipped (--on_bad_input skip)."""
    inputs = args.input if len(args.input) > 1 else args.input[0]
    skipped: List[object] = []
    on_bad_input = skipped.append if args.on_bad_input == "skip" else "raise"
    count = 0
    for result in predictor.predict_iter(inputs, on_bad_input=on_bad_input, max_image_pixels=args.max_image_pixels,
                                         **predict_options):
        print_result(result)
        if args.save_path:
            result.save_all(args.save_path)
        count += 1
    return count, skipped


def report_skipped(skipped: list, done: str) -> None:
    """One warning per bad input skipped, then their count (`done`: what became of the others)."""
    for error in skipped:
        logger.warning("skipped: %s", error)
    if skipped:
        logger.warning("%d bad input(s) skipped; the others were %s", len(skipped), done)
