"""The one interface every inference backend implements.

`infer()` and `submit()` are fixed here (input checks live in one place); a backend fills small hooks:
`_load_impl` (the model, shared by every call), `_new_context` (one execution context: what a single call in
flight needs for itself), `_infer_impl(context, batch)` and, if they hold resources, `_close_context` and
`_close_impl`. A backend that can run several batches at once (streams) also calls `_start_streams(n)` when
loading and fills `_infer_stream_impl`.

Thread safety: any number of threads may share one backend object. No two calls in flight ever use the same
execution context: a call borrows one from a pool (made on demand, up to `MAX_CONTEXTS`, then reused; a caller
beyond that waits for a free one) or runs on a free stream. Nothing per call is kept on the backend itself.
`load()` is safe to race; `close()` must not race calls in flight.

Errors: whatever a framework raises while loading or running comes out as a BackendError (its cause attached), so
a caller catches one type. Options: one spelling each (`cpu_num_threads`; precision 'fp32', 'fp16', 'bf16',
'int8'); older spellings are accepted as aliases and replaced by the canonical one when checked.
"""
from __future__ import annotations

import contextlib
import logging
import queue
import threading
from abc import ABC, abstractmethod
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, ClassVar, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..._logging import captured_warnings
from ..device import Device, cpu_quota
from ...errors import BackendError, ConfigError, HPIError
from ..model_dir import ModelDir, Profile, check_dynamic_shapes
from ..._env import library_versions
from .int8 import Int8Artifact, gated_model_path

OptionCheck = Callable[[Any], bool]
# Values with an older spelling, per option: accepted, and replaced by the canonical one (OpenVINO's own names).
VALUE_ALIASES: Dict[str, Dict[Any, Any]] = {"precision": {"f32": "fp32", "f16": "fp16"}}
PRECISIONS = ("fp32", "fp16", "bf16", "int8")  # the one public spelling of each precision


def positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


# How predict groups a window's inputs for a backend with CPU streams (items_per_request); the CPU plans
# (configs/cpu_plans.yaml) say which was measured faster on each CPU class.
BATCHING = ("per_stream", "buckets")
# What a backend returns of the model's output: all of it, or (where a task needs no more and the backend can
# compute it in the model) the top-1 value and index over the last axis, packed as [..., 2]
OUTPUTS = ("full", "top1")
BATCHING_HELP = ("'per_stream' (each input its own request, spread over the streams) or 'buckets' (up to batch_size "
                 "inputs of one shape per request)")


def one_of(*allowed: Any) -> OptionCheck:
    check = lambda value: value in allowed  # noqa: E731
    check.allowed = allowed  # type: ignore[attr-defined]
    return check


def valid_dynamic_shapes(value: Any) -> bool:
    check_dynamic_shapes(value)  # raises a ConfigError naming exactly what is wrong, clearer than a generic one
    return True


DYNAMIC_SHAPES_OPTION = (valid_dynamic_shapes, "{input_name: [min, opt, max]}, each shape 4 positive integers "
                                               "(default: the model dir's, see ModelDir.dynamic_shapes)")


def max_contexts() -> int:
    """How many execution contexts a backend makes at most for calls outside its streams. More than the CPUs
    would only share the same cores (and each context holds its own buffers); callers beyond it wait."""
    return max(2, cpu_quota())


class ContextPool:
    """Execution contexts for calls in flight: a call borrows one for itself and gives it back. Contexts are made
    on demand (outside the lock: making one can be slow) up to `limit`; beyond that a caller waits."""

    def __init__(self, create: Callable[[], Any], limit: int):
        self._create, self._limit = create, limit
        self._free: List[Any] = []
        self._made: List[Any] = []
        self._reserved = 0  # being made right now
        self._changed = threading.Condition()

    def add(self, context: Any) -> None:
        with self._changed:
            self._made.append(context)
            self._free.append(context)
            self._changed.notify()

    @contextlib.contextmanager
    def borrow(self) -> Iterator[Any]:
        with self._changed:
            while not self._free and len(self._made) + self._reserved >= self._limit:
                self._changed.wait()
            context = self._free.pop() if self._free else None
            if context is None:
                self._reserved += 1
        if context is None:
            try:
                context = self._create()
            finally:
                with self._changed:
                    self._reserved -= 1
                    self._changed.notify()
            with self._changed:
                self._made.append(context)
        try:
            yield context
        finally:
            with self._changed:
                self._free.append(context)
                self._changed.notify()

    @property
    def size(self) -> int:
        return len(self._made)

    def drain(self) -> List[Any]:
        """Every context made, for closing; the pool is empty afterwards."""
        with self._changed:
            made, self._made, self._free = self._made, [], []
        return made


class InferenceBackend(ABC):
    # -- facts: what the selector, tuning, quantization, the bench and the import hints read (via the registry) --
    name: ClassVar[str]
    model_format: ClassVar[str]  # "onnx" or "paddle": which weights of the model dir it runs
    framework: ClassVar[str]  # the module it imports on first use
    extra: ClassVar[str]  # the pip extra of hpi-runtime that installs the framework (pyproject.toml)
    package: ClassVar[str]  # the pip package that provides the framework
    distributions: ClassVar[Tuple[str, ...]] = ()  # whose versions describe it (read from metadata, not imported)
    device_kinds: ClassVar[Tuple[str, ...]] = ("cpu",)
    precisions: ClassVar[Tuple[str, ...]] = ("fp32",)  # of PRECISIONS, those it can run
    # The reduced precisions `hpi tune` times, per device kind, and the options that select each
    tuned_precisions: ClassVar[Dict[str, Dict[str, Dict[str, Any]]]] = {}
    int8_artifact: ClassVar[Optional[Int8Artifact]] = None  # the file it runs for 'int8' (int8.py)
    quantizer: ClassVar[Optional[str]] = None  # "module:Class" that makes its int8_artifact (`hpi quantize`)
    # option name -> (check, description of what is allowed)
    option_checks: ClassVar[Dict[str, Tuple[OptionCheck, str]]] = {}
    # option name -> the canonical name it is another spelling of (both must be in option_checks)
    option_aliases: ClassVar[Dict[str, str]] = {}
    # True for frameworks whose execution state belongs to the thread that runs it: every call then runs on one
    # of the backend's own worker threads, each keeping its context for life, so a context never changes thread.
    context_per_thread: ClassVar[bool] = False

    def __init__(self, model_dir: ModelDir, device: Device, options: Optional[Mapping[str, Any]] = None):
        if device.kind not in self.device_kinds:
            raise ConfigError(f"backend {self.name!r} does not run on {device}; it supports "
                              f"{', '.join(self.device_kinds)}")
        self.model_dir = model_dir
        self.device = device
        self.options = {**self.default_options(device), **self.check_options(options or {})}
        self._check_for_device()
        self._loaded = False
        self._load_lock = threading.Lock()
        self._contexts = ContextPool(self._new_context, max_contexts())
        self._context_workers: Optional[ThreadPoolExecutor] = None  # with context_per_thread
        self._worker_contexts: List[Any] = []
        self._stream_pool: Optional[ThreadPoolExecutor] = None
        self.stream_count = 1  # batches this backend can run at once on its streams (see items_per_request)
        self._in_flight = 0  # calls submitted and not finished, over all threads
        self._in_flight_lock = threading.Lock()

    # -- configuration --------------------------------------------------------------------------------------
    @classmethod
    def default_options(cls, device: Device) -> Dict[str, Any]:
        return {}

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> Dict[str, Any]:
        """Reject unknown keys and bad values with a message naming what is allowed; return the options in their
        canonical spelling (aliased keys and values replaced)."""
        checked: Dict[str, Any] = {}
        for key, value in options.items():
            if key not in cls.option_checks:
                raise ConfigError(f"unknown option {key!r} for backend {cls.name!r}; allowed: "
                                  f"{', '.join(sorted(cls.option_checks)) or 'none'}")
            canonical = cls.option_aliases.get(key, key)
            value = VALUE_ALIASES.get(canonical, {}).get(value, value) if isinstance(value, str) else value
            check, allowed = cls.option_checks[canonical]
            if not check(value):
                raise ConfigError(f"invalid value {value!r} for {cls.name}.{key}: expected {allowed}")
            if canonical in checked and checked[canonical] != value:
                spellings = sorted(k for k in options if cls.option_aliases.get(k, k) == canonical)
                raise ConfigError(f"{cls.name}: {' and '.join(spellings)} are the same option ({canonical}) with "
                                  f"different values; give it once")
            checked[canonical] = value
        return checked

    def _check_for_device(self) -> None:
        """Hook: reject options that this device cannot honour (e.g. a GPU-only run mode on the CPU)."""

    @classmethod
    def precision_of(cls, options: Mapping[str, Any]) -> str:
        """The precision `options` (checked) select: the `precision` option, fp32 without one."""
        return options.get("precision", "fp32")

    @classmethod
    def versions(cls) -> Dict[str, str]:
        """{distribution: version} of what is installed of its framework (nothing imported)."""
        return library_versions(cls.distributions)

    @staticmethod
    def default_threads() -> int:
        return cpu_quota()

    def dynamic_shapes(self) -> Optional[Dict[str, Profile]]:
        """The range of input shapes to prepare for: the `dynamic_shapes` option where a backend has it and it
        is given, else the model dir's (inference.yml, else the catalog), else None (the model's own axes)."""
        given = self.options.get("dynamic_shapes")
        return check_dynamic_shapes(given) if given else self.model_dir.dynamic_shapes

    def required_dynamic_shapes(self, needed_by: str) -> Dict[str, Profile]:
        """`dynamic_shapes()`, or a BackendError saying which key to add (for a build that needs a range)."""
        return self.dynamic_shapes() or self.model_dir.require_dynamic_shapes(needed_by)

    @property
    def config(self) -> Dict[str, Any]:
        """The effective configuration, as loaded (facts read back from the runtime where it reports them)."""
        return {"backend": self.name, "device": str(self.device), **self.options}

    # -- lifecycle ------------------------------------------------------------------------------------------
    def load(self) -> "InferenceBackend":
        with self._load_lock:
            if self._loaded:
                return self
            try:
                with captured_warnings(f"loading {self.name}", logging.WARNING):  # e.g. a provider it lacks
                    self._load_impl()
                try:  # the first context now: its errors are load errors
                    if self.context_per_thread:
                        self._context_workers = ThreadPoolExecutor(max_contexts(),
                                                                   thread_name_prefix=f"hpi-{self.name}-context")
                        self._worker_context = threading.local()
                        self._context_workers.submit(self._context_of_this_worker).result()
                    else:
                        self._contexts.add(self._new_context())
                except BaseException:
                    self._release()
                    raise
            except HPIError:
                raise
            except Exception as exc:  # each framework raises its own types; callers catch one
                raise BackendError(f"{self.name} could not load {str(self.model_path())!r}: {exc}") from exc
            self._loaded = True
        return self

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run the model on a float32 NCHW batch and return its first output as a numpy array."""
        return self._infer_borrowed(self._ready(batch))

    def _ready(self, batch) -> np.ndarray:
        if not isinstance(batch, np.ndarray) or batch.ndim != 4:
            raise BackendError(f"{self.name}: expected a 4-D NCHW numpy array, got "
                               f"{type(batch).__name__} {getattr(batch, 'shape', '')}")
        if not self._loaded:
            self.load()
        return np.ascontiguousarray(batch, dtype=np.float32)

    def items_per_request(self, batch_size: int) -> int:
        """How many items a caller should put in one batch, given the batch size asked for: with streams each
        item is its own request (`batching` "per_stream", the default: measured faster than batches on CPU
        streams, ONNX Runtime 70 vs 62 lines/s on 400 lines on a Zen 4), or with `batching` "buckets" up to
        `batch_size` items of one shape per request; without streams, `batch_size`."""
        if self.stream_count > 1 and self.options.get("batching", "per_stream") == "per_stream":
            return 1
        return batch_size

    def submit(self, batch: np.ndarray) -> "Future[np.ndarray]":
        """Start inference on one batch and return a future of its output.

        A backend with several streams (engines that each run one batch on a share of the threads) runs
        submitted batches in parallel, each on the next free stream. Without streams the batch runs now, in the
        caller's thread, and the future is already done.
        """
        return self._submit(batch, lone=False)

    def submit_batches(self, batches: Sequence[np.ndarray]) -> "List[Future[np.ndarray]]":
        """`submit` each batch. A single batch while the backend is otherwise idle runs now, in the caller's
        thread, on all threads at once (nothing else to run beside it, so that answers it fastest); a single batch
        that arrives while other calls are in flight (other threads) joins the streams instead."""
        return [self._submit(batch, lone=len(batches) == 1) for batch in batches]

    def _submit(self, batch: np.ndarray, lone: bool) -> "Future[np.ndarray]":
        batch = self._ready(batch)
        with self._in_flight_lock:
            run_now = self._stream_pool is None or (lone and self._in_flight == 0)
            self._in_flight += 1
        if run_now:
            future: "Future[np.ndarray]" = Future()
            try:
                future.set_result(self._infer_borrowed(batch))
            except Exception as exc:  # delivered by result(), as a pool would
                future.set_exception(exc)
            finally:
                self._call_done()
            return future
        future = self._stream_pool.submit(self._infer_on_free_stream, batch)
        future.add_done_callback(lambda done: done.cancelled() and self._call_done())  # it never ran
        return future

    def _call_done(self) -> None:
        with self._in_flight_lock:
            self._in_flight -= 1

    def infer_many(self, batches: Sequence[np.ndarray]) -> List[np.ndarray]:
        """Outputs of several independent batches, in order (in parallel where the backend has streams)."""
        futures = [self.submit(batch) for batch in batches]
        return [future.result() for future in futures]

    def _infer_borrowed(self, batch: np.ndarray) -> np.ndarray:
        try:
            if self._context_workers is not None:
                return self._context_workers.submit(self._infer_on_this_worker, batch).result()
            with self._contexts.borrow() as context:
                return self._infer_impl(context, batch)
        except HPIError:
            raise
        except Exception as exc:
            raise self._run_error(batch, exc) from exc

    def _run_error(self, batch: np.ndarray, exc: Exception) -> BackendError:
        """What a framework raised while running, as the one error type callers catch (the cause attached)."""
        return BackendError(f"{self.name} failed on a batch of shape {tuple(batch.shape)}: "
                            f"{type(exc).__name__}: {exc}")

    def _infer_on_this_worker(self, batch: np.ndarray) -> np.ndarray:
        return self._infer_impl(self._context_of_this_worker(), batch)

    def _context_of_this_worker(self) -> Any:
        context = getattr(self._worker_context, "context", None)
        if context is None:
            context = self._worker_context.context = self._new_context()
            self._worker_contexts.append(context)  # list.append is atomic: closed with the backend
        return context

    def _infer_on_free_stream(self, batch: np.ndarray) -> np.ndarray:
        stream = self._free_streams.get()
        try:
            return self._infer_stream_impl(stream, batch)
        except HPIError:
            raise
        except Exception as exc:
            raise self._run_error(batch, exc) from exc
        finally:
            self._free_streams.put(stream)
            # Done here, before the future is: a done callback may run after result() has returned, and a lone
            # batch submitted then would still find this call in flight.
            self._call_done()

    def _start_streams(self, count: int) -> None:
        """Called by a backend's `_load_impl` once it has `count` > 1 streams ready for `_infer_stream_impl`."""
        self._free_streams: "queue.SimpleQueue[int]" = queue.SimpleQueue()
        for stream in range(count):
            self._free_streams.put(stream)
        self._stream_pool = ThreadPoolExecutor(count, thread_name_prefix=f"hpi-{self.name}")
        self.stream_count = count

    def close(self) -> None:
        """Free everything the backend holds; call it when no call is in flight. A later call loads again."""
        with self._load_lock:
            if self._loaded:
                self._release()
                self._loaded = False

    def _release(self) -> None:
        if self._stream_pool is not None:
            self._stream_pool.shutdown(wait=True)
            self._stream_pool, self.stream_count = None, 1
        if self._context_workers is not None:
            self._context_workers.shutdown(wait=True)
            self._context_workers = None
        for context in self._contexts.drain() + self._worker_contexts:
            self._close_context(context)
        self._worker_contexts = []
        self._close_impl()

    def __enter__(self) -> "InferenceBackend":
        return self.load()

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- hooks ----------------------------------------------------------------------------------------------
    @abstractmethod
    def _load_impl(self) -> None: ...

    @abstractmethod
    def _new_context(self) -> Any:
        """One execution context (an infer request, a cloned predictor, a session that is itself thread-safe):
        what a single call in flight uses, never shared with another call at the same time."""

    @abstractmethod
    def _infer_impl(self, context: Any, batch: np.ndarray) -> np.ndarray: ...

    def _infer_stream_impl(self, stream: int, batch: np.ndarray) -> np.ndarray:
        """Hook for backends that call `_start_streams`: run `batch` on stream `stream` (one thread per stream
        at a time, so a stream's engine is never used by two threads at once)."""
        raise NotImplementedError

    def _close_context(self, context: Any) -> None:
        """Hook: free what one context holds (GPU buffers, a CUDA stream)."""

    def _close_impl(self) -> None:
        pass

    def model_path(self):
        """The file this backend runs (with precision 'int8' the gated INT8 model, int8.py), or a BackendError
        saying what the model dir lacks."""
        if self.int8_artifact is not None and self.options.get("precision") == "int8":
            return gated_model_path(self.model_dir, self._float_model_path(), type(self))
        return self._float_model_path()

    def _float_model_path(self):
        path = self.model_dir.onnx if self.model_format == "onnx" else self.model_dir.paddle_program
        if path is None:
            have = ", ".join(self.model_dir.formats) or "nothing"
            hint = (" Convert it first (`hpi convert --model_dir ...`), or use the 'paddle' backend."
                    if self.model_format == "onnx" else "")
            raise BackendError(f"backend {self.name!r} needs a {self.model_format} model, but "
                               f"{str(self.model_dir.path)!r} has {have}.{hint}")
        return path
