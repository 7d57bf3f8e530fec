"""TextRecognition: PaddleX's text recognition module API on any backend."""
from __future__ import annotations

import itertools
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Union

import numpy as np

from ...runtime.config import HPIConfig
from ...runtime.device import parse_device, require_device
from ...errors import ConfigError, InputError, ModelDirError
from ...inputs import InputItem, iter_inputs
from ...runtime.model_dir import ModelDir, load_model_dir
from ...results import UniqueNames
from ...runtime.selector import load_backend
from .postprocess import CTCDecoder
from .preprocess import pad_batch, rec_image_shape_from_config, resize_norm
from .result import TextRecResult

logger = logging.getLogger("hpi")

# High-performance mode works on windows of this many batches: read ahead together, and (without streams)
# reordered by width so that a batch holds lines of the same padded width; results still come out in input order.
SORT_WINDOW_BATCHES = 8
# Lines in one batch may differ in padded width by at most this many pixels. Padding changes the model's
# output (its neck mixes the whole sequence), so 0 keeps every line's text equal to batch size 1; all lines
# narrower than the 320 px minimum share width 320 and batch freely.
WIDTH_TOLERANCE_PX = 0
# Reduced precision is judged by accuracy, not by identical text (bf16 already changes some), so there each line
# is padded to a multiple of this many pixels: the runtime then meets few distinct shapes, and OpenVINO prepares
# each new shape once (~30 ms). Measured, PP-OCRv4_mobile_rec bf16, 400 lines, first pass: 136 lines/s at 64 px,
# 115 to 131 at 32 px, 83 unpadded; accuracy 92.75% in each case. FP32 never pads beyond PaddleX's own width.
REDUCED_PRECISION_WIDTH_MULTIPLE = 64
REDUCED_PRECISIONS = ("bf16", "f16", "fp16", "int8")


class TextRecognition:
    """`TextRecognition(model_name, model_dir, device, use_hpip, hpi_config).predict(input, batch_size)`."""

    def __init__(self, model_name: Optional[str] = None, model_dir=None, device: Optional[str] = None,
                 use_hpip: bool = False, hpi_config=None, *, enable_hpi: Optional[bool] = None, **kwargs):
        if kwargs:
            raise ConfigError(f"unknown argument(s) {sorted(kwargs)} for TextRecognition; allowed: model_name, "
                              "model_dir, device, use_hpip (or enable_hpi), hpi_config")
        if enable_hpi is not None:  # PaddleOCR's name for use_hpip
            use_hpip = enable_hpi
        if not isinstance(use_hpip, bool):
            raise ConfigError(f"use_hpip must be True or False, got {use_hpip!r}")
        self.device = require_device(parse_device(device))  # before any download
        self.use_hpip = use_hpip
        self.hpi_config = HPIConfig.from_user(hpi_config)
        self.model_dir: ModelDir = load_model_dir(_resolve_model_dir(model_name, model_dir), model_name)
        self.model_name = model_name or self.model_dir.model_name
        post = self.model_dir.section("PostProcess", default={}) or {}
        if post.get("name", "CTCLabelDecode") != "CTCLabelDecode":
            raise ModelDirError(f"PostProcess.name {post.get('name')!r} in {str(self.model_dir.path)!r} is not "
                                "supported; text recognition decodes CTCLabelDecode models")
        self.decoder = CTCDecoder(post.get("character_dict") or list("0123456789abcdefghijklmnopqrstuvwxyz"))
        self.rec_image_shape = rec_image_shape_from_config(self.model_dir.config)
        self._backend = load_backend(self.model_dir, self.device, use_hpip, self.hpi_config)
        self._width_multiple = REDUCED_PRECISION_WIDTH_MULTIPLE \
            if use_hpip and self._backend.config.get("precision") in REDUCED_PRECISIONS else 1
        logger.info("TextRecognition(%s) runs on %s: %s", self.model_name, self._backend.name, self.config)

    # -- what it runs on ------------------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def config(self) -> dict:
        return {"model_name": self.model_name, "model_dir": str(self.model_dir.path), "use_hpip": self.use_hpip,
                **self._backend.config}

    # -- prediction -----------------------------------------------------------------------------------------
    def predict(self, input, batch_size: int = 1, *, on_bad_input: OnBadInput = "raise",
                max_image_pixels: Optional[int] = None) -> List[TextRecResult]:
        return list(self.predict_iter(input, batch_size=batch_size, on_bad_input=on_bad_input,
                                      max_image_pixels=max_image_pixels))

    def predict_iter(self, input, batch_size: int = 1, *, on_bad_input: OnBadInput = "raise",
                     max_image_pixels: Optional[int] = None) -> Iterator[TextRecResult]:
        """Results in input order. An input that cannot be read (`InputError`, naming it) is raised where it
        stands, after every result before it; `on_bad_input="skip"` logs a warning and goes on, and a callable
        gets each `InputError` (its `.source` names the input) and goes on: a way to collect a report.
        `max_image_pixels`: larger images are bad inputs (None: $HPI_MAX_IMAGE_PIXELS or the default; 0: none).

        Thread-safe: any number of threads may call it on one TextRecognition at once.
        """
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        report_bad_input = _bad_input_handler(on_bad_input)
        inputs = iter_inputs(input, max_image_pixels=max_image_pixels)  # a bad limit fails here, before any work
        names = UniqueNames()
        # Normal mode batches exactly as PaddleX: consecutive lines, padded to the widest. High-performance
        # mode regroups lines of equal padded width within a window, so batching leaves each line's text alone.
        window = batch_size * SORT_WINDOW_BATCHES if self.use_hpip and batch_size > 1 else batch_size
        # Reading and preprocessing the next window overlaps inference of this one (OpenCV and the runtimes
        # release the GIL); one window's batches stay in flight while the next is submitted, so streams never
        # wait at a window's end. Results still come out in input order.
        windows = _read_ahead(self._prepare, _chunks(inputs, window))
        in_flight: Optional[Window] = None
        while True:
            try:
                ready = next(windows)
            except StopIteration:
                break
            except Exception:
                if in_flight is not None:  # the lines before a bad input still come out first
                    yield from self._finish(in_flight, report_bad_input, names)
                raise
            submitted = self._submit(ready, batch_size, idle=in_flight is None)
            if in_flight is not None:
                yield from self._finish(in_flight, report_bad_input, names)
            in_flight = submitted
        if in_flight is not None:
            yield from self._finish(in_flight, report_bad_input, names)

    def _prepare(self, chunk: List[InputItem]) -> "Window":
        window = Window(chunk)
        for index, item in enumerate(chunk):
            try:
                image = item.load()
            except InputError as exc:  # kept in its place: the lines around it are still recognized
                # without its traceback, whose frames hold this window: a cycle that kept every window with a
                # bad input (images, lines, outputs) alive until a full garbage collection (the soak: 4.6 GB)
                window.errors[index] = exc.with_traceback(None)
                continue
            window.images[index] = image
            window.lines[index] = self.preprocess(image)
        return window

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """One BGR line -> the model's 3xHxW input (PaddleX's, padded further only in reduced precision)."""
        return resize_norm(image, self.rec_image_shape, self._width_multiple)

    def _submit(self, window: "Window", batch_size: int, idle: bool) -> "Window":
        readable = [index for index, line in enumerate(window.lines) if line is not None]
        if self.use_hpip:
            # With streams, every line is its own request: no padding at all (the text of batch size 1), and
            # measured faster than width groups on CPU streams (ONNX Runtime: 70 vs 62 lines/s on 400 lines).
            per_request = 1 if self._backend.stream_count > 1 else batch_size
            widths = [window.lines[index].shape[2] for index in readable]
            window.groups = [[readable[i] for i in group]
                             for group in group_by_width(widths, per_request, WIDTH_TOLERANCE_PX)]
        else:
            window.groups = [readable] if readable else []
        batches = [pad_batch([window.lines[i] for i in group]) for group in window.groups]
        lone = len(batches) == 1 and idle
        window.outputs = [self._backend.submit(batch, lone=lone) for batch in batches]
        return window

    def _finish(self, window: "Window", report_bad_input: Callable[[InputError], None],
                names: "UniqueNames") -> Iterator[TextRecResult]:
        decoded: List = [None] * len(window.items)
        for group, output in zip(window.groups, window.outputs):
            for index, text_score in zip(group, self.decoder(output.result())):
                decoded[index] = text_score
        for index, item in enumerate(window.items):
            if index in window.errors:
                report_bad_input(window.errors[index])  # raises, unless the caller asked to go on
                continue
            text, score = decoded[index]
            result = TextRecResult(input_path=item.input_path, page_index=item.page_index,
                                   input_img=window.images[index], rec_text=text, rec_score=score)
            names.assign(result)
            yield result

    # -- lifecycle ------------------------------------------------------------------------------------------
    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> "TextRecognition":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def group_by_width(widths: Sequence[int], batch_size: int, tolerance: int) -> List[List[int]]:
    """Indices grouped into batches of at most `batch_size` whose widths differ by at most `tolerance`."""
    order = sorted(range(len(widths)), key=lambda i: (widths[i], i))
    groups: List[List[int]] = []
    for index in order:
        if groups and len(groups[-1]) < batch_size and widths[index] - widths[groups[-1][0]] <= tolerance:
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


@dataclass
class Window:
    """Inputs read and preprocessed together: an image and a line per input (None where it could not be read,
    `errors` says why); `groups` (indices per batch) and `outputs` once submitted."""

    items: List[InputItem]
    images: List[Optional[np.ndarray]] = field(default_factory=list)
    lines: List[Optional[np.ndarray]] = field(default_factory=list)
    errors: Dict[int, InputError] = field(default_factory=dict)
    groups: List[List[int]] = field(default_factory=list)
    outputs: List["Future[np.ndarray]"] = field(default_factory=list)

    def __post_init__(self):
        self.images = self.images or [None] * len(self.items)
        self.lines = self.lines or [None] * len(self.items)


OnBadInput = Union[str, Callable[[InputError], None]]


def _bad_input_handler(on_bad_input: OnBadInput) -> Callable[[InputError], None]:
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


def _read_ahead(prepare: Callable, chunks: Iterator) -> Iterator:
    """prepare(chunk) for each chunk; from the second on, each is prepared in a helper thread while the caller
    works on the one before. A single chunk (one line, or fewer lines than a window) starts no thread: measured,
    the hand-off cost a single predict(path) about 1.5 ms."""
    first = next(chunks, None)
    if first is None:
        return
    second = next(chunks, None)  # expansion only: files are read by prepare
    if second is None:
        yield prepare(first)
        return
    rest = itertools.chain([second], chunks)

    def prepare_next():
        chunk = next(rest, None)
        return _END if chunk is None else prepare(chunk)

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


def _chunks(items: Iterator[InputItem], size: int) -> Iterator[List[InputItem]]:
    chunk: List[InputItem] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _resolve_model_dir(model_name: Optional[str], model_dir) -> Path:
    if model_dir is not None:
        return Path(model_dir)
    if model_name is None:
        raise ConfigError("give model_name, model_dir, or both")
    from ...runtime.download import ensure_official_model

    return ensure_official_model(model_name)
