"""The one interface every inference backend implements (what each declares about itself: facts.py).

`infer()` and `submit()` are fixed here (input checks live in one place); a backend fills small hooks:
`_load_impl` (the model, shared by every call), `_new_context` (one execution context: what a single call in
flight needs for itself), `_infer_impl(context, batch)` and, if they hold resources, `_close_context` and
`_close_impl`. A backend that can run several batches at once (streams) also calls `_start_streams(n)` when
loading and fills `_infer_stream_impl`. `_check_for_device` refuses, when the backend is made (before any load),
a configuration that cannot run: a ConfigError is the user's to fix, never a reason to try another backend.

Thread safety: any number of threads may share one backend object. No two calls in flight ever use the same
execution context: concurrency.py has the three ways (a pool of up to `max_contexts()`, the backend's own threads
with `context_per_thread`, streams). `load()` is safe to race; `close()` must not race calls in flight.

Errors: whatever a framework raises while loading or running comes out as a BackendError (its cause attached), so
a caller catches one type.
"""
from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from concurrent.futures import Future
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from ..._logging import captured_warnings
from ..device import Device, cpu_quota
from ...errors import BackendError, ConfigError, HPIError
from ..model_dir import ModelDir, Profile, check_dynamic_shapes
from .concurrency import ContextPool, Streams, ThreadBoundContexts
from .facts import DYNAMIC_SHAPES_OPTION, PRECISIONS, BackendFacts, one_of, positive_int
from .int8 import gated_model_path

__all__ = ["InferenceBackend", "ContextPool", "max_contexts", "DYNAMIC_SHAPES_OPTION", "PRECISIONS", "one_of",
           "positive_int"]


def max_contexts() -> int:
    """How many execution contexts a backend makes at most for calls outside its streams. More than the CPUs
    would only share the same cores (and each context holds its own buffers); callers beyond it wait."""
    return max(2, cpu_quota())


class InferenceBackend(BackendFacts, ABC):
    """A model loaded on one framework and device, run by any number of threads (facts.py: what it declares)."""

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
        self._context_workers: Optional[ThreadBoundContexts] = None  # with context_per_thread, once loaded
        self._stream_pool: Optional[Streams] = None  # once `_start_streams` is called
        self.stream_count = 1  # batches this backend can run at once on its streams (see items_per_request)
        self._in_flight = 0  # calls submitted and not finished, over all threads
        self._in_flight_lock = threading.Lock()

    # -- configuration --------------------------------------------------------------------------------------
    def _check_for_device(self) -> None:
        """Hook: reject options that this device cannot honour (e.g. a GPU-only run mode on the CPU)."""

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
                        self._context_workers = ThreadBoundContexts(self._new_context, max_contexts(),
                                                                    f"hpi-{self.name}-context")
                        self._context_workers.start()
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
        """Start inference on one batch and return a future of its output. A backend with several streams
        (engines that each run one batch on a share of the threads) runs submitted batches in parallel, each on the
        next free stream. Without streams the batch runs now, in the caller's thread, and the future is done."""
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
        return self._stream_pool.submit(batch)

    def _call_done(self) -> None:
        with self._in_flight_lock:
            self._in_flight -= 1

    def infer_many(self, batches: Sequence[np.ndarray]) -> List[np.ndarray]:
        """Outputs of several independent batches, in order (in parallel where the backend has streams)."""
        futures = [self.submit(batch) for batch in batches]
        return [future.result() for future in futures]

    def _infer_borrowed(self, batch: np.ndarray) -> np.ndarray:
        try:
            return (self._context_workers or self._contexts).run(self._infer_impl, batch)
        except HPIError:
            raise
        except Exception as exc:
            raise self._run_error(batch, exc) from exc

    def _run_error(self, batch: np.ndarray, exc: Exception) -> BackendError:
        """What a framework raised while running, as the one error type callers catch (the cause attached)."""
        return BackendError(f"{self.name} failed on a batch of shape {tuple(batch.shape)}: "
                            f"{type(exc).__name__}: {exc}")

    def _start_streams(self, count: int) -> None:
        """Called by a backend's `_load_impl` once it has `count` > 1 streams ready for `_infer_stream_impl`."""
        self._stream_pool = Streams(count, self._infer_stream_impl, self._run_error, self._call_done,
                                    f"hpi-{self.name}")
        self.stream_count = count

    def close(self) -> None:
        """Free everything the backend holds; call it when no call is in flight. A later call loads again."""
        with self._load_lock:
            if self._loaded:
                self._release()
                self._loaded = False

    def _release(self) -> None:
        if self._stream_pool is not None:
            self._stream_pool.stop()
            self._stream_pool, self.stream_count = None, 1
        contexts = self._contexts.drain()
        if self._context_workers is not None:
            contexts += self._context_workers.drain()
            self._context_workers = None
        for context in contexts:
            self._close_context(context)
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
        """Hook: free what `_load_impl` made."""

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
