"""OpenVINO backend (CPU; an Intel GPU where OpenVINO sees one)."""
from __future__ import annotations

import logging
from typing import Any, Dict

import numpy as np

from .._deps import require
from ..device import Device
from .base import InferenceBackend, one_of, positive_int

logger = logging.getLogger(__name__)

_PRECISIONS = {"f32": "f32", "fp32": "f32", "bf16": "bf16", "f16": "f16", "fp16": "f16"}


class OpenVINOBackend(InferenceBackend):
    name = "openvino"
    model_format = "onnx"
    framework = "openvino"
    device_kinds = ("cpu",)
    option_checks = {
        "cpu_num_threads": (positive_int, "a positive integer"),
        "precision": (one_of(*_PRECISIONS), f"one of {sorted(set(_PRECISIONS))}"),
        "performance_hint": (one_of("latency", "throughput"), "'latency' or 'throughput'"),
        "num_streams": (positive_int, "a positive integer"),
        "cache_dir": (lambda v: isinstance(v, str) and bool(v), "a directory path"),
        "device": (one_of("CPU", "GPU"), "'CPU', or 'GPU' for an Intel GPU that OpenVINO sees"),
    }

    @classmethod
    def default_options(cls, device: Device) -> Dict[str, Any]:
        # f32 on purpose: OpenVINO would silently pick bf16 on CPUs that have it, changing some outputs.
        return {"cpu_num_threads": cls.default_threads(), "precision": "f32", "performance_hint": "latency"}

    def _load_impl(self) -> None:
        ov = require("openvino")
        core = ov.Core()
        precision = _PRECISIONS[self.options["precision"]]
        properties = {
            "INFERENCE_PRECISION_HINT": precision,
            "PERFORMANCE_HINT": self.options["performance_hint"].upper(),
            "INFERENCE_NUM_THREADS": int(self.options["cpu_num_threads"]),
        }
        if "num_streams" in self.options:
            properties["NUM_STREAMS"] = str(self.options["num_streams"])
        if "cache_dir" in self.options:
            core.set_property({"CACHE_DIR": self.options["cache_dir"]})
        model = core.read_model(str(self.model_path()))
        target = self.options.get("device", "CPU")
        if target == "GPU":  # CPU-only properties do not apply to an Intel GPU
            properties.pop("INFERENCE_NUM_THREADS")
        self._compiled = core.compile_model(model, target, properties)
        self._request = self._compiled.create_infer_request()
        hint = self._compiled.get_property("INFERENCE_PRECISION_HINT")
        actual = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint).lower()
        self._actual_precision = actual
        if actual != precision:
            logger.warning("OpenVINO was asked for %s precision but runs %s on this CPU", precision, actual)

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        self._request.infer({0: batch}, share_inputs=True)
        return self._request.get_output_tensor(0).data.copy()

    def _close_impl(self) -> None:
        self._request = None
        self._compiled = None

    @property
    def config(self) -> Dict[str, Any]:
        config = super().config
        if self._loaded:
            config["precision"] = self._actual_precision
        return config
