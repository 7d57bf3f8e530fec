"""Cross-request batching: lines of concurrent requests run together through one `predict` call.

A request submits its lines and gets a future of its own results, in order. Worker threads take the waiting
requests as one batch once the oldest has waited `wait_ms` or `max_batch_lines` lines are waiting, and run them
through ONE `TextRecognition.predict(lines, batch_size)`. In high-performance mode predict groups lines of equal
padded width only, so a line's text never depends on the lines beside it. Normal mode pads a batch to its widest
line (as PaddleX), so there each request keeps its own predict call (with batch_size 1 they would mix freely).
`wait_ms=0` turns gathering off: each request is its own predict call, on `workers` threads.

The waiting lines are bounded (`max_queue_lines`): beyond it `submit` raises QueueFull, never growing memory.
A failing batch fails its requests' futures, never the worker. `close()` stops taking requests and returns once
every accepted one is answered.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Deque, List, Optional, Sequence, Union

import numpy as np

from ..errors import InputError
from .metrics import ServingMetrics

if TYPE_CHECKING:
    from ..tasks.text_recognition import TextRecResult

logger = logging.getLogger("hpi.serving")

LineResult = Union["TextRecResult", InputError]  # a line's result, or why it could not be read


class QueueFull(Exception):
    """More lines are waiting than the server allows."""


class Closed(Exception):
    """The batcher is shutting down and takes no new requests."""


@dataclass
class _Job:
    images: Sequence[np.ndarray]
    future: "Future[List[LineResult]]" = field(default_factory=Future)
    arrived: float = field(default_factory=time.monotonic)


class Batcher:
    def __init__(self, model, *, batch_size: int = 8, wait_ms: float = 5.0, max_batch_lines: int = 64,
                 max_queue_lines: int = 1024, workers: int = 1, metrics: Optional[ServingMetrics] = None):
        self.model = model
        self.batch_size, self.wait_s = batch_size, wait_ms / 1000
        self.max_batch_lines, self.max_queue_lines = max_batch_lines, max_queue_lines
        self.metrics = metrics or ServingMetrics()
        # normal mode pads a batch to its widest line: requests must not share a predict call there
        self._mix = self.wait_s > 0 and mixes_requests(model, batch_size)
        self._jobs: Deque[_Job] = deque()
        self._queued_lines = 0
        self._closing = False
        self._changed = threading.Condition()
        self._threads = [threading.Thread(target=self._work, name=f"hpi-batcher-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    @property
    def queued_lines(self) -> int:
        return self._queued_lines

    def submit(self, images: Sequence[np.ndarray]) -> "Future[List[LineResult]]":
        """A future of one result per image, in order: a TextRecResult, or the InputError of that image."""
        job = _Job(list(images))
        with self._changed:
            if self._closing:
                raise Closed("the server is shutting down")
            if self._queued_lines + len(job.images) > self.max_queue_lines:
                raise QueueFull(f"{self._queued_lines} lines are waiting for the model and this request adds "
                                f"{len(job.images)}, above the queue limit of {self.max_queue_lines} lines "
                                "(--max_queue_lines); retry later")
            self._jobs.append(job)
            self._set_queued(self._queued_lines + len(job.images))
            self._changed.notify_all()
        return job.future

    def close(self, timeout: Optional[float] = None) -> None:
        """Take no more requests; answer every accepted one, then stop the workers."""
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    # -- workers ------------------------------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            jobs = self._take()
            if jobs is None:
                return
            try:
                self._run(jobs)
            except BaseException as exc:  # never let a batch end the worker; each request logs it with its logId
                logger.error("a batch of %d request(s) failed: %s: %s", len(jobs), type(exc).__name__, exc)
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(exc)

    def _take(self) -> Optional[List[_Job]]:
        """The next batch: requests in arrival order, up to max_batch_lines (a larger request goes alone)."""
        with self._changed:
            while True:
                while not self._jobs and not self._closing:
                    self._changed.wait()
                if not self._jobs:
                    return None  # closing, and everything accepted was taken
                deadline = self._jobs[0].arrived + self.wait_s
                while self._mix and not self._closing and self._queued_lines < self.max_batch_lines:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._changed.wait(left)
                if self._jobs:  # another worker may have taken them meanwhile
                    break
            jobs, lines = [], 0
            while self._jobs and (not jobs or (self._mix and lines + len(self._jobs[0].images) <= self.max_batch_lines)):
                job = self._jobs.popleft()
                lines += len(job.images)
                jobs.append(job)
            self._set_queued(self._queued_lines - lines)
        return [job for job in jobs if job.future.set_running_or_notify_cancel()]

    def _run(self, jobs: List[_Job]) -> None:
        results = predict_requests(self.model, [job.images for job in jobs], self.batch_size, self.metrics)
        for job, job_results in zip(jobs, results):
            job.future.set_result(job_results)

    def _set_queued(self, lines: int) -> None:
        self._queued_lines = lines
        self.metrics.queue_lines.set(lines)


def mixes_requests(model, batch_size: int) -> bool:
    """Whether lines of different requests may share a predict call: yes in high-performance mode (lines are grouped
    by padded width, so a line's text never depends on its neighbours); in normal mode only with batch_size 1."""
    return getattr(model, "use_hpip", True) or batch_size == 1


def predict_requests(model, requests: Sequence[Sequence[np.ndarray]], batch_size: int,
                     metrics: ServingMetrics) -> List[List[LineResult]]:
    """The lines of several requests through ONE predict call (see predict_lines); each request's results in order."""
    images = [image for request in requests for image in request]
    if images:
        metrics.batch_lines.observe(len(images))
    results = predict_lines(model, images, batch_size) if images else []
    split, start = [], 0
    for request in requests:
        split.append(results[start:start + len(request)])
        start += len(request)
    return split


def predict_lines(model, images: List[np.ndarray], batch_size: int) -> List[LineResult]:
    """ONE `model.predict` call over `images`; one result per image: a bad image gets its InputError in its place,
    the others their results."""
    bad = {}

    def keep_error(error: InputError) -> None:
        bad[error.source] = error

    # the images were decoded and checked against the pixel limit already
    recognized = iter(model.predict(images, batch_size=batch_size, on_bad_input=keep_error, max_image_pixels=0))
    sources = [f"input[{index}]" for index in range(len(images))]  # predict's names for a list's entries
    return [bad[source] if source in bad else next(recognized) for source in sources]
