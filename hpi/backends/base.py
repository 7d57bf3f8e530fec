"""The one interface every inference backend implements.

`infer()` is fixed here (input checks live in one place); a backend fills three small hooks:
`_load_impl`, `_infer_impl` and, if it holds resources, `_close_impl`.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
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
        if not isinstance(batch, np.ndarray) or batch.ndim != 4:
            raise BackendError(f"{self.name}: expected a 4-D NCHW numpy array, got "
                               f"{type(batch).__name__} {getattr(batch, 'shape', '')}")
        if not self._loaded:
            self.load()
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        return self._infer_impl(batch)

    def infer_many(self, batches: Sequence[np.ndarray]) -> List[np.ndarray]:
        """Run several independent batches; backends with parallel streams override `_infer_many_impl`."""
        for batch in batches:
            if not isinstance(batch, np.ndarray) or batch.ndim != 4:
                raise BackendError(f"{self.name}: expected 4-D NCHW numpy arrays, got {type(batch).__name__}")
        if not self._loaded:
            self.load()
        return self._infer_many_impl([np.ascontiguousarray(b, dtype=np.float32) for b in batches])

    def _infer_many_impl(self, batches: List[np.ndarray]) -> List[np.ndarray]:
        return [self._infer_impl(batch) for batch in batches]

    def close(self) -> None:
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
