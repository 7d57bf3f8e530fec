"""Hybrid backend (CPU, FP32): ONNX Runtime streams for queued work, OpenVINO for a lone line.

Measured on PP-OCRv4_mobile_rec, 400 varied lines, 2 cores, one run: ONNX Runtime's one-thread streams give the
most lines per second from `predict(paths, batch_size=8)` (62 vs 56 for OpenVINO's streams with a bounded shape
cache), while OpenVINO's latency compilation answers a single `predict(path)` in half the time (median 16.7 vs
31.9 ms). Both engines run the same ONNX file in FP32 and give PaddleX's batch-1 text on every line, so each does
the part it is best at. Memory stays bounded: ONNX Runtime keeps no per-shape state, and OpenVINO's cache of
prepared shapes is capped (`shape_cache_capacity`).
"""
from __future__ import annotations

from typing import Any, ClassVar, Dict, Tuple

import numpy as np

from ..device import Device
from .base import InferenceBackend, positive_int
from .onnxruntime import ONNXRuntimeBackend
from .openvino import DEFAULT_SHAPE_CACHE_CAPACITY, OpenVINOBackend, non_negative_int


class HybridBackend(InferenceBackend):
    name = "hybrid"
    model_format = "onnx"
    framework = "onnxruntime"
    extra_frameworks: ClassVar[Tuple[str, ...]] = ("openvino",)
    device_kinds = ("cpu",)
    option_checks = {
        "cpu_num_threads": (positive_int, "a positive integer"),
        "num_streams": (positive_int, "a positive integer: ONNX Runtime sessions run in parallel, threads split"),
        "shape_cache_capacity": (non_negative_int, "prepared input shapes OpenVINO keeps (0: none)"),
        "precision": (lambda value: value == "fp32", "'fp32' (for bf16 use the openvino backend)"),
    }

    @classmethod
    def default_options(cls, device: Device) -> Dict[str, Any]:
        threads = cls.default_threads()
        return {"cpu_num_threads": threads, "num_streams": 2 if threads >= 2 else 1,
                "shape_cache_capacity": DEFAULT_SHAPE_CACHE_CAPACITY, "precision": "fp32"}

    def _load_impl(self) -> None:
        threads = int(self.options["cpu_num_threads"])
        self._streams = ONNXRuntimeBackend(self.model_dir, self.device, {
            "cpu_num_threads": threads, "num_streams": int(self.options["num_streams"])}).load()
        self._lone = OpenVINOBackend(self.model_dir, self.device, {
            "cpu_num_threads": threads, "num_streams": 1, "precision": "f32",
            "shape_cache_capacity": int(self.options["shape_cache_capacity"])}).load()
        if self._streams.stream_count > 1:
            self._start_streams(self._streams.stream_count)

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        return self._lone.infer(batch)

    def _infer_stream_impl(self, stream: int, batch: np.ndarray) -> np.ndarray:
        # this backend's pool hands out the stream; ONNX Runtime's own pool stays unused (it starts no thread)
        return self._streams._infer_stream_impl(stream, batch)

    def _close_impl(self) -> None:
        self._streams.close()
        self._lone.close()

    @property
    def config(self) -> Dict[str, Any]:
        config = super().config
        config["engines"] = {"streams": "onnxruntime fp32", "lone batches": "openvino f32"}
        return config
