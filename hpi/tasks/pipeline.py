"""The predictor every task shares: PaddleX's module API over the runtime, and the path from inputs to results.

A task says how one image becomes a model input (`preprocess`), how inputs become a batch (`collate`), how a
batch's output becomes one value per image (`postprocess`) and how a value becomes a result (`make_result`).
This module does the rest, the same for every task:

- inputs (paths, folders, PDFs, arrays, URLs) are read lazily, in windows of `batch_size * WINDOW_BATCHES`;
  the next window is read and preprocessed in a helper thread while this one is inferred;
- normal mode batches as PaddleX: consecutive images (a task whose `collate` cannot pad splits them by shape);
  high-performance mode groups images of equal input shape within a window (no padding: batching leaves each
  image's output as at batch size 1), in as many requests as the backend runs best (`items_per_request`);
- one window's batches stay in flight while the next is submitted, so a backend's streams never wait;
- results come out in input order; an unreadable input raises where it stands (or is skipped or reported).

Thread-safe: any number of threads may call `predict` on one predictor at once (nothing per call is kept on it;
backends are thread-safe).
"""
from __future__ import annotations

import itertools
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Dict, Hashable, Iterator, List, Mapping, Optional, Sequence, Union

import numpy as np

from ..errors import ConfigError, InputError, ModelDirError
from ..inputs import InputItem, iter_inputs
from ..results import BaseResult, UniqueNames
from ..runtime.candidates import plan_report
from ..runtime.config import HPIConfig
from ..runtime.model_dir import ModelDir
from ..runtime.model_spec import ModelSpec
from ..runtime.selector import load_backend
from ..runtime.tuning import TuningWorkload

logger = logging.getLogger(__name__)

# High-performance mode works on windows of this many batches: read ahead together and grouped by input shape.
WINDOW_BATCHES = 8
TUNING_BATCH_SIZE = 8  # the batch size tuning runs predict at: the race's (hpi benchmark), a typical service's

OnBadInput = Union[str, Callable[[InputError], None]]


@dataclass
class Window:
    """Inputs read and preprocessed together: per input an image, a model input and what postprocess needs of
    its preprocessing (None where it could not be read: `errors` says why); `groups` (indices per batch) and
    `outputs` once submitted."""

    items: List[InputItem]
    images: List[Optional[np.ndarray]] = field(default_factory=list)
    inputs: List[Optional[np.ndarray]] = field(default_factory=list)
    metas: List[Any] = field(default_factory=list)
    errors: Dict[int, InputError] = field(default_factory=dict)
    groups: List[List[int]] = field(default_factory=list)
    outputs: List["Future[np.ndarray]"] = field(default_factory=list)

    def __post_init__(self):
        count = len(self.items)
        self.images = self.images or [None] * count
        self.inputs = self.inputs or [None] * count
        self.metas = self.metas or [None] * count


class Predictor:
    """`Task(model_name, model_dir, device, use_hpip, hpi_config).predict(input, batch_size, **options)`."""

    task: ClassVar[str] = "predictor"  # the class name users know, for messages
    # True when collate pads inputs of different shapes into one batch as PaddleX does (normal mode then batches
    # consecutive inputs whatever their shapes); False splits a batch by shape.
    collate_pads: ClassVar[bool] = False
    # What of the model's output postprocess reads: "full", or "top1" (the top-1 value and index over the last
    # axis, [..., 2]), which backends that can compute it in the model return instead (others return it whole)
    output: ClassVar[str] = "full"

    def __init__(self, model_name: Optional[str] = None, model_dir=None, device: Optional[str] = None,
                 use_hpip: Optional[bool] = None, hpi_config=None, *, enable_hpi: Optional[bool] = None, **kwargs):
        self._open(ModelSpec.of(model_name, model_dir, device, use_hpip, hpi_config, enable_hpi=enable_hpi,
                                where=self.task, **kwargs))

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> "Predictor":
        """The predictor of a spec already made (ModelSpec.of): nothing is checked or read again."""
        self = cls.__new__(cls)
        self._open(spec)
        return self

    def _open(self, spec: ModelSpec) -> None:
        spec = spec.fetched()  # a model known by name is downloaded now, after every check
        self.spec = spec
        self.device, self.hpi_config, self.model_dir = spec.device, spec.hpi_config, spec.model_dir
        self.model_name, self.use_hpip = spec.name, spec.use_hpip
        self._setup()
        self._backend = load_backend(self.model_dir, self.device, self.use_hpip, self.hpi_config,
                                     tuning_workload=self.tuning_workload,
                                     output=self.output if self.use_hpip else "full")
        self._loaded()
        logger.info("%s(%s) runs on %s: %s", self.task, self.model_name, self._backend.name, self.config)

    @classmethod
    def on_backend(cls, model_dir: ModelDir, backend) -> "Predictor":
        """A high-performance-mode predictor around `backend`, already chosen and loaded (tuning times each
        candidate this way: predict's own path, on that backend). Closing it closes the backend."""
        self = cls.__new__(cls)
        self.spec = ModelSpec(model_dir.model_name, model_dir, backend.device, True, HPIConfig())
        self.device, self.use_hpip, self.hpi_config = backend.device, True, HPIConfig()
        self.model_dir, self.model_name = model_dir, model_dir.model_name
        self._setup()
        self._backend = backend
        self._loaded()
        return self

    # -- what a task fills in -------------------------------------------------------------------------------
    def _setup(self) -> None:
        """Read the task's settings from the model dir (inference.yml); raise ModelDirError if unsupported."""

    def _loaded(self) -> None:
        """Called once the backend is loaded (settings that depend on it, e.g. its precision)."""

    def tuning_workload(self):
        """The inputs `auto_config='tune'` times candidates on, as a runtime.tuning.TuningWorkload."""
        raise ConfigError(f"{self.task} has no tuning workload: use auto_config true or false")

    def options(self, **overrides) -> Any:
        """The per-call options (predict's keyword arguments), checked; default: none."""
        if overrides:
            raise ConfigError(f"unknown argument(s) {sorted(overrides)} for {self.task}.predict")
        return None

    def preprocess(self, image: np.ndarray, options: Any) -> "tuple[np.ndarray, Any]":
        """One BGR image -> (model input without the batch axis, what postprocess needs of it)."""
        raise NotImplementedError

    def collate(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        """Inputs of one batch -> the batch (default: stacked; they have equal shapes unless collate_pads)."""
        return np.stack(inputs)

    def postprocess(self, output: np.ndarray, metas: Sequence[Any], images: Sequence[np.ndarray],
                    options: Any) -> List[Any]:
        """A batch's model output -> one value per input of the batch."""
        raise NotImplementedError

    def make_result(self, item: InputItem, image: np.ndarray, value: Any) -> BaseResult:
        raise NotImplementedError

    # -- what it runs on ------------------------------------------------------------------------------------
    @property
    def backend(self) -> str:
        return self._backend.name

    @property
    def config(self) -> dict:
        # high-performance mode on the CPU: the plan of this CPU's class, and why (measured, or whose it is)
        plan = plan_report(self.model_dir.model_name, self.device, self.hpi_config) if self.use_hpip else {}
        return {"model_name": self.model_name, "model_dir": str(self.model_dir.path), "use_hpip": self.use_hpip,
                **self._backend.config, **plan}

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """The model alone on one batch (for pipelines that prepare their own inputs)."""
        return self._backend.infer(batch)

    # -- prediction -----------------------------------------------------------------------------------------
    def predict(self, input, batch_size: int = 1, *, on_bad_input: OnBadInput = "raise",
                max_image_pixels: Optional[int] = None, **options) -> List[BaseResult]:
        return list(self.predict_iter(input, batch_size=batch_size, on_bad_input=on_bad_input,
                                      max_image_pixels=max_image_pixels, **options))

    def predict_iter(self, input, batch_size: int = 1, *, on_bad_input: OnBadInput = "raise",
                     max_image_pixels: Optional[int] = None, **options) -> Iterator[BaseResult]:
        """Results in input order. An input that cannot be read (`InputError`, naming it) is raised where it
        stands, after every result before it; `on_bad_input="skip"` logs a warning and goes on, and a callable
        gets each `InputError` (its `.source` names the input) and goes on: a way to collect a report.
        `max_image_pixels`: larger images are bad inputs (None: $HPI_MAX_IMAGE_PIXELS or the default; 0: none).
        """
        names = UniqueNames()
        for item, image, value in self._run(iter_inputs(input, max_image_pixels=max_image_pixels), batch_size,
                                            bad_input_handler(on_bad_input), options):
            result = self.make_result(item, image, value)
            names.assign(result)
            yield result

    def values(self, images: Sequence[np.ndarray], batch_size: int = 1, **options) -> List[Any]:
        """postprocess's value for each BGR image already in memory, batched as predict batches them, without
        results (a pipeline's stage: no paths, names or result objects per image)."""
        return [value for _, _, value in self._run(iter_inputs(list(images), max_image_pixels=0), batch_size,
                                                   bad_input_handler("raise"), options)]

    def _run(self, inputs: Iterator[InputItem], batch_size: int, report_bad_input: Callable[[InputError], None],
             options: Mapping[str, Any]) -> Iterator[tuple]:
        """(item, image, value) per input, in input order: windows read ahead, submitted, finished."""
        check_batch_size(batch_size)
        call_options = self.options(**options)
        window = batch_size * WINDOW_BATCHES if self.use_hpip and batch_size > 1 else batch_size
        windows = read_ahead(lambda chunk: self.prepare(chunk, call_options), chunks(inputs, window))
        in_flight: Optional[Window] = None
        while True:
            try:
                ready = next(windows)
            except StopIteration:
                break
            except Exception:
                if in_flight is not None:  # the inputs before a bad one still come out first
                    yield from self.finish(in_flight, call_options, report_bad_input)
                raise
            submitted = self.submit(ready, batch_size)
            if in_flight is not None:
                yield from self.finish(in_flight, call_options, report_bad_input)
            in_flight = submitted
        if in_flight is not None:
            yield from self.finish(in_flight, call_options, report_bad_input)

    # The stages of predict_iter, public so that a benchmark can time them one by one.
    def prepare(self, chunk: List[InputItem], options: Any = None) -> Window:
        """Read and preprocess a window of inputs; an unreadable one is kept in its place as an error."""
        window = Window(chunk)
        for index, item in enumerate(chunk):
            try:
                image = item.load()
            except InputError as exc:
                # without its traceback, whose frames hold this window: a cycle that kept every window with a
                # bad input (images, inputs, outputs) alive until a full garbage collection (the soak: 4.6 GB)
                window.errors[index] = exc.with_traceback(None)
                continue
            window.images[index] = image
            window.inputs[index], window.metas[index] = self.preprocess(image, options)
        return window

    def submit(self, window: Window, batch_size: int) -> Window:
        """Group the window's inputs into batches and start inference on them (see the module's docstring)."""
        readable = [index for index, array in enumerate(window.inputs) if array is not None]
        shapes = [window.inputs[index].shape for index in readable]
        if self.use_hpip:
            groups = group_by_shape(shapes, self._backend.items_per_request(batch_size))
        elif self.collate_pads:
            groups = [list(range(start, min(start + batch_size, len(readable))))
                      for start in range(0, len(readable), batch_size)]
        else:
            groups = [[start + i for i in group] for start in range(0, len(readable), batch_size)
                      for group in group_by_shape(shapes[start:start + batch_size], batch_size, keep_order=True)]
        window.groups = [[readable[i] for i in group] for group in groups]
        batches = [self.collate([window.inputs[i] for i in group]) for group in window.groups]
        window.outputs = self._backend.submit_batches(batches)
        return window

    def finish(self, window: Window, options: Any,
               report_bad_input: Callable[[InputError], None]) -> Iterator[tuple]:
        """Wait for the window's outputs and yield (item, image, value) per readable input, in input order."""
        values: List[Any] = [None] * len(window.items)
        for group, output in zip(window.groups, window.outputs):
            per_input = self.postprocess(output.result(), [window.metas[i] for i in group],
                                         [window.images[i] for i in group], options)
            for index, value in zip(group, per_input):
                values[index] = value
        for index, item in enumerate(window.items):
            if index in window.errors:
                report_bad_input(window.errors[index])  # raises, unless the caller asked to go on
                continue
            yield item, window.images[index], values[index]

    # -- lifecycle ------------------------------------------------------------------------------------------
    def close(self) -> None:
        self._backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def predict_workload(task: "type[Predictor]", model_dir: ModelDir, images: Sequence[np.ndarray],
                     warmup: np.ndarray, key: Callable[[Any], Hashable],
                     batch_size: int = TUNING_BATCH_SIZE) -> TuningWorkload:
    """A TuningWorkload that runs `task`'s predict path (`values`, as predict batches) over `images` on the
    backend being tuned; `key` maps a value to what must equal FP32's. `warmup`: an image outside the set."""
    def run(backend, warm_up: bool) -> List[Hashable]:
        predictor = task.on_backend(model_dir, backend)
        return [key(value) for value in predictor.values([warmup] if warm_up else images, batch_size)]

    return TuningWorkload(run=run, size=len(images), output=task.output)


def check_batch_size(batch_size: Any) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")


def group_by_shape(shapes: Sequence[Hashable], batch_size: int, keep_order: bool = False) -> List[List[int]]:
    """Indices grouped into batches of at most `batch_size` inputs of equal shape: sorted by shape (so that
    batches fill up), or in first-seen order of shapes with `keep_order`."""
    by_shape: Dict[Hashable, List[int]] = {}
    for index, shape in enumerate(shapes):
        by_shape.setdefault(tuple(shape), []).append(index)
    keys = list(by_shape) if keep_order else sorted(by_shape)
    return [members[start:start + batch_size] for key in keys
            for members in (by_shape[key],) for start in range(0, len(members), batch_size)]


def bad_input_handler(on_bad_input: OnBadInput) -> Callable[[InputError], None]:
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


def read_ahead(prepare: Callable, items: Iterator) -> Iterator:
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


def chunks(items: Iterator, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def checked_options(task: str, given: Mapping[str, Any], defaults: Mapping[str, Any],
                    checks: Mapping[str, "tuple[Callable[[Any], bool], str]"]) -> Dict[str, Any]:
    """`defaults` updated with the non-None values of `given` (numpy scalars as Python numbers), each passing its
    check; an unknown key or a bad value raises ConfigError naming it and what it allows."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ConfigError(f"unknown argument(s) {unknown} for {task}.predict; allowed: {sorted(defaults)}")
    merged = dict(defaults)
    for key, value in given.items():
        if value is None:
            continue
        check, allowed = checks[key]
        if not check(value):
            raise ConfigError(f"{task}.predict: bad value {value!r} for {key}: expected {allowed}")
        merged[key] = value.item() if isinstance(value, np.generic) else value
    return merged


def preprocess_ops(config: Mapping[str, Any], supported: Sequence[str], task: str, where: str) -> Dict[str, dict]:
    """inference.yml's PreProcess.transform_ops as {op name: its arguments}; an entry that is not a one-key mapping
    or an op `task` does not support raises ModelDirError naming it (`where`: the file)."""
    ops: Dict[str, dict] = {}
    for entry in (config.get("PreProcess") or {}).get("transform_ops") or []:
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ModelDirError(f"{where}: PreProcess.transform_ops entry {entry!r} is not a one-key mapping")
        (name, args), = entry.items()
        if name not in supported:
            raise ModelDirError(f"{where}: PreProcess op {name!r} is not supported by {task} "
                                f"(supported: {', '.join(supported)})")
        ops[name] = args or {}
    return ops


def profile_stages(predictor: Predictor, inputs, batch_size: int, **options) -> Dict[str, float]:
    """Milliseconds per input in each stage of `predictor.predict`, run one after another (no overlap): read,
    preprocess, infer (grouping and collating count here), postprocess."""
    import time

    call_options = predictor.options(**options)
    times = dict.fromkeys(("read", "preprocess", "infer", "postprocess"), 0.0)
    items = list(iter_inputs(inputs))
    window = batch_size * WINDOW_BATCHES if predictor.use_hpip and batch_size > 1 else batch_size
    for chunk in chunks(iter(items), window):
        t0 = time.perf_counter()
        images = [item.load() for item in chunk]
        t1 = time.perf_counter()
        prepared = [predictor.preprocess(image, call_options) for image in images]
        t2 = time.perf_counter()
        submitted = predictor.submit(Window(chunk, images, [p[0] for p in prepared], [p[1] for p in prepared]),
                                     batch_size)
        outputs = [future.result() for future in submitted.outputs]
        t3 = time.perf_counter()
        for group, output in zip(submitted.groups, outputs):
            predictor.postprocess(output, [submitted.metas[i] for i in group], [images[i] for i in group],
                                  call_options)
        t4 = time.perf_counter()
        for key, seconds in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            times[key] += seconds
    return {key: 1000 * seconds / len(items) for key, seconds in times.items()}
