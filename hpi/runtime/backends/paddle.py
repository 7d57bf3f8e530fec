"""Paddle Inference backend: PaddleX's "normal mode" (MKL-DNN on CPU by default, like PaddleX), and Paddle's
own GPU and Paddle-TensorRT modes."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict

import numpy as np

from ..device import Device
from ...errors import BackendError, ConfigError
from .base import InferenceBackend
from .facts import DYNAMIC_SHAPES_OPTION, one_of, positive_int

RUN_MODES = {"cpu": ("paddle", "mkldnn", "mkldnn_bf16"), "gpu": ("paddle", "trt_fp32", "trt_fp16")}
RUN_MODE_PRECISION = {"mkldnn_bf16": "bf16", "trt_fp16": "fp16"}  # every other run mode: fp32


class PaddleBackend(InferenceBackend):
    name = "paddle"
    model_format = "paddle"
    framework = "paddle"
    extra, package = "paddle", "paddlepaddle"
    distributions = ("paddlepaddle", "paddlepaddle-gpu")
    device_kinds = ("cpu", "gpu")
    precisions = ("fp32", "bf16", "fp16")  # chosen by run_mode (RUN_MODE_PRECISION)
    tuned_precisions = {"cpu": {"bf16": {"run_mode": "mkldnn_bf16"}}, "gpu": {"fp16": {"run_mode": "trt_fp16"}}}
    # Paddle's oneDNN kernels keep state per thread: measured, a predictor that moved to another thread after
    # the thread it ran on had ended failed ("std::exception") on 1 call in 10 once input shapes varied.
    context_per_thread = True
    option_checks = {
        "run_mode": (one_of(*RUN_MODES["cpu"], *RUN_MODES["gpu"]),
                     f"one of {list(RUN_MODES['cpu'])} on the CPU, {list(RUN_MODES['gpu'])} on a GPU"),
        "cpu_num_threads": (positive_int, "a positive integer"),
        "cpu_threads": (positive_int, "PaddleX's name for cpu_num_threads with Paddle: a positive integer"),
        "mkldnn_cache_capacity": (positive_int, "a positive integer"),
        "enable_new_ir": (one_of(True, False), "true (Paddle's new IR, PIR: PaddleX's default) or false"),
        "precision": (one_of(*precisions), "implied by run_mode; 'fp32', 'bf16' or 'fp16'"),
        "dynamic_shapes": DYNAMIC_SHAPES_OPTION,  # for the trt_* run modes
        "trt_dynamic_shapes": DYNAMIC_SHAPES_OPTION,  # PaddleX's name for it with Paddle
    }
    option_aliases = {"cpu_threads": "cpu_num_threads", "trt_dynamic_shapes": "dynamic_shapes"}

    @classmethod
    def default_options(cls, device: Device) -> Dict[str, Any]:
        # PaddleX 3.7.2's defaults (MKL-DNN, a 10-shape cache on the CPU; plain GPU kernels), except threads:
        # PaddleX takes 10 whatever the machine; we take the CPUs this process has (same numbers, no oversubscription).
        if device.kind == "gpu":
            return {"run_mode": "paddle", "cpu_num_threads": cls.default_threads()}
        return {"run_mode": "mkldnn", "cpu_num_threads": cls.default_threads(), "mkldnn_cache_capacity": 10}

    @classmethod
    def precision_of(cls, options) -> str:
        return RUN_MODE_PRECISION.get(options.get("run_mode"), "fp32")

    def _check_for_device(self) -> None:
        run_mode, here = self.options["run_mode"], RUN_MODES[self.device.kind]
        if run_mode not in here:
            raise ConfigError(f"paddle run_mode {run_mode!r} does not run on {self.device}; allowed there: "
                              f"{list(here)}")
        asked, runs = self.options.get("precision"), self.precision_of(self.options)
        if asked is not None and asked != runs:  # run_mode decides; a precision it would not run is not ignored
            modes = [mode for mode in here if self.precision_of({"run_mode": mode}) == asked]
            raise ConfigError(f"paddle precision {asked!r} does not go with run_mode {run_mode!r} (which runs "
                              f"{runs}): Paddle's precision follows its run_mode; on {self.device} " +
                              (f"{asked} is run_mode {' or '.join(map(repr, modes))}" if modes else
                               f"no run mode runs {asked} (run modes there: {list(here)})"))
        self.options["precision"] = runs

    def _load_impl(self) -> None:
        self._paddle_inference = self.import_framework("paddle.inference")

    def _new_context(self) -> "_PredictorContext":
        # A Paddle predictor and its input/output handles serve one call at a time, on one thread (see
        # context_per_thread). Each context is a predictor of its own: Predictor.clone() fails on these models with the new IR and memory optimisation ("Tensor
        # holds no memory"), and a mobile recognition model's weights are small (about 10 MB).
        predictor = self._paddle_inference.create_predictor(self._config(self._paddle_inference))
        return _PredictorContext(predictor, predictor.get_input_handle(predictor.get_input_names()[0]),
                                 predictor.get_output_handle(predictor.get_output_names()[0]))

    def _config(self, paddle_inference):
        config = paddle_inference.Config(str(self.model_path()), str(self.model_dir.paddle_params))
        run_mode = self.options["run_mode"]
        if self.device.kind == "gpu":
            config.enable_use_gpu(256, self.device.gpu_id)
            if run_mode.startswith("trt"):
                self._enable_tensorrt(config, paddle_inference, half=run_mode == "trt_fp16")
        else:
            config.disable_gpu()
            if run_mode.startswith("mkldnn"):
                config.enable_mkldnn()
                if run_mode == "mkldnn_bf16":
                    config.enable_mkldnn_bfloat16()
                config.set_mkldnn_cache_capacity(int(self.options["mkldnn_cache_capacity"]))
            else:
                config.disable_mkldnn()
        config.set_cpu_math_library_num_threads(int(self.options["cpu_num_threads"]))
        # PaddleX's order of settings; the same graph passes give the same numbers as PaddleX.
        if hasattr(config, "enable_new_ir"):
            config.enable_new_ir(bool(self.options.get("enable_new_ir", True)))
        if hasattr(config, "enable_new_executor"):
            config.enable_new_executor()
        config.set_optimization_level(3)
        config.enable_memory_optim()
        config.disable_glog_info()
        return config

    def _enable_tensorrt(self, config, paddle_inference, half: bool) -> None:
        shapes = self.required_dynamic_shapes(f"paddle run_mode {self.options['run_mode']!r} (Paddle-TensorRT)")
        low, opt, high = ({name: list(profile[which]) for name, profile in shapes.items()} for which in range(3))
        precision = paddle_inference.PrecisionType.Half if half else paddle_inference.PrecisionType.Float32
        config.enable_tensorrt_engine(workspace_size=1 << 30, max_batch_size=max(s[0] for s in high.values()),
                                      min_subgraph_size=3, precision_mode=precision, use_static=True,
                                      use_calib_mode=False)
        config.set_trt_dynamic_shape_info(low, high, opt)
        config.set_optim_cache_dir(str(self.model_dir.path / ".cache" / "paddle"))

    def _infer_impl(self, context: "_PredictorContext", batch: np.ndarray) -> np.ndarray:
        context.input.reshape(list(batch.shape))
        context.input.copy_from_cpu(batch)
        try:
            context.predictor.run()
        except Exception as exc:
            if "ConvertPirAttribute2RuntimeAttribute" in str(exc):  # PaddleX fails the same way on these models
                raise BackendError(
                    f"Paddle {self.options['run_mode']} cannot run {str(self.model_path())!r} on the new IR (PIR), "
                    "as with some legacy .pdmodel programs; run it on the old IR: hpi_config={'backend_config': "
                    "{'enable_new_ir': False}} (PaddleX: engine_config enable_new_ir: False)") from exc
            raise
        return context.output.copy_to_cpu()

    def _close_context(self, context: "_PredictorContext") -> None:
        context.predictor = context.input = context.output = None


@dataclass
class _PredictorContext:
    predictor: Any
    input: Any
    output: Any
