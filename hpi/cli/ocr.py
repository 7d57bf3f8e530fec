"""`hpi ocr`: PaddleOCR's OCR pipeline on images and PDFs, printed as PaddleOCR prints, saved with its drawing."""
from __future__ import annotations

import logging
from typing import List

from .args import add_bad_input_options, add_input_option, add_ocr_options, add_runtime_options, ocr_options
from .predicting import predict_print_save, report_skipped

logger = logging.getLogger("hpi")


def add(subparsers) -> None:
    parser = subparsers.add_parser("ocr", help="detect and recognize text in images and PDFs (PaddleOCR's OCR "
                                              "pipeline, without the document preprocessor)")
    add_input_option(parser)
    parser.add_argument("--save_path", default=None,
                        help="directory for <stem>_res.json and the drawing <stem>_ocr_res_img.<ext>")
    add_runtime_options(parser)
    add_ocr_options(parser)
    add_bad_input_options(parser, like="PaddleOCR")
    parser.add_argument("--json", action="store_true",
                        help="print each result as indented JSON (default: PaddleOCR's print, arrays cut short; "
                             "--save_path writes the full JSON either way)")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from .. import pipelines

    require_input_deps(args.input)
    with pipelines.OCR(**ocr_options(args)) as pipeline:  # every option is checked before any model loads
        logger.info("backend: %s", ", ".join(f"{name} {config['backend']}" for name, config in
                                             pipeline.config.items()))
        _, skipped = predict_print_save(pipeline, args, lambda result: result.print(format_json=args.json))
    report_skipped(skipped, "read")
    return 0


def require_input_deps(inputs: List[str]) -> None:
    """What the named inputs need to be read (pypdfium2 for a PDF), checked before any model loads."""
    from .._deps import require
    from ..inputs import PDF_SUFFIX

    if any(str(name).split("?")[0].lower().endswith(PDF_SUFFIX) for name in inputs):
        require("pypdfium2")
