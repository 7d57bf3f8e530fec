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
"""
from __future__ import annotations

import argparse
import logging
import os
import select
import sys
import time
from pathlib import Path
from typing import List, Optional

from ._logging import configure_cli
from ._parse import str2bool
from .errors import ConfigError, HPIError

logger = logging.getLogger("hpi")

EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


# Argument types: argparse reports what they reject as a usage error (exit 2) before any handler runs.
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
    from .runtime.device import parse_device, require_device

    try:
        require_device(parse_device(text))
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _add_model_options(parser) -> None:
    """The predictor's options, as `hpi text_recognition`, `hpi serve` and `hpi batch` all take them."""
    parser.add_argument("--model_name", default=None)
    parser.add_argument("--model_dir", default=None, type=existing_dir)
    _add_runtime_options(parser)


def _add_runtime_options(parser) -> None:
    """Where and how models run: the predictor's options besides the model (`hpi ocr` names its models apart)."""
    parser.add_argument("--device", default=None, type=device_here, help="cpu, gpu or gpu:N")
    parser.add_argument("--use_hpip", action="store_true", default=None,
                        help="high-performance mode (not given: normal mode where Paddle can run the model, else "
                             "high-performance mode)")
    parser.add_argument("--enable_hpi", type=str2bool, default=None, help="PaddleOCR's spelling of --use_hpip")
    parser.add_argument("--hpi_config", default=None, help="a YAML file with hpi_config")


def _add_text_recognition(subparsers) -> None:
    parser = subparsers.add_parser("text_recognition", help="recognize text-line images")
    parser.add_argument("-i", "--input", required=True, nargs="+",
                        help="image/PDF/TIFF paths, directories or http(s) URLs")
    _add_model_options(parser)
    parser.add_argument("--batch_size", type=at_least(1), default=1)
    parser.add_argument("--save_path", default=None, help="directory for <stem>_res.json and <stem>_res.png")
    parser.add_argument("--on_bad_input", choices=["raise", "skip"], default="raise",
                        help="an input that cannot be read: stop there with an error (raise, as PaddleX), or warn, "
                             "go on with the rest and list the skipped inputs at the end (skip)")
    parser.add_argument("--max_image_pixels", type=at_least(0), default=None,
                        help="larger images are bad inputs (default: $HPI_MAX_IMAGE_PIXELS or 89,478,485; 0: no limit)")
    parser.set_defaults(handler=_run_text_recognition)


def _run_text_recognition(args) -> int:
    from .tasks.text_recognition import TextRecognition

    use_hpip = args.use_hpip if args.enable_hpi is None else args.enable_hpi
    _check_hpi_config(args.hpi_config, use_hpip)
    model = TextRecognition(model_name=args.model_name, model_dir=args.model_dir, device=args.device,
                            use_hpip=use_hpip, hpi_config=args.hpi_config)
    print(f"backend: {model.backend} ({_describe(model.config)})", file=sys.stderr, flush=True)
    inputs = args.input if len(args.input) > 1 else args.input[0]
    skipped: list = []
    on_bad_input = skipped.append if args.on_bad_input == "skip" else "raise"
    # One figure for the whole run: results come out of batches read ahead, so a time per result says nothing
    started, count = time.perf_counter(), 0
    for result in model.predict_iter(inputs, batch_size=args.batch_size, on_bad_input=on_bad_input,
                                     max_image_pixels=args.max_image_pixels):
        result.print()
        if args.save_path:
            result.save_all(args.save_path)
        count += 1
    seconds = time.perf_counter() - started
    logger.info("%d line(s) recognized in %.2f s (%.1f lines/s)", count, seconds, count / seconds if seconds else 0)
    model.close()
    for error in skipped:
        logger.warning("skipped: %s", error)
    if skipped:
        logger.warning("%d bad input(s) skipped; the others were recognized", len(skipped))
    return 0


OCR_MODEL_ARGS = ("text_detection_model_name", "text_detection_model_dir", "textline_orientation_model_name",
                  "textline_orientation_model_dir", "textline_orientation_batch_size", "text_recognition_model_name",
                  "text_recognition_model_dir", "text_recognition_batch_size", "use_doc_orientation_classify",
                  "use_doc_unwarping", "use_textline_orientation", "text_det_limit_side_len", "text_det_limit_type",
                  "text_det_max_side_limit", "text_det_thresh", "text_det_box_thresh", "text_det_unclip_ratio",
                  "text_rec_score_thresh", "return_word_box", "doc_orientation_classify_model_name",
                  "doc_orientation_classify_model_dir", "doc_unwarping_model_name", "doc_unwarping_model_dir")
# PaddleOCR's options passed on only when given (OCR's **kwargs): routing, and the inference options
OCR_PADDLEOCR_ARGS = ("lang", "ocr_version", "paddlex_config", "engine", "cpu_threads", "enable_mkldnn",
                      "mkldnn_cache_capacity", "precision", "use_tensorrt", "enable_cinn")


def _add_ocr_options(parser) -> None:
    """The OCR pipeline's models and settings, with PaddleOCR 3.x's option names (`paddleocr ocr --help`)."""
    group = parser.add_argument_group("OCR pipeline (PaddleOCR's option names; models by name are downloaded)")
    for kind in ("doc_orientation_classify", "doc_unwarping", "text_detection", "textline_orientation",
                 "text_recognition"):
        group.add_argument(f"--{kind}_model_name", default=None)
        group.add_argument(f"--{kind}_model_dir", default=None, type=existing_dir)
    group.add_argument("--textline_orientation_batch_size", type=at_least(1), default=None)
    group.add_argument("--text_recognition_batch_size", type=at_least(1), default=None)
    group.add_argument("--use_doc_orientation_classify", type=str2bool, default=None,
                       help="turn pages upright first (default: on when no text model or a document orientation "
                            "model is given)")
    group.add_argument("--use_doc_unwarping", type=str2bool, default=None,
                       help="flatten pages first (default: on when no text model or an unwarping model is given)")
    group.add_argument("--use_textline_orientation", type=str2bool, default=None,
                       help="turn upside-down lines (default: on when a text-line orientation model is given)")
    group.add_argument("--text_det_limit_side_len", type=at_least(1), default=None)
    group.add_argument("--text_det_limit_type", choices=["min", "max"], default=None)
    group.add_argument("--text_det_max_side_limit", type=at_least(1), default=None)
    group.add_argument("--text_det_thresh", type=float, default=None)
    group.add_argument("--text_det_box_thresh", type=float, default=None)
    group.add_argument("--text_det_unclip_ratio", type=float, default=None)
    group.add_argument("--text_rec_score_thresh", type=float, default=None)
    group.add_argument("--return_word_box", type=str2bool, default=None, help="accepted as False only")
    group.add_argument("--lang", default=None, help="language code (en, ch, fr, ru, ...): PaddleOCR 3.7's models for "
                                                    "it, where hpi's catalog has them")
    group.add_argument("--ocr_version", default=None, choices=["PP-OCRv3", "PP-OCRv4", "PP-OCRv5", "PP-OCRv6"])
    group.add_argument("--paddlex_config", default=None, help="refused: hpi reads no PaddleX pipeline YAML")
    engine = parser.add_argument_group("PaddleOCR's inference options (docs/paddleocr_compat.md)")
    engine.add_argument("--engine", default=None,
                        help="paddle / paddle_static (normal mode), onnxruntime, openvino, tensorrt, hpi "
                             "(high-performance mode)")
    engine.add_argument("--cpu_threads", type=at_least(1), default=None)
    engine.add_argument("--enable_mkldnn", type=str2bool, default=None, help="False: Paddle without MKL-DNN")
    engine.add_argument("--mkldnn_cache_capacity", type=at_least(1), default=None)
    engine.add_argument("--precision", default=None, choices=["fp32", "fp16"], help="with --use_tensorrt True")
    engine.add_argument("--use_tensorrt", type=str2bool, default=None)
    engine.add_argument("--enable_cinn", type=str2bool, default=None, help="accepted, ignored with a warning")


def _ocr_options(args) -> dict:
    """OCR(...)'s keyword arguments from the parsed options."""
    use_hpip = args.use_hpip if args.enable_hpi is None else args.enable_hpi
    given = {name: getattr(args, name) for name in OCR_PADDLEOCR_ARGS if getattr(args, name) is not None}
    return {**{name: getattr(args, name) for name in OCR_MODEL_ARGS}, "device": args.device,
            "use_hpip": use_hpip, "hpi_config": args.hpi_config, **given}


def _add_ocr(subparsers) -> None:
    parser = subparsers.add_parser("ocr", help="detect and recognize text in images and PDFs (PaddleOCR's OCR "
                                              "pipeline, without the document preprocessor)")
    parser.add_argument("-i", "--input", required=True, nargs="+",
                        help="image/PDF/TIFF paths, directories or http(s) URLs")
    parser.add_argument("--save_path", default=None,
                        help="directory for <stem>_res.json and the drawing <stem>_ocr_res_img.<ext>")
    _add_runtime_options(parser)
    _add_ocr_options(parser)
    parser.add_argument("--on_bad_input", choices=["raise", "skip"], default="raise",
                        help="an input that cannot be read: stop there with an error (raise, as PaddleOCR), or "
                             "warn, go on with the rest and list the skipped inputs at the end (skip)")
    parser.add_argument("--max_image_pixels", type=at_least(0), default=None,
                        help="larger images are bad inputs (default: $HPI_MAX_IMAGE_PIXELS or 89,478,485; 0: no limit)")
    parser.add_argument("--json", action="store_true",
                        help="print each result as indented JSON (default: PaddleOCR's print, arrays cut short; "
                             "--save_path writes the full JSON either way)")
    parser.set_defaults(handler=_run_ocr)


def _run_ocr(args) -> int:
    from .pipelines import OCR

    _require_input_deps(args.input)
    with OCR(**_ocr_options(args)) as pipeline:  # every option is checked before any model loads
        logger.info("backend: %s", ", ".join(f"{name} {config['backend']}" for name, config in
                                             pipeline.config.items()))
        inputs = args.input if len(args.input) > 1 else args.input[0]
        skipped: list = []
        on_bad_input = skipped.append if args.on_bad_input == "skip" else "raise"
        for result in pipeline.predict_iter(inputs, on_bad_input=on_bad_input, max_image_pixels=args.max_image_pixels):
            result.print(format_json=args.json)
            if args.save_path:
                result.save_all(args.save_path)
    for error in skipped:
        logger.warning("skipped: %s", error)
    if skipped:
        logger.warning("%d bad input(s) skipped; the others were read", len(skipped))
    return 0


def _require_input_deps(inputs: List[str]) -> None:
    """What the named inputs need to be read (pypdfium2 for a PDF), checked before any model loads."""
    from ._deps import require
    from .inputs import PDF_SUFFIX

    if any(str(name).split("?")[0].lower().endswith(PDF_SUFFIX) for name in inputs):
        require("pypdfium2")


def _check_hpi_config(value, use_hpip: Optional[bool]) -> None:
    """hpi_config parsed and checked now, before any download or model load (normal mode's part too)."""
    from .runtime.config import HPIConfig
    from .runtime.selector import normal_mode_options

    config = HPIConfig.from_user(value)
    if use_hpip is False:  # None: decided per model (normal mode only where Paddle can run it)
        normal_mode_options(config)


def _add_convert(subparsers) -> None:
    parser = subparsers.add_parser("convert", help="convert a Paddle inference model to verified ONNX")
    parser.add_argument("--model_dir", "--paddle_model_dir", dest="model_dir", required=True, type=existing_dir,
                        help="folder with inference.json or inference.pdmodel, and inference.pdiparams")
    parser.add_argument("--save_file", default=None, help="ONNX file to write (default: MODEL_DIR/inference.onnx)")
    parser.add_argument("--onnx_model_dir", default=None,
                        help="PaddleX's spelling: write ONNX_MODEL_DIR/inference.onnx (inference.yml copied beside)")
    parser.add_argument("--opset_version", type=at_least(1), default=None)
    parser.add_argument("--force", action="store_true", help="convert again even if an up-to-date ONNX exists")
    parser.set_defaults(handler=_run_convert)


def _run_convert(args) -> int:
    from .runtime.converters import DEFAULT_OPSET, convert_to_onnx, record_path

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
    parser.add_argument("--model_dir", required=True, type=existing_dir,
                        help="a text recognition or text detection model: each is timed on its own task's inputs")
    parser.add_argument("--device", default=None, type=device_here, help="cpu, gpu or gpu:N")
    parser.add_argument("--inputs", "--lines", dest="inputs", type=at_least(1), default=None,
                        help="rendered inputs to time: text lines (recognition, default 64) or pages at photo and "
                             "scan sizes (detection, default 8)")
    parser.add_argument("--val_data", default=None,
                        help="recognition: your real lines (a folder with labels.txt, a labels file, or a folder of "
                             "images): bf16 and FP16 candidates are considered only when their gate holds there; "
                             "detection: a folder of your photos or scans, timed instead of rendered pages")
    parser.add_argument("--max_drop", type=float, default=0.5,
                        help="the gate, as hpi quantize: most accuracy lost in points (default 0.5)")
    parser.add_argument("--ignore_case", action="store_true", help="as hpi quantize: compare after NFKC and case "
                                                                    "folding")
    parser.set_defaults(handler=_run_tune)


def _run_tune(args) -> int:
    from .runtime.tuning import MIN_AGREEMENT, cache_dir
    from .tasks.tuning import tune_model_dir

    result = tune_model_dir(args.model_dir, args.device, args.inputs, val_data=args.val_data,
                            max_drop=args.max_drop, ignore_case=args.ignore_case)
    unit = result.unit
    print(f"| backend | options | ms/{unit}, new shapes | ms/{unit}, shapes seen | agreement with FP32 | gate on "
          f"your data | kept (FP32: agreement >= {MIN_AGREEMENT:.1%}; reduced: gate) |")
    print("|---|---|---|---|---|---|---|")
    for timing in result.candidates:
        options = ", ".join(f"{k}={v}" for k, v in timing.options.items())
        if timing.error:
            print(f"| {timing.backend} | {options} | not timed: {timing.error} | | | | no |")
        else:
            gate = "-" if timing.gate is None else ("holds" if timing.gate["passed"] else "fails") + \
                f" ({timing.gate.get('judged_by', 'measured now')})"
            print(f"| {timing.backend} | {options} | {timing.ms_per_input:.2f} | {timing.warm_ms_per_input:.2f} | "
                  f"{timing.agreement:.1%} | {gate} | {'yes' if timing.kept else 'no'} |")
    print(f"winner: {result.winner.backend} {result.winner.options}")  # tune raises when nothing was kept
    print(f"cached: {cache_dir() / (result.key + '.json')}")
    return 0


def _add_quantize(subparsers) -> None:
    parser = subparsers.add_parser("quantize", help="make an INT8 model from real lines, kept only if it holds "
                                                    "accuracy (the gate)")
    parser.add_argument("--model_dir", required=True, type=existing_dir,
                        help="model dir with inference.onnx (convert a Paddle model first: hpi convert)")
    parser.add_argument("--calib_data", required=True,
                        help="a folder of real line images (every image in it), or a PaddleOCR labels.txt")
    parser.add_argument("--val_data", default=None,
                        help="a folder with labels.txt, a labels file, or a folder of images (then agreement with "
                             "FP32 is the gate); default: the calibration data")
    parser.add_argument("--max_drop", type=float, default=0.5,
                        help="most accuracy (and 1-NED) the INT8 model may lose, in points; without labels, the "
                             "most disagreement with FP32 text in percent (default 0.5)")
    parser.add_argument("--ignore_case", action="store_true",
                        help="compare text and labels after NFKC and case folding (labels that upper-case "
                             "everything, full-width punctuation)")
    parser.add_argument("--backend", default="openvino", choices=["openvino", "onnxruntime"],
                        help="the runtime the INT8 model is made for: openvino (IR) or onnxruntime (QDQ ONNX, which "
                             "the tensorrt backend runs too)")
    parser.add_argument("--calibration", default="minmax", choices=["minmax", "entropy", "percentile"],
                        help="onnxruntime: how activation ranges are calibrated")
    parser.add_argument("--ops", default="conv_matmul", choices=["conv_matmul", "all"],
                        help="openvino: quantize convolutions and MatMuls only (default), or every op NNCF would")
    parser.add_argument("--preset", default="performance", choices=["performance", "mixed"],
                        help="NNCF preset: symmetric activations (performance) or asymmetric where it helps (mixed)")
    parser.add_argument("--bias_correction", default="fast", choices=["fast", "full", "none"])
    parser.add_argument("--ranges", default="default",
                        choices=["default", "minmax", "mean_minmax", "quantile", "histogram"],
                        help="how activation ranges are estimated from the calibration lines")
    parser.add_argument("--smooth_quant", type=float, default=0.5, metavar="ALPHA",
                        help="openvino: SmoothQuant alpha for convolutions and MatMuls (default 0.5; a negative "
                             "value turns it off)")
    parser.add_argument("--force", action="store_true", help="quantize again even if an up-to-date model exists")
    parser.set_defaults(handler=_run_quantize)


def _run_quantize(args) -> int:
    from .runtime.model_dir import load_model_dir
    from .runtime.quantization import quantize_model
    from .runtime.quantization.record import int8_path
    from .tasks.text_recognition.calibration import recognition_workload

    model_dir = load_model_dir(args.model_dir)
    workload = recognition_workload(model_dir, args.calib_data, args.val_data, ignore_case=args.ignore_case)
    settings = {"calibration": args.calibration} if args.backend == "onnxruntime" else {
        "preset": args.preset, "bias_correction": args.bias_correction, "ranges": args.ranges,
        "smooth_quant": args.smooth_quant if args.smooth_quant >= 0 else None, "ops": args.ops}
    record = quantize_model(model_dir, workload, backend=args.backend, max_drop=args.max_drop, force=args.force,
                            settings=settings, progress=lambda message: print(message, flush=True))
    target = int8_path(model_dir.path, args.backend)
    if record["reused"]:
        print(f"{target}: up to date (same FP32 model, data and settings), reused")
    fp32, int8 = record["fp32"], record["int8"]
    metric = "accuracy" if record["data"]["labelled"] else "agreement"
    print(f"| model | {metric} % | 1-NED % | agreement with FP32 % | float layers | ms/line (model only) |")
    print("|---|---|---|---|---|---|")
    timing = record["timing"]
    print(f"| FP32 | {fp32[metric]} | {fp32['norm_edit'] or '-'} | 100 | all | {timing['fp32_ms']} |")
    print(f"| INT8 | {int8[metric]} | {int8['norm_edit'] or '-'} | {int8['agreement']} | "
          f"{len(record['float_layers'])} of {record['layers']} | {timing['int8_ms']} ({timing['speedup']}x) |")
    print(f"gate: {record['gate']['rule']}: holds")
    print(f"written: {target} (record {target.name}.hpi.json); run it with hpi_config "
          f"{{'backend': '{args.backend}', 'backend_config': {{'precision': 'int8'}}}}" +
          (" (or backend 'tensorrt' on a GPU)" if args.backend == "onnxruntime" else ""))
    return 0


def _add_models(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list the models hpi knows (recognition, detection, "
                                                  "text-line orientation)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_run_models)


def _run_models(args) -> int:
    import json

    from .runtime.catalog import catalog
    from .runtime.device import cpu_class

    entries = list(catalog().values())
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=2, ensure_ascii=False))
        return 0
    here = cpu_class()
    print(f"CPU: {here.model} ({here.machine}), class {here.name} (flags: {' '.join(here.flags) or 'none read'}); "
          "CPU orders below are this class's plans (configs/cpu_plans.yaml, docs/cpu_classes.md)\n")
    rows = [("model", "task", "languages", "accuracy %", "size MB", f"CPU backend order ({here.name})", "plan",
             "cached")]
    for e in entries:
        seed, plan = e.seed or {}, e.cpu_plan
        basis = plan["basis"] + (f", {plan['plan'].split('/')[1]}'s" if plan["fallback_from"] else "")
        rows.append((e.name, e.task, ",".join(e.languages) or "-", f"{seed['accuracy']:.2f}" if seed else "-",
                     f"{seed['size_mb']:g}" if seed else "-", " > ".join(c["backend"] for c in plan["order"]), basis,
                     "yes" if e.cached else "no"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for index, row in enumerate(rows):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))
    return 0


def _add_benchmark(subparsers) -> None:
    parser = subparsers.add_parser("benchmark", help="normal vs high-performance timing tables, with accuracy")
    parser.add_argument("--model_dir", action="append", default=[], type=existing_dir,
                        help="a model dir (repeatable)")
    parser.add_argument("--model_name", action="append", default=[], help="an official model (repeatable)")
    parser.add_argument("--device", default="cpu", type=device_here)
    parser.add_argument("--output", required=True, help="folder for results.json, table.md, chart.png")
    parser.add_argument("--dataset", default=None, help="folder with labels.txt (relative/path<TAB>text)")
    parser.add_argument("--batch_sizes", default="1,8", type=int_list)
    parser.add_argument("--backends", default=None, type=backend_list,
                        help="comma list to restrict high-performance candidates")
    parser.add_argument("--threads", default=None, type=int_list,
                        help="comma list of thread counts (default: the CPUs this process may use)")
    parser.add_argument("--seconds", type=positive_float, default=2.0,
                        help="timing budget per candidate and batch size")
    parser.add_argument("--peer", action="append", default=[], metavar="SYSTEM=PYTHON",
                        help="race a peer in its own environment: paddlex, rapidocr_openvino, rapidocr_onnxruntime "
                             "(RapidOCR 1.x), rapidocr3_openvino or rapidocr3_onnxruntime (RapidOCR 3.x on the "
                             "same ONNX file) "
                             "= that environment's python (repeatable; needs --dataset)")
    parser.add_argument("--race_system", action="append", default=[], metavar="NAME=HPI_CONFIG",
                        help="race another hpi configuration: a name, '=', and an hpi_config as JSON (repeatable)")
    parser.add_argument("--race_rounds", type=at_least(0), default=3,
                        help="interleaved rounds over the dataset per system in the race (0: no race)")
    parser.add_argument("--race_batch_size", type=at_least(1), default=8, help="batch_size of the race's predict calls")
    parser.add_argument("--rss_lines", type=at_least(0), default=0,
                        help="after the race, stream this many lines (the dataset repeated) and record memory")
    parser.add_argument("--no_model_rows", action="store_true",
                        help="skip the per-candidate tables (model rows and single end-to-end passes)")
    pipeline = parser.add_argument_group("OCR pipeline rows (--pipeline OCR): images/s and per-stage time of hpi's "
                                         "OCR vs PaddleX's and RapidOCR 3.x's pipelines, the same models")
    pipeline.add_argument("--pipeline", choices=["OCR"], default=None,
                          help="race the OCR pipeline over --images instead of text recognition over --dataset")
    pipeline.add_argument("--images", default=None, type=existing_dir, help="a folder of real images (OCR race)")
    pipeline.add_argument("--text_detection_model_dir", default=None, type=existing_dir)
    pipeline.add_argument("--text_recognition_model_dir", default=None, type=existing_dir)
    pipeline.add_argument("--textline_orientation_model_dir", default=None, type=existing_dir,
                          help="with it, every system classifies text-line orientation")
    pipeline.add_argument("--no_normal_mode", action="store_true", help="leave hpi's normal mode out of the race")
    parser.set_defaults(handler=_run_benchmark)


def _race_systems(specs: list) -> dict:
    import json

    from .runtime.config import HPIConfig

    systems = {}
    for spec in specs:
        name, _, text = spec.partition("=")
        try:
            config = json.loads(text)
        except ValueError:
            config = None
        if not name or not isinstance(config, dict):
            raise ConfigError(f"--race_system {spec!r}: expected NAME={{...}} with an hpi_config as a JSON object")
        try:
            HPIConfig.from_user(config)
        except ConfigError as exc:
            raise ConfigError(f"--race_system {name}: {exc}") from None
        systems[name] = config
    return systems


def _peers(specs: list) -> dict:
    from .bench.race import PEER_SYSTEMS

    peers = {}
    for spec in specs:
        name, _, python = spec.partition("=")
        if name not in PEER_SYSTEMS or not python:
            raise ConfigError(f"--peer {spec!r}: expected SYSTEM=PYTHON with SYSTEM one of {', '.join(PEER_SYSTEMS)}")
        peers[name] = python
    return peers


def backend_list(text: str) -> List[str]:
    from .runtime.config import backend_names

    names = [v.strip() for v in text.split(",") if v.strip()]
    unknown = [n for n in names if n not in backend_names()]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"expected a comma list of backends ({', '.join(backend_names())}), "
                                         f"got {text!r}")
    return names


def _run_benchmark(args) -> int:
    if args.pipeline:
        return _run_pipeline_benchmark(args)
    from .tasks.text_recognition.labels import read_dataset
    from .bench.report import write_report
    from .bench.runner import benchmark
    from .bench.spec import BenchmarkSpec, RaceSpec
    from .runtime.device import cpu_quota, parse_device
    from .runtime.download import ensure_official_model
    from .runtime.model_dir import load_model_dir

    # Everything checked before the first download or model load.
    if not args.model_dir and not args.model_name:
        raise ConfigError("give at least one --model_dir or --model_name")
    peers, race_systems = _peers(args.peer), _race_systems(args.race_system)
    if peers and not args.dataset:
        raise ConfigError("--peer races on image files: give --dataset too")
    dataset = Path(args.dataset) if args.dataset else None
    if dataset:
        read_dataset(dataset)  # a DatasetError names the file and line
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise ConfigError(f"--output {args.output!r} exists and is not a folder")

    dirs = [load_model_dir(d) for d in args.model_dir] + [load_model_dir(ensure_official_model(n), n)
                                                         for n in args.model_name]
    race = RaceSpec(rounds=args.race_rounds, batch_size=args.race_batch_size, rss_lines=args.rss_lines, peers=peers,
                    extra_systems=race_systems)
    result = benchmark(BenchmarkSpec(dirs, parse_device(args.device), args.threads or [cpu_quota()],
                                     args.batch_sizes, dataset, args.backends, seconds=args.seconds,
                                     model_rows=not args.no_model_rows, race=race))
    write_report(result, output)
    print((output / "table.md").read_text(encoding="utf-8"))
    return 0


def _run_pipeline_benchmark(args) -> int:
    import json

    from ._fs import atomic_write
    from .bench.pipeline_race import PIPELINE_PEERS, OCRModels, race_ocr, race_table
    from .inputs import IMAGE_SUFFIXES
    from .runtime.device import cpu_quota

    if not (args.images and args.text_detection_model_dir and args.text_recognition_model_dir):
        raise ConfigError("--pipeline OCR needs --images, --text_detection_model_dir and --text_recognition_model_dir")
    peers = {}
    for spec in args.peer:
        name, _, python = spec.partition("=")
        if name not in PIPELINE_PEERS or not python:
            raise ConfigError(f"--peer {spec!r}: with --pipeline OCR, expected SYSTEM=PYTHON with SYSTEM one of "
                              f"{', '.join(PIPELINE_PEERS)}")
        peers[name] = python
    images = sorted(str(p) for p in Path(args.images).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not images:
        raise ConfigError(f"--images {args.images!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise ConfigError(f"--output {args.output!r} exists and is not a folder")
    models = OCRModels(Path(args.text_detection_model_dir), Path(args.text_recognition_model_dir),
                       Path(args.textline_orientation_model_dir) if args.textline_orientation_model_dir else None)
    race = race_ocr(images, models, args.device, peers, rounds=max(1, args.race_rounds), threads=cpu_quota(),
                    normal_mode=not args.no_normal_mode, progress=lambda text: print(text, file=sys.stderr))
    table = race_table(race)
    output.mkdir(parents=True, exist_ok=True)
    atomic_write(output / "pipeline.json", json.dumps(race.to_dict(), indent=2, ensure_ascii=False).encode("utf-8"))
    atomic_write(output / "pipeline.md", table.encode("utf-8"))
    print(table)
    return 0


def _add_serve(subparsers) -> None:
    from .serving.settings import ServeSettings

    d = ServeSettings()
    parser = subparsers.add_parser("serve", help="serve text recognition over HTTP (PaddleX's envelope; needs the "
                                                 "'serve' extra)")
    _add_model_options(parser)
    parser.add_argument("--pipeline", choices=["OCR"], default=None,
                        help="serve the OCR pipeline: POST /ocr (PaddleX's OCR serving schema) beside "
                             "/text-recognition (the pipeline's recognizer); its models and settings by the OCR "
                             "options below (PaddleOCR's names, as `hpi ocr`), not --model_name/--model_dir")
    parser.add_argument("--batch_size", type=at_least(1), default=d.batch_size,
                        help="predict's batch_size for each gathered batch")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=at_least(0), default=8080)
    parser.add_argument("--max_body_mb", type=float, default=d.max_body_mb,
                        help="largest request body, and largest URL download (413 beyond)")
    parser.add_argument("--max_image_pixels", type=at_least(0), default=d.max_image_pixels,
                        help="largest image or PDF page, width x height (422 beyond; 0: no limit)")
    parser.add_argument("--max_lines_per_request", type=at_least(1), default=d.max_lines_per_request,
                        help="images, crops or PDF pages in one request (413 beyond)")
    parser.add_argument("--max_queue_lines", type=at_least(1), default=d.max_queue_lines,
                        help="lines waiting for the model, all requests together (503 beyond)")
    parser.add_argument("--batch_wait_ms", type=float, default=d.batch_wait_ms,
                        help="how long a line waits for lines of other requests to share its predict call "
                             "(0: no cross-request batching, one predict call per request)")
    parser.add_argument("--max_batch_lines", type=at_least(1), default=d.max_batch_lines,
                        help="a gathered batch runs at once when it has this many lines")
    parser.add_argument("--batch_workers", type=at_least(1), default=d.batch_workers,
                        help="gathered batches running at once")
    parser.add_argument("--allow_url_fetch", action="store_true",
                        help="accept an http(s) URL as `file` (public addresses only, unless --allow_private_urls)")
    parser.add_argument("--allow_private_urls", action="store_true",
                        help="let fetched URLs reach private, loopback and link-local addresses")
    parser.add_argument("--url_timeout_s", type=float, default=d.url_timeout_s, help="time limit of a URL download")
    parser.add_argument("--max_request_pixels", type=at_least(0), default=d.max_request_pixels,
                        help="decoded pixels of one request, its images, crops and PDF pages together, checked "
                             "before each is decoded (413 beyond; 0: no limit)")
    parser.add_argument("--max_pixels_in_flight", type=at_least(0), default=d.max_pixels_in_flight,
                        help="decoded pixels all requests hold at once (503 beyond; 0: no limit)")
    parser.add_argument("--pdf_page_timeout_s", type=float, default=d.pdf_page_timeout_s,
                        help="time limit to render one PDF page (422 beyond)")
    parser.add_argument("--header_timeout_s", type=float, default=d.header_timeout_s,
                        help="a request's header must arrive within this of its connection (or previous response)")
    parser.add_argument("--body_timeout_s", type=float, default=d.body_timeout_s,
                        help="a request's body must arrive within this of its header")
    parser.add_argument("--max_connections", type=at_least(1), default=d.max_connections,
                        help="open connections; more are closed as they arrive")
    parser.add_argument("--shutdown_timeout_s", type=float, default=d.shutdown_timeout_s,
                        help="after SIGTERM, how long requests in progress may take before they are cut")
    ray = parser.add_argument_group("Ray Serve (needs the 'ray' extra)")
    ray.add_argument("--ray", action="store_true", help="serve on Ray Serve: replicas each holding one model, Serve's "
                                                        "HTTP proxy on --host/--port")
    scale = ray.add_mutually_exclusive_group()
    scale.add_argument("--num_replicas", type=at_least(1), default=None, help="with --ray: replicas (default 1)")
    scale.add_argument("--autoscaling", default=None, metavar="MIN:MAX",
                       help="with --ray: replicas scaled by Serve between MIN and MAX with the load")
    ray.add_argument("--address", default=None,
                     help="with --ray: the cluster to join ('auto' after `ray start --head`, or HEAD_IP:6379); "
                          "without it a local Ray cluster of this machine's CPUs is started")
    ray.add_argument("--replica_cpus", type=float, default=None,
                     help="with --ray: CPUs each replica reserves, and its backend threads (default: the cluster's "
                          "CPUs / the most replicas, at most one node's)")
    _add_ocr_options(parser)
    parser.set_defaults(handler=_run_serve)


def _run_serve(args) -> int:
    from .serving.server import serve

    use_hpip = args.use_hpip if args.enable_hpi is None else args.enable_hpi
    if args.pipeline == "OCR":
        return _run_serve_ocr(args)
    ocr_given = [f"--{name}" for name in OCR_MODEL_ARGS + OCR_PADDLEOCR_ARGS if getattr(args, name) is not None]
    if ocr_given:
        raise ConfigError(f"{', '.join(ocr_given)}: OCR pipeline options, for `hpi serve --pipeline OCR`")
    if args.model_name is None and args.model_dir is None:
        raise ConfigError("give --model_name, --model_dir, or both")
    _check_hpi_config(args.hpi_config, use_hpip)
    settings = _serve_settings(args)

    if args.ray:
        return _run_serve_on_ray(args, use_hpip, settings)
    given = [f"--{name}" for name in ("num_replicas", "autoscaling", "address", "replica_cpus")
             if getattr(args, name) is not None]
    if given:
        raise ConfigError(f"{', '.join(given)} need(s) --ray")

    def load_model():
        from .tasks.text_recognition import TextRecognition

        return TextRecognition(model_name=args.model_name, model_dir=args.model_dir, device=args.device,
                               use_hpip=use_hpip, hpi_config=args.hpi_config)

    return serve(load_model, settings, host=args.host, port=args.port, log_level=args.log_level)


def _serve_settings(args):
    from .serving.settings import ServeSettings

    return ServeSettings(max_body_mb=args.max_body_mb, max_image_pixels=args.max_image_pixels,
                         max_lines_per_request=args.max_lines_per_request, max_queue_lines=args.max_queue_lines,
                         batch_wait_ms=args.batch_wait_ms, max_batch_lines=args.max_batch_lines,
                         batch_workers=args.batch_workers, batch_size=args.batch_size,
                         allow_url_fetch=args.allow_url_fetch, allow_private_urls=args.allow_private_urls,
                         url_timeout_s=args.url_timeout_s, max_request_pixels=args.max_request_pixels,
                         max_pixels_in_flight=args.max_pixels_in_flight, pdf_page_timeout_s=args.pdf_page_timeout_s,
                         header_timeout_s=args.header_timeout_s, body_timeout_s=args.body_timeout_s,
                         max_connections=args.max_connections, shutdown_timeout_s=args.shutdown_timeout_s)


def _run_serve_ocr(args) -> int:
    """`hpi serve --pipeline OCR`: every option checked before the pipeline loads (in the background)."""
    from .pipelines import OCR
    from .serving.ocr import OCRService
    from .serving.server import serve

    given = [name for name in ("model_name", "model_dir") if getattr(args, name) is not None]
    if given:
        raise ConfigError(f"--pipeline OCR names its models with --text_detection_model_dir, "
                          f"--text_recognition_model_dir, ... (PaddleOCR's names), not --{' / --'.join(given)}")
    ray_given = [f"--{name}" for name in ("ray", "num_replicas", "autoscaling", "address", "replica_cpus")
                 if getattr(args, name) not in (None, False)]
    if ray_given:
        raise ConfigError(f"--pipeline OCR does not run on Ray Serve yet: leave out {', '.join(ray_given)}")
    options = _ocr_options(args)
    OCR.check(**options)  # every option and each sub-model's hpi_config
    service = OCRService(lambda: OCR(**options))
    return serve(service.load_recognizer, _serve_settings(args), host=args.host, port=args.port,
                 log_level=args.log_level, ocr=service)


def _run_serve_on_ray(args, use_hpip: bool, settings) -> int:
    from .serving.ray_app import parse_autoscaling, serve_on_ray

    autoscaling = parse_autoscaling(args.autoscaling) if args.autoscaling is not None else None
    if args.replica_cpus is not None and args.replica_cpus <= 0:
        raise ConfigError(f"--replica_cpus must be a number > 0, got {args.replica_cpus:g}")
    options = {"model_name": args.model_name, "model_dir": args.model_dir, "device": args.device,
               "use_hpip": use_hpip, "hpi_config": args.hpi_config}
    return serve_on_ray(options, settings, host=args.host, port=args.port, address=args.address,
                        num_replicas=args.num_replicas, autoscaling=autoscaling, replica_cpus=args.replica_cpus,
                        log_level=args.log_level)


def _add_batch(subparsers) -> None:
    parser = subparsers.add_parser("batch", help="recognize folders, patterns or lists of line images into a "
                                                 "resumable JSONL/Parquet output, in-process or on Ray Data")
    parser.add_argument("-i", "--input", required=True, nargs="+",
                        help="folders (recursive), glob patterns (quote them), .txt lists (one path per line, or "
                             "labels.txt lines path<TAB>text; relative to the list's folder) or image files")
    parser.add_argument("-o", "--output", required=True,
                        help="folder for results.jsonl (or results.parquet/) and errors.jsonl; a rerun resumes it")
    parser.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl",
                        help="results as JSON lines, or a folder of Parquet parts (needs pyarrow)")
    _add_model_options(parser)
    parser.add_argument("--batch_size", type=at_least(1), default=8)
    parser.add_argument("--max_image_pixels", type=at_least(0), default=None,
                        help="larger images are errors (default: $HPI_MAX_IMAGE_PIXELS or 89,478,485; 0: no limit)")
    parser.add_argument("--chunk_size", type=at_least(1), default=1000,
                        help="records written at a time: a killed run loses at most this many")
    parser.add_argument("--retry_errors", action="store_true",
                        help="do the inputs of errors.jsonl again (it starts empty) instead of skipping them")
    parser.add_argument("--quiet", action="store_true", help="no progress line on stderr")
    parser.add_argument("--ray", action="store_true", help="run on Ray Data, one model per actor (needs the 'ray' "
                                                           "extra; a local cluster unless --address)")
    parser.add_argument("--address", default=None,
                        help="with --ray: the cluster to join, from one of its nodes ('auto' after `ray start`, or "
                             "HEAD_IP:6379); without it a local Ray cluster is started for the run")
    parser.add_argument("--num_workers", type=at_least(1), default=None,
                        help="with --ray: actors, one model each (default: one per CPU of the cluster); each "
                             "reserves CPUs / N and runs its backend on that many threads")
    parser.set_defaults(handler=_run_batch)


def _run_batch(args) -> int:
    from .batchjob import run_batch

    use_hpip = args.use_hpip if args.enable_hpi is None else args.enable_hpi
    summary = run_batch(args.input, args.output, model_name=args.model_name, model_dir=args.model_dir,
                        device=args.device, use_hpip=use_hpip, hpi_config=args.hpi_config, batch_size=args.batch_size,
                        format=args.format, chunk_size=args.chunk_size, retry_errors=args.retry_errors,
                        max_image_pixels=args.max_image_pixels, ray=args.ray, address=args.address,
                        num_workers=args.num_workers, progress=False if args.quiet else None)
    print(summary)
    return 0


def _describe(config: dict) -> str:
    return ", ".join(f"{k}={_plan_line(v) if k == 'plan' else v}" for k, v in config.items()
                     if k not in ("model_dir", "backend"))


def _plan_line(plan: dict) -> str:
    """config["plan"] in a few words: this CPU's class, and whose plan it runs by (docs/cpu_classes.md)."""
    borrowed = f", {plan['plan'].split('/')[1]}'s" if plan["fallback_from"] else ""
    return f"{plan['cpu_class']} ({plan['basis']}{borrowed})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hpi", description="High-performance PaddleOCR/PaddleX inference")
    parser.add_argument("--log_level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_text_recognition(subparsers)
    _add_ocr(subparsers)
    _add_convert(subparsers)
    _add_tune(subparsers)
    _add_quantize(subparsers)
    _add_models(subparsers)
    _add_benchmark(subparsers)
    _add_batch(subparsers)
    _add_serve(subparsers)
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


if __name__ == "__main__":
    sys.exit(main())
