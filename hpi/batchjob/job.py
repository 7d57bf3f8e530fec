"""run_batch: recognize a folder, pattern or list of line images into a resumable JSONL/Parquet output."""
from __future__ import annotations

import itertools
import sys
import time
from dataclasses import dataclass
from typing import Iterable, Iterator, Optional

from .._deps import require
from .._signals import sigterm_unwinds
from ..runtime.model_spec import ModelSpec
from ..errors import ConfigError
from ..inputs import resolve_max_image_pixels
from .progress import Progress
from .records import recognize
from .sources import chunked, plan_inputs
from .store import FORMATS, ResultStore

DEFAULT_BATCH_SIZE = 8
DEFAULT_CHUNK_SIZE = 1000


@dataclass(frozen=True)
class BatchSummary:
    """What one run did. `results`: lines recognized and written (one per image, one per page of a PDF/TIFF);
    `errors`: inputs that could not be read (in errors.jsonl); `skipped`: inputs the output already had;
    `repaired`: broken records found in the output (a torn last line is cut off and its input done again)."""

    output: str
    results_path: str
    errors_path: str
    format: str
    results: int
    errors: int
    skipped: int
    repaired: int
    seconds: float
    ray: bool
    workers: int

    @property
    def lines_per_s(self) -> float:
        return self.results / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        where = f"on Ray, {self.workers} worker(s)" if self.ray else "in-process"
        return (f"{self.results:,} lines done, {self.skipped:,} inputs skipped as already done, {self.errors:,} "
                f"errors{f' (see {self.errors_path})' if self.errors else ''}, {self.lines_per_s:.1f} lines/s "
                f"over {self.seconds:.1f} s {where}" + (f", {self.repaired} broken record(s) repaired"
                                                         if self.repaired else "") + f"; results: {self.results_path}")


def run_batch(inputs, output, *, model_name: Optional[str] = None, model_dir=None, device: Optional[str] = None,
              use_hpip: Optional[bool] = None, hpi_config=None, enable_hpi: Optional[bool] = None,
              batch_size: int = DEFAULT_BATCH_SIZE, format: str = "jsonl", chunk_size: int = DEFAULT_CHUNK_SIZE,
              retry_errors: bool = False, max_image_pixels: Optional[int] = None, ray: bool = False,
              address: Optional[str] = None, num_workers: Optional[int] = None,
              progress: Optional[bool] = False, spec: Optional[ModelSpec] = None) -> BatchSummary:
    """Recognize every image of `inputs` (a folder, recursively; a glob pattern; a `.txt` list of paths or
    PaddleOCR `labels.txt`; an image file; or a list of these) into the folder `output`, skipping inputs it
    already holds. Bad files go to errors.jsonl and the run goes on. `ray=True` runs on Ray Data (a local cluster,
    or the one at `address`) with `num_workers` actors. `progress`: a progress line on stderr (None: when stderr
    is a terminal). `spec`: the model as a ModelSpec already made, instead of model_name ... hpi_config. Every
    argument is checked before any model loads."""
    started = time.perf_counter()
    for name, value in (("batch_size", batch_size), ("chunk_size", chunk_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if num_workers is not None and (isinstance(num_workers, bool) or not isinstance(num_workers, int)
                                    or num_workers < 1):
        raise ConfigError(f"num_workers must be a positive integer, got {num_workers!r}")
    if not ray and (address is not None or num_workers is not None):
        raise ConfigError("address and num_workers apply to a Ray run: add ray=True (--ray)")
    if ray:
        require("ray")  # before anything is made: the error names the 'ray' extra
        from .distributed import check_address

        check_address(address)
    if format not in FORMATS:
        raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")
    if spec is None:
        spec = ModelSpec.of(model_name, model_dir, device, use_hpip, hpi_config, enable_hpi=enable_hpi,
                            where="run_batch")
    elif any(value is not None for value in (model_name, model_dir, device, use_hpip, hpi_config, enable_hpi)):
        raise ConfigError("run_batch: give the model as spec or by its arguments (model_name, ...), not both")
    spec = spec.decided()  # the edge default, decided once here for every worker
    paths = plan_inputs(inputs)
    resolve_max_image_pixels(max_image_pixels)  # a bad limit is a usage error now
    store = ResultStore(output, format, retry_errors=retry_errors, chunk_size=chunk_size)

    done = store.open()
    bar = Progress(sys.stderr.isatty() if progress is None else bool(progress))
    skipped = _Count()
    workers, complete = 1, False
    with sigterm_unwinds():  # SIGTERM, like Ctrl-C, still writes the whole inputs buffered so far
        try:
            bar.count_in_background(paths, done)  # `done` is only read from here on
            pending = skipped.filter(paths(), done)
            first = next(pending, None)  # nothing left to do: no model load, no Ray cluster
            pending = itertools.chain([first], pending) if first is not None else iter(())
            tick = lambda: bar.update(*store.counts())  # noqa: E731
            if first is None:
                pass
            elif ray:
                from .distributed import run_on_ray

                plan = run_on_ray(pending, store, spec, batch_size=batch_size,
                                  max_image_pixels=max_image_pixels, address=address, num_workers=num_workers,
                                  on_progress=tick)
                workers = plan.workers
            else:
                _run_here(pending, store, spec, batch_size, max_image_pixels, tick)
            complete = True
        finally:
            store.close(complete)
            bar.close()
    return BatchSummary(output=str(store.folder), results_path=str(store.results_path),
                        errors_path=str(store.errors_path), format=format, results=store.results,
                        errors=store.errors, skipped=skipped.value, repaired=store.repaired,
                        seconds=time.perf_counter() - started, ray=ray, workers=workers)


def _run_here(pending: Iterable[str], store: ResultStore, spec: ModelSpec, batch_size: int,
              max_image_pixels: Optional[int], tick) -> None:
    """One TextRecognition; predict_iter over each chunk of pending paths, the chunk written when it is done."""
    from ..tasks.text_recognition import TextRecognition

    with TextRecognition.from_spec(spec) as model:
        for chunk in chunked(pending, store.chunk_size):
            for record in recognize(model, chunk, batch_size, max_image_pixels):
                store.add(record)
                tick()
            store.flush()


class _Count:
    def __init__(self):
        self.value = 0

    def filter(self, paths: Iterable[str], done) -> Iterator[str]:
        """The paths not in `done`, counting the others."""
        for path in paths:
            if path in done:
                self.value += 1
            else:
                yield path
