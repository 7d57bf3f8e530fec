"""Argument types and the option groups several commands share, each turned into what the library takes.

Building a parser imports nothing but argparse: every check that needs hpi's runtime (a device here, a backend
name) imports it when a value is parsed, so `hpi --help` and `hpi serve --help` load neither NumPy, OpenCV nor the
serving stack. argparse reports what a type rejects as a usage error (exit 2) before any handler runs.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List

from .._parse import str2bool
from ..errors import ConfigError

if TYPE_CHECKING:
    from ..runtime.model_spec import ModelSpec


# -- argument types ----------------------------------------------------------------------------------------------
def at_least(low: int):
    def integer(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < low:
            raise argparse.ArgumentTypeError(f"expected an integer >= {low}, got {text!r}")
        return value
    return integer


def int_list(text: str) -> List[int]:
    try:
        values = [at_least(1)(v.strip()) for v in text.split(",") if v.strip()]
    except argparse.ArgumentTypeError:
        values = []
    if not values:
        raise argparse.ArgumentTypeError(f"expected a comma list of integers >= 1, got {text!r}")
    return values


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def existing_dir(text: str) -> str:
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} " + ("is not a folder" if Path(text).exists()
                                                          else "does not exist"))
    return text


def device_here(text: str) -> str:
    """A device string that parses and names a device this machine has (a GPU asked for and not here is refused)."""
    from ..runtime.device import parse_device, require_device

    try:
        require_device(parse_device(text))
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def backend_list(text: str) -> List[str]:
    from ..runtime.config import backend_names

    names = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [n for n in names if n not in backend_names()]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"expected a comma list of backends ({', '.join(backend_names())}), "
                                         f"got {text!r}")
    return names


class LazyChoices:
    """argparse `choices` read from the library when first asked (a usage error, or the command's own --help),
    not when the parser is built; give the argument a metavar (argparse formats its choices when it is added)."""

    def __init__(self, load):
        self._load, self._values = load, None

    def _choices(self) -> tuple:
        if self._values is None:
            self._values = tuple(self._load())
        return self._values

    def __contains__(self, value) -> bool:
        return value in self._choices()

    def __iter__(self):
        return iter(self._choices())


# -- the model: --model_name, --model_dir and where and how it runs -> ModelSpec ---------------------------------
def add_model_options(parser) -> None:
    """The predictor's options, as `hpi text_recognition`, `hpi serve` and `hpi batch` all take them
    (`model_spec(args)` turns them into the spec)."""
    parser.add_argument("--model_name", default=None)
    parser.add_argument("--model_dir", default=None, type=existing_dir)
    add_runtime_options(parser)


def add_runtime_options(parser) -> None:
    """Where and how models run: the predictor's options besides the model (`hpi ocr` names its models apart)."""
    parser.add_argument("--device", default=None, type=device_here, help="cpu, gpu or gpu:N")
    parser.add_argument("--use_hpip", action="store_true", default=None,
                        help="high-performance mode (not given: normal mode where Paddle can run the model, else "
                             "high-performance mode)")
    parser.add_argument("--enable_hpi", type=str2bool, default=None, help="PaddleOCR's spelling of --use_hpip")
    parser.add_argument("--hpi_config", default=None, help="a YAML file with hpi_config")


def runtime_options(args) -> Dict[str, object]:
    """--device, --use_hpip / --enable_hpi and --hpi_config as the library's keyword arguments."""
    return {"device": args.device, "use_hpip": args.use_hpip, "enable_hpi": args.enable_hpi,
            "hpi_config": args.hpi_config}


def model_spec(args, where: str) -> "ModelSpec":
    """The model options as one ModelSpec, every one checked (hpi_config read once, the model dir read once)
    before anything is downloaded or loaded; the handlers pass it down as it is."""
    from ..runtime.model_spec import ModelSpec

    return ModelSpec.of(args.model_name, args.model_dir, where=where, option_prefix="--", **runtime_options(args))


# -- inputs and bad inputs: -i, --on_bad_input, --max_image_pixels ------------------------------------------------
def add_input_option(parser) -> None:
    """-i: what a predicting command reads."""
    parser.add_argument("-i", "--input", required=True, nargs="+",
                        help="image/PDF/TIFF paths, directories or http(s) URLs")


def add_bad_input_options(parser, like: str) -> None:
    """What becomes of an input that cannot be read (`like`: whose behaviour `--on_bad_input raise` is)."""
    parser.add_argument("--on_bad_input", choices=["raise", "skip"], default="raise",
                        help=f"an input that cannot be read: stop there with an error (raise, as {like}), or warn, "
                             "go on with the rest and list the skipped inputs at the end (skip)")
    parser.add_argument("--max_image_pixels", type=at_least(0), default=None,
                        help="larger images are bad inputs (default: $HPI_MAX_IMAGE_PIXELS or 89,478,485; 0: no limit)")


# -- the OCR pipeline's options (PaddleOCR's names) -> OCR(**options) ----------------------------------------------
def add_ocr_options(parser) -> None:
    """The OCR pipeline's models and settings, with PaddleOCR 3.x's option names (`paddleocr ocr --help`). The
    names are OCR's own (hpi.pipelines.ocr.settings.CONSTRUCTOR_NAMES and PaddleOCR's options; tests/test_cli_ocr.py
    checks the two agree); `ocr_options(args)` hands on those given."""
    names = []

    def option(group, flag: str, **kwargs) -> None:  # not given: None, OCR's default
        names.append(group.add_argument(flag, default=None, **kwargs).dest)

    group = parser.add_argument_group("OCR pipeline (PaddleOCR's option names; models by name are downloaded)")
    for kind in ("doc_orientation_classify", "doc_unwarping", "text_detection", "textline_orientation",
                 "text_recognition"):
        option(group, f"--{kind}_model_name")
        option(group, f"--{kind}_model_dir", type=existing_dir)
    option(group, "--textline_orientation_batch_size", type=at_least(1))
    option(group, "--text_recognition_batch_size", type=at_least(1))
    option(group, "--use_doc_orientation_classify", type=str2bool,
           help="turn pages upright first (default: on when no text model or a document orientation model is given)")
    option(group, "--use_doc_unwarping", type=str2bool,
           help="flatten pages first (default: on when no text model or an unwarping model is given)")
    option(group, "--use_textline_orientation", type=str2bool,
           help="turn upside-down lines (default: on when a text-line orientation model is given)")
    option(group, "--text_det_limit_side_len", type=at_least(1))
    option(group, "--text_det_limit_type", choices=["min", "max"])
    option(group, "--text_det_max_side_limit", type=at_least(1))
    for name in ("thresh", "box_thresh", "unclip_ratio"):
        option(group, f"--text_det_{name}", type=float)
    option(group, "--text_rec_score_thresh", type=float)
    option(group, "--return_word_box", type=str2bool, help="accepted as False only")
    option(group, "--lang", help="language code (en, ch, fr, ru, ...): PaddleOCR 3.7's models for it, where hpi's "
                                 "catalog has them")
    option(group, "--ocr_version", choices=["PP-OCRv3", "PP-OCRv4", "PP-OCRv5", "PP-OCRv6"])
    option(group, "--paddlex_config", help="refused: hpi reads no PaddleX pipeline YAML")
    engine = parser.add_argument_group("PaddleOCR's inference options (docs/paddleocr_compat.md)")
    option(engine, "--engine", help="paddle / paddle_static (normal mode), onnxruntime, openvino, tensorrt, hpi "
                                    "(high-performance mode)")
    option(engine, "--cpu_threads", type=at_least(1))
    option(engine, "--enable_mkldnn", type=str2bool, help="False: Paddle without MKL-DNN")
    option(engine, "--mkldnn_cache_capacity", type=at_least(1))
    option(engine, "--precision", choices=["fp32", "fp16"], help="with --use_tensorrt True")
    option(engine, "--use_tensorrt", type=str2bool)
    option(engine, "--enable_cinn", type=str2bool, help="accepted, ignored with a warning")
    parser.set_defaults(ocr_option_names=tuple(names))


def given_ocr_options(args) -> Dict[str, object]:
    """The OCR options given on the command line (those not given are OCR's defaults)."""
    return {name: getattr(args, name) for name in args.ocr_option_names if getattr(args, name) is not None}


def ocr_options(args) -> Dict[str, object]:
    """OCR(...)'s keyword arguments from the parsed options."""
    return {**given_ocr_options(args), **runtime_options(args)}
