"""`hpi batch`: folders, patterns or lists of line images into a resumable JSONL/Parquet output, in-process or on
Ray Data."""
from __future__ import annotations

from .args import add_model_options, at_least, model_spec


def add(subparsers) -> None:
    parser = subparsers.add_parser("batch", help="recognize folders, patterns or lists of line images into a "
                                                 "resumable JSONL/Parquet output, in-process or on Ray Data")
    parser.add_argument("-i", "--input", required=True, nargs="+",
                        help="folders (recursive), glob patterns (quote them), .txt lists (one path per line, or "
                             "labels.txt lines path<TAB>text; relative to the list's folder) or image files")
    parser.add_argument("-o", "--output", required=True,
                        help="folder for results.jsonl (or results.parquet/) and errors.jsonl; a rerun resumes it")
    parser.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl",
                        help="results as JSON lines, or a folder of Parquet parts (needs pyarrow)")
    add_model_options(parser)
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
    parser.set_defaults(handler=run)


def run(args) -> int:
    from ..batchjob import run_batch

    summary = run_batch(args.input, args.output, spec=model_spec(args, "run_batch"), batch_size=args.batch_size,
                        format=args.format, chunk_size=args.chunk_size, retry_errors=args.retry_errors,
                        max_image_pixels=args.max_image_pixels, ray=args.ray, address=args.address,
                        num_workers=args.num_workers, progress=False if args.quiet else None)
    print(summary)
    return 0
