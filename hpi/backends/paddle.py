"""Paddle Inference backend: PaddleX's "normal mode" (MKL-DNN on CPU by default, like PaddleX)."""
from __future__ import annotations

from typing import Any, Dict

import numpy as np

from .._deps import require
from ..device import Device
from .base import InferenceBackend, one_of, positive_int

RUN_MODES_CPU = ("paddle", "mkldnn", "mkldnn_bf16")


class PaddleBackend(InferenceBackend):
    name = "paddle"
    model_format = "paddle"
    framework = "paddle"
    device_kinds = ("cpu",)
    option_checks = {
        "run_mode": (one_of(*RUN_MODES_CPU), f"one of {list(RUN_MODES_CPU)} on the CPU"),
        "cpu_threads": (positive_int, "a positive integer"),
        "mkldnn_cache_capacity": (positive_int, "a positive integer"),
    }

    @classmethod
    def default_options(cls, device: Device) -> Dict[str, Any]:
        # PaddleX 3.7.2's CPU defaults: MKL-DNN, 10 threads, a 10-shape MKL-DNN cache.
        return {"run_mode": "mkldnn", "cpu_threads": 10, "mkldnn_cache_capacity": 10, "precision": "fp32"}

    @classmethod
    def check_options(cls, options):
        options = dict(options)
        options.pop("precision", None)  # implied by run_mode
        return super().check_options(options)

    def _load_impl(self) -> None:
        paddle_inference = require("paddle.inference")
        program, params = self.model_path(), self.model_dir.paddle_params
        config = paddle_inference.Config(str(program), str(params))
        config.disable_gpu()
        run_mode = self.options["run_mode"]
        if run_mode.startswith("mkldnn"):
            config.enable_mkldnn()
            if run_mode == "mkldnn_bf16":
                config.enable_mkldnn_bfloat16()
            config.set_mkldnn_cache_capacity(int(self.options["mkldnn_cache_capacity"]))
        else:
            config.disable_mkldnn()
        config.set_cpu_math_library_num_threads(int(self.options["cpu_threads"]))
        # PaddleX's order of settings; the same graph passes give the same numbers as PaddleX.
        if hasattr(config, "enable_new_ir"):
            config.enable_new_ir(True)
        if hasattr(config, "enable_new_executor"):
            config.enable_new_executor()
        config.set_optimization_level(3)
        config.enable_memory_optim()
        config.disable_glog_info()
        self._predictor = paddle_inference.create_predictor(config)
        self._input = self._predictor.get_input_handle(self._predictor.get_input_names()[0])
        self._output = self._predictor.get_output_handle(self._predictor.get_output_names()[0])
        self.options["precision"] = "bf16" if run_mode == "mkldnn_bf16" else "fp32"

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        self._input.reshape(list(batch.shape))
        self._input.copy_from_cpu(batch)
        self._predictor.run()
        return self._output.copy_to_cpu()

    def _close_impl(self) -> None:
        self._predictor = None
