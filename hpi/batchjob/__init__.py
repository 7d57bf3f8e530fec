"""Offline batch recognition (`hpi batch`): folders, patterns or lists of millions of line images into a
resumable JSONL or Parquet output, in this process or on Ray Data.

    from hpi.batchjob import run_batch
    summary = run_batch("crops/", "out/", model_dir="PP-OCRv4_mobile_rec_infer", use_hpip=True)
    print(summary)   # lines done, skipped as already done, errors, lines/s

The runtime knows nothing of this package; Ray is imported only for `ray=True`.
"""
from .job import BatchSummary, run_batch
from .store import OutputError, OutputLockedError

__all__ = ["BatchSummary", "OutputError", "OutputLockedError", "run_batch"]
