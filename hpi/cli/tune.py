"""`hpi tune`: time every installed backend/precision here and cache the fastest."""
from __future__ import annotations

from .args import at_least, device_here, existing_dir


def add(subparsers) -> None:
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
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..runtime.tuning_report import tuning_report
    from ..tasks.tuning import tune_model_dir

    result = tune_model_dir(args.model_dir, args.device, args.inputs, val_data=args.val_data,
                            max_drop=args.max_drop, ignore_case=args.ignore_case)
    print(tuning_report(result))
    return 0
