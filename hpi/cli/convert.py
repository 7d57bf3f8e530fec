"""`hpi convert`: a Paddle inference model to verified ONNX."""
from __future__ import annotations

from pathlib import Path

from .args import at_least, existing_dir


def add(subparsers) -> None:
    parser = subparsers.add_parser("convert", help="convert a Paddle inference model to verified ONNX")
    parser.add_argument("--model_dir", "--paddle_model_dir", dest="model_dir", required=True, type=existing_dir,
                        help="folder with inference.json or inference.pdmodel, and inference.pdiparams")
    parser.add_argument("--save_file", default=None, help="ONNX file to write (default: MODEL_DIR/inference.onnx)")
    parser.add_argument("--onnx_model_dir", default=None,
                        help="PaddleX's spelling: write ONNX_MODEL_DIR/inference.onnx (inference.yml copied beside)")
    parser.add_argument("--opset_version", type=at_least(1), default=None)
    parser.add_argument("--force", action="store_true", help="convert again even if an up-to-date ONNX exists")
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..runtime.converters import DEFAULT_OPSET, convert_to_onnx
    from ..runtime.converters.report import conversion_report

    save_file = args.save_file or (str(Path(args.onnx_model_dir) / "inference.onnx") if args.onnx_model_dir else None)
    record = convert_to_onnx(args.model_dir, save_file=save_file, opset_version=args.opset_version or DEFAULT_OPSET,
                             force=args.force)
    print(conversion_report(record, Path(save_file) if save_file else Path(args.model_dir) / "inference.onnx"))
    return 0
