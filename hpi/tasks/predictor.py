"""The predictor every task shares: PaddleX's module API over the runtime, and the path from inputs to results.

A task says how one image becomes a model input (`preprocess`), how inputs become a batch (`collate`), how a
batch's output becomes one value per image (`postprocess`) and how a value becomes a result (`make_result`).
This module does the rest, the same for every task, on the streams of hpi.streaming:

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

import logging
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Dict, Hashable, Iterator, List, Mapping, Optional, Sequence

import numpy as np

from ..errors import ConfigError, InputError
from ..inputs import InputItem, iter_inputs
from ..results import BaseResult, UniqueNames
from ..runtime.candidates import plan_report
from ..runtime.config import HPIConfig
from ..runtime.model_dir import ModelDir
from ..runtime.model_spec import ModelSpec
from ..runtime.selector import load_backend
from ..runtime.tuning import TuningWorkload
from ..streaming import Lap, OnBadInput, Window, bad_input_handler, chunks, no_lap, overlapped, read_ahead

logger = logging.getLogger(__name__)

# High-performance mode works on windows of this many batches: read ahead together and grouped by input shape.
WINDOW_BATCHES = 8
TUNING_BATCH_SIZE = 8  # the batch size tuning runs predict at: the race's (hpi benchmark), a typical service's


@dataclass
class PreparedWindow(Window):
    """A window read and preprocessed: per readable input a model input and what postprocess needs of its
    preprocessing; `groups` (indices per batch) and `outputs` once submitted; `values` once finished."""

    inputs: List[Optional[np.ndarray]] = field(default_factory=list)
    metas: List[Any] = field(default_factory=list)
    groups: List[List[int]] = field(default_factory=list)
    outputs: List["Future[np.ndarray]"] = field(default_factory=list)

    def __post_init__(self):
        super().__post_init__()
        count = len(self.items)
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
        self.spec = spec.fetched()  # a model known by name is downloaded now, after every check
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
        self._setup()
        self._backend = backend
        self._loaded()
        return self

    # -- the spec's parts, as PaddleX's predictors name them --------------------------------------------------
    @property
    def model_dir(self) -> ModelDir:
        return self.spec.model_dir

    @property
    def model_name(self) -> Optional[str]:
        return self.spec.name

    @property
    def device(self):
        return self.spec.device

    @property
    def use_hpip(self) -> bool:
        return self.spec.use_hpip

    @property
    def hpi_config(self) -> HPIConfig:
        return self.spec.hpi_config

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
        windows = read_ahead(lambda chunk: self.prepare(chunk, call_options),
                             chunks(inputs, self.window_size(batch_size)))
        return overlapped(windows, lambda window: self.submit(window, batch_size),
                          lambda window: self.finish(window, call_options, report_bad_input))

    # The stages of predict_iter, public so that a benchmark can time them one by one (hpi.bench.stages).
    def window_size(self, batch_size: int) -> int:
        """How many inputs are read, preprocessed and submitted together at `batch_size`."""
        return batch_size * WINDOW_BATCHES if self.use_hpip and batch_size > 1 else batch_size

    def prepare(self, chunk: List[InputItem], options: Any = None, lap: Lap = no_lap) -> PreparedWindow:
        """Read and preprocess a window of inputs; an unreadable one is kept in its place as an error.
        `lap("read")`, `lap("preprocess")` as each stage ends."""
        window = PreparedWindow.read(chunk)
        lap("read")
        for index in window.readable():
            window.inputs[index], window.metas[index] = self.preprocess(window.images[index], options)
        lap("preprocess")
        return window

    def submit(self, window: PreparedWindow, batch_size: int) -> PreparedWindow:
        """Group the window's inputs into batches and start inference on them (see the module's docstring)."""
        readable = window.readable()
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

    def finish(self, window: PreparedWindow, options: Any,
               report_bad_input: Callable[[InputError], None]) -> Iterator[tuple]:
        """Wait for the window's outputs and yield (item, image, value) per readable input, in input order."""
        for group, output in zip(window.groups, window.outputs):
            per_input = self.postprocess(output.result(), [window.metas[i] for i in group],
                                         [window.images[i] for i in group], options)
            for index, value in zip(group, per_input):
                window.values[index] = value
        yield from window.in_order(report_bad_input)

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
