"""The one interface every inference backend implements.

`infer()` and `submit()` are fixed here (input checks live in one place); a backend fills three small hooks:
`_load_impl`, `_infer_impl` and, if it holds resources, `_close_impl`. A backend that can run several batches
at once (streams) also calls `_start_streams(n)` when loading and fills `_infer_stream_impl`.
"""
from __future__ import annotations

import queue
from abc import ABC, abstractmethod
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, ClassVar, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..device import Device, cpu_quota
from ..errors import BackendError, ConfigError, HPIError
from ..model_dir import ModelDir

OptionCheck = Callable[[Any], bool]


def positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def one_of(*allowed: Any) -> OptionCheck:
    check = lambda value: value in allowed  # noqa: E731
    check.allowed = allowed  # type: ignore[attr-defined]
    return check


class InferenceBackend(ABC):
    name: ClassVar[str]
    model_format: ClassVar[str]  # "onnx" or "paddle": which weights of the model dir it runs
    framework: ClassVar[str]  # the module it imports on first use
    device_kinds: ClassVar[Tuple[str, ...]] = ("cpu",)
    # option name -> (check, description of what is allowed)
    option_checks: ClassVar[Dict[str, Tuple[OptionCheck, str]]] = {}

    def __init__(self, model_dir: ModelDir, device: Device, options: Optional[Mapping[str, Any]] = None):
        if device.kind not in self.device_kinds:
            raise ConfigError(f"backend {self.name!r} does not run on {device}; it supports "
                              f"{', '.join(self.device_kinds)}")
        self.model_dir = model_dir
        self.device = device
        self.options = {**self.default_options(device), **self.check_options(options or {})}
        self._check_for_device()
        self._loaded = False
        self._stream_pool: Optional[ThreadPoolExecutor] = None
        self.stream_count = 1  # batches this backend can run at once (see submit)

    # -- configuration --------------------------------------------------------------------------------------
    @classmethod
    def default_options(cls, device: Device) -> Dict[str, Any]:
        return {}

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> Dict[str, Any]:
        """Reject unknown keys and bad values with a message naming what is allowed."""
        for key, value in options.items():
            if key not in cls.option_checks:
                raise ConfigError(f"unknown option {key!r} for backend {cls.name!r}; allowed: "
                                  f"{', '.join(sorted(cls.option_checks)) or 'none'}")
            check, allowed = cls.option_checks[key]
            if not check(value):
                raise ConfigError(f"invalid value {value!r} for {cls.name}.{key}: expected {allowed}")
        return dict(options)

    def _check_for_device(self) -> None:
        """Hook: reject options that this device cannot honour (e.g. a GPU-only run mode on the CPU)."""

    @staticmethod
    def default_threads() -> int:
        return cpu_quota()

    @property
    def config(self) -> Dict[str, Any]:
        """The effective configuration, as loaded (facts read back from the runtime where it reports them)."""
        return {"backend": self.name, "device": str(self.device), **self.options}

    # -- lifecycle ------------------------------------------------------------------------------------------
    def load(self) -> "InferenceBackend":
        if not self._loaded:
            try:
                self._load_impl()
            except HPIError:
                raise
            except Exception as exc:  # each framework raises its own types; callers catch one
                raise BackendError(f"{self.name} could not load {str(self.model_path())!r}: {exc}") from exc
            self._loaded = True
        return self

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run the model on a float32 NCHW batch and return its first output as a numpy array."""
        self._check_batch(batch)
        if not self._loaded:
            self.load()
        return self._infer_impl(np.ascontiguousarray(batch, dtype=np.float32))

    def _check_batch(self, batch) -> None:
        if not isinstance(batch, np.ndarray) or batch.ndim != 4:
            raise BackendError(f"{self.name}: expected a 4-D NCHW numpy array, got "
                               f"{type(batch).__name__} {getattr(batch, 'shape', '')}")

    def submit(self, batch: np.ndarray, lone: bool = False) -> "Future[np.ndarray]":
        """Start inference on one batch and return a future of its output.

        A backend with several streams (engines that each run one batch on a share of the threads) runs
        submitted batches in parallel, each on the next free stream. Otherwise, or for a `lone` batch (nothing
        else to run beside it, so all threads at once answer it fastest), the batch runs now, in the caller's
        thread, and the future is already done.
        """
        self._check_batch(batch)
        if not self._loaded:
            self.load()
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self._stream_pool is None or lone:
            future: "Future[np.ndarray]" = Future()
            try:
                future.set_result(self._infer_impl(batch))
            except Exception as exc:  # delivered by result(), as a pool would
                future.set_exception(exc)
            return future
        return self._stream_pool.submit(self._infer_on_free_stream, batch)

    def infer_many(self, batches: Sequence[np.ndarray]) -> List[np.ndarray]:
        """Outputs of several independent batches, in order (in parallel where the backend has streams)."""
        futures = [self.submit(batch) for batch in batches]
        return [future.result() for future in futures]

    def _infer_on_free_stream(self, batch: np.ndarray) -> np.ndarray:
        stream = self._free_streams.get()
        try:
            return self._infer_stream_impl(stream, batch)
        finally:
            self._free_streams.put(stream)

    def _start_streams(self, count: int) -> None:
        """Called by a backend's `_load_impl` once it has `count` > 1 streams ready for `_infer_stream_impl`."""
        self._free_streams: "queue.SimpleQueue[int]" = queue.SimpleQueue()
        for stream in range(count):
            self._free_streams.put(stream)
        self._stream_pool = ThreadPoolExecutor(count, thread_name_prefix=f"hpi-{self.name}")
        self.stream_count = count

    def close(self) -> None:
        if self._stream_pool is not None:
            self._stream_pool.shutdown(wait=True)
            self._stream_pool, self.stream_count = None, 1
        if self._loaded:
            self._close_impl()
            self._loaded = False

    def __enter__(self) -> "InferenceBackend":
        return self.load()

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- hooks ----------------------------------------------------------------------------------------------
    @abstractmethod
    def _load_impl(self) -> None: ...

    @abstractmethod
    def _infer_impl(self, batch: np.ndarray) -> np.ndarray: ...

    def _infer_stream_impl(self, stream: int, batch: np.ndarray) -> np.ndarray:
        """Hook for backends that call `_start_streams`: run `batch` on stream `stream` (one thread per stream
        at a time, so a stream's engine is never used by two threads at once)."""
        raise NotImplementedError

    def _close_impl(self) -> None:
        pass

    def model_path(self):
        """The file this backend runs, or a BackendError saying what the model dir lacks."""
        path = self.model_dir.onnx if self.model_format == "onnx" else self.model_dir.paddle_program
        if path is None:
            have = ", ".join(self.model_dir.formats) or "nothing"
            hint = (" Convert it first (`hpi convert --model_dir ...`), or use the 'paddle' backend."
                    if self.model_format == "onnx" else "")
            raise BackendError(f"backend {self.name!r} needs a {self.model_format} model, but "
                               f"{str(self.model_dir.path)!r} has {have}.{hint}")
        return path
