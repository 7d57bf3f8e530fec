"""Streams of inputs in windows, read ahead, with results in input order: what the Predictor and the pipelines share.

An input stream (hpi.inputs.iter_inputs) is cut into windows (`chunks`). A window's images are read together
(`Window.read`), an unreadable one keeping its place as its InputError, and whatever a caller does to a window
before its models finish runs in a helper thread while the caller works on the window before (`read_ahead`).
A caller with asynchronous work keeps one window in flight while it submits the next (`overlapped`). Results
come out in input order (`Window.in_order`), and a bad input is raised where it stands, after every result before
it, or skipped with a warning, or handed to a callback (`bad_input_handler`).

Knows no task and no model: a window carries, per input, the caller's value. Thread-safe: nothing is shared
between calls; each stream's helper thread ends with the stream (also when the caller stops early).
"""
from __future__ import annotations

import itertools
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, TypeVar, Union

import numpy as np

from .errors import ConfigError, InputError
from .inputs import InputItem

logger = logging.getLogger(__name__)

OnBadInput = Union[str, Callable[[InputError], None]]
# Called with a stage's name as the stage ends for a window: a benchmark's clock (hpi.bench.stages); else nothing.
Lap = Callable[[str], None]
Prepared = TypeVar("Prepared")
Result = TypeVar("Result")


def no_lap(stage: str) -> None:
    """The Lap of a stream nobody times."""


def bad_input_handler(on_bad_input: OnBadInput) -> Callable[[InputError], None]:
    """What predict's `on_bad_input` asks for, as a function of the InputError: "raise" raises it, "skip" logs a
    warning naming the input, a callable gets it."""
    if callable(on_bad_input):
        return on_bad_input
    if on_bad_input == "raise":
        def raise_it(error: InputError) -> None:
            raise error
        return raise_it
    if on_bad_input == "skip":
        def log_it(error: InputError) -> None:
            logger.warning("skipped a bad input: %s", error)
        return log_it
    raise ConfigError(f"on_bad_input must be 'raise', 'skip' or a callable taking the InputError, "
                      f"got {on_bad_input!r}")


@dataclass
class Window:
    """Inputs read together: per input its image (None where it could not be read: `errors` says why, by index)
    and the value the caller made of it (`values`)."""

    items: List[InputItem]
    images: List[Optional[np.ndarray]] = field(default_factory=list)
    errors: Dict[int, InputError] = field(default_factory=dict)
    values: List[Any] = field(default_factory=list)

    def __post_init__(self):
        count = len(self.items)
        self.images = self.images or [None] * count
        self.values = self.values or [None] * count

    @classmethod
    def read(cls, items: List[InputItem]):
        """A window of `items` with each image read; an unreadable one is kept in its place as its InputError."""
        window = cls(items)
        for index, item in enumerate(items):
            try:
                window.images[index] = item.load()
            except InputError as exc:
                # without its traceback, whose frames hold this window: a cycle that kept every window with a
                # bad input (images, model inputs, outputs) alive until a full garbage collection (the soak: 4.6 GB)
                window.errors[index] = exc.with_traceback(None)
        return window

    def readable(self) -> List[int]:
        """Indices of the inputs read and not found bad since."""
        return [index for index in range(len(self.items)) if index not in self.errors]

    def refuse(self, index: int, error: InputError) -> None:
        """Input `index`, read, is bad after all (e.g. beyond what a later stage can do): it comes out as `error`."""
        self.errors[index] = error
        self.values[index] = None

    def in_order(self, report_bad_input: Callable[[InputError], None]) -> Iterator[Tuple[InputItem, np.ndarray, Any]]:
        """(item, image, value) per readable input, in input order; each bad one reported where it stands
        (report_bad_input raises, unless the caller asked to go on)."""
        for index, item in enumerate(self.items):
            if index in self.errors:
                report_bad_input(self.errors[index])
                continue
            yield item, self.images[index], self.values[index]


def readable_images(items: Iterator[InputItem],
                    report_bad_input: Callable[[InputError], None]) -> Iterator[Tuple[InputItem, np.ndarray]]:
    """(item, image) per input that can be read, one at a time and in input order (no window, no helper thread);
    each bad one reported where it stands."""
    for item in items:
        for read, image, _ in Window.read([item]).in_order(report_bad_input):
            yield read, image


def chunks(items: Iterator, size: int) -> Iterator[list]:
    """`items` in lists of `size` (the last one shorter), taken from the iterator as each list is asked for."""
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def read_ahead(prepare: Callable[[Any], Prepared], items: Iterator) -> Iterator[Prepared]:
    """prepare(item) for each item; from the second on, each is prepared in a helper thread while the caller
    works on the one before. A single item starts no thread: measured, the hand-off cost a single predict(path)
    about 1.5 ms."""
    first = next(items, None)
    if first is None:
        return
    second = next(items, None)  # expansion only: files are read by prepare
    if second is None:
        yield prepare(first)
        return
    rest = itertools.chain([second], items)

    def prepare_next():
        item = next(rest, None)
        return _END if item is None else prepare(item)

    pool = ThreadPoolExecutor(1, thread_name_prefix="hpi-read")
    try:
        ready = prepare(first)
        while ready is not _END:
            pending = pool.submit(prepare_next)
            yield ready
            ready = pending.result()  # an error raised while reading surfaces here, in input order
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_END = object()


def overlapped(windows: Iterator[Prepared], submit: Callable[[Prepared], Prepared],
               finish: Callable[[Prepared], Iterator[Result]]) -> Iterator[Result]:
    """finish's results for each window submitted, in window order, with one window in flight: each window is
    submitted (its work started) before the one before it is finished, so that the work never waits for the
    caller. An error in getting the next window comes after every result of the window in flight."""
    in_flight = None
    while True:
        try:
            ready = next(windows)
        except StopIteration:
            break
        except Exception:
            if in_flight is not None:  # the inputs before a bad one still come out first
                yield from finish(in_flight)
            raise
        submitted = submit(ready)
        if in_flight is not None:
            yield from finish(in_flight)
        in_flight = submitted
    if in_flight is not None:
        yield from finish(in_flight)
