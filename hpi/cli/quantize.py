"""`hpi quantize`: an INT8 model made from real lines, kept only if it holds accuracy (the gate)."""
from __future__ import annotations

from .args import LazyChoices, existing_dir


def _quantizers():
    from ..runtime.quantization import QUANTIZERS

    return QUANTIZERS


def add(subparsers) -> None:
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
    parser.add_argument("--backend", default="openvino", choices=LazyChoices(_quantizers), metavar="BACKEND",
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
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..runtime.model_dir import load_model_dir
    from ..runtime.quantization import quantize_model
    from ..runtime.quantization.record import int8_path
    from ..runtime.quantization.report import quantization_report
    from ..tasks.text_recognition.calibration import recognition_workload

    model_dir = load_model_dir(args.model_dir)
    workload = recognition_workload(model_dir, args.calib_data, args.val_data, ignore_case=args.ignore_case)
    settings = {"calibration": args.calibration} if args.backend == "onnxruntime" else {
        "preset": args.preset, "bias_correction": args.bias_correction, "ranges": args.ranges,
        "smooth_quant": args.smooth_quant if args.smooth_quant >= 0 else None, "ops": args.ops}
    record = quantize_model(model_dir, workload, backend=args.backend, max_drop=args.max_drop, force=args.force,
                            settings=settings, progress=lambda message: print(message, flush=True))
    print(quantization_report(record, int8_path(model_dir.path, args.backend), args.backend))
    return 0
