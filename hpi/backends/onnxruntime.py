"""ONNX Runtime backend (CPU execution provider; CUDA comes with the selector's GPU work)."""
from __future__ import annotations

import logging
from typing import Any, Dict

import numpy as np

from .._deps import require
from ..device import Device
from .base import InferenceBackend, one_of, positive_int

logger = logging.getLogger(__name__)


class ONNXRuntimeBackend(InferenceBackend):
    name = "onnxruntime"
    model_format = "onnx"
    framework = "onnxruntime"
    device_kinds = ("cpu",)
    option_checks = {
        "cpu_num_threads": (positive_int, "a positive integer"),
        "precision": (one_of("fp32"), "'fp32' (the only precision this backend runs for now)"),
    }

    @classmethod
    def default_options(cls, device: Device) -> Dict[str, Any]:
        return {"cpu_num_threads": cls.default_threads(), "precision": "fp32"}

    def _load_impl(self) -> None:
        ort = require("onnxruntime")
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = int(self.options["cpu_num_threads"])
        session_options.inter_op_num_threads = 1
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(self.model_path()), sess_options=session_options,
                                             providers=["CPUExecutionProvider"])
        self._input_name = self._session.get_inputs()[0].name
        self._output_name = self._session.get_outputs()[0].name

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        return self._session.run([self._output_name], {self._input_name: batch})[0]

    def _close_impl(self) -> None:
        self._session = None
