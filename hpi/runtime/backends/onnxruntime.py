"""ONNX Runtime backend: CPU, CUDA, or TensorRT execution provider.

On a GPU, ONNX Runtime silently falls back to the CPU when its CUDA libraries cannot be loaded; this backend
checks the providers the session really got and warns loudly when the one asked for is missing.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Dict, List, Mapping, Tuple

import numpy as np

from ..._logging import onnxruntime_severity
from ..device import Device
from ..model_dir import Profile
from ...errors import ConfigError
from .base import InferenceBackend
from .facts import BATCHING, BATCHING_HELP, DYNAMIC_SHAPES_OPTION, one_of, positive_int
from .int8 import Int8Artifact

logger = logging.getLogger(__name__)

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}
# The option's older form, [min, opt, max] without an input name, meant the model's image input: PaddleX names it x.
LEGACY_INPUT_NAME = "x"


def trt_profile_strings(profiles: Mapping[str, Profile]) -> Tuple[str, str, str]:
    """min/opt/max shapes as the TensorRT execution provider takes them: 'x:1x3x48x160' (inputs joined by ',')."""
    return tuple(",".join(f"{name}:{'x'.join(str(int(d)) for d in profile[which])}"  # type: ignore
                          for name, profile in profiles.items()) for which in range(3))


class ONNXRuntimeBackend(InferenceBackend):
    name = "onnxruntime"
    model_format = "onnx"
    framework = "onnxruntime"
    extra, package = "cpu", "onnxruntime"  # onnxruntime-gpu: the gpu extra
    distributions = ("onnxruntime", "onnxruntime-gpu")
    device_kinds = ("cpu", "gpu")
    precisions = ("fp32", "fp16", "int8")
    tuned_precisions = {"cpu": {"int8": {"precision": "int8"}}}
    int8_artifact = Int8Artifact("inference.int8.onnx", "QDQ ONNX", made_by="onnxruntime")
    quantizer = "hpi.runtime.quantization.onnxruntime:ONNXRuntimeQuantizer"
    option_checks = {
        "cpu_num_threads": (positive_int, "a positive integer"),
        "precision": (one_of(*precisions), "'fp32', 'fp16' with the tensorrt execution provider, or "
                                           "'int8' (a gated model made by `hpi quantize`)"),
        "execution_provider": (one_of(*PROVIDERS), "'cpu', 'cuda' or 'tensorrt'"),
        "cudnn_conv_algo_search": (one_of("EXHAUSTIVE", "HEURISTIC", "DEFAULT"),
                                   "'EXHAUSTIVE', 'HEURISTIC' or 'DEFAULT'"),
        "trt_engine_cache_dir": (lambda v: isinstance(v, str) and bool(v), "a directory path"),
        "dynamic_shapes": DYNAMIC_SHAPES_OPTION,  # for the tensorrt execution provider
        "num_streams": (positive_int, "a positive integer: sessions run in parallel on the CPU, threads split among them"),
        "batching": (one_of(*BATCHING), BATCHING_HELP),
    }

    @classmethod
    def check_options(cls, options):
        if isinstance(options.get("dynamic_shapes"), list):  # the older form: [min, opt, max] of input x
            options = {**options, "dynamic_shapes": {LEGACY_INPUT_NAME: options["dynamic_shapes"]}}
        return super().check_options(options)

    @classmethod
    def default_options(cls, device: Device) -> Dict[str, Any]:
        threads = cls.default_threads()
        options: Dict[str, Any] = {"cpu_num_threads": threads, "precision": "fp32"}
        options["execution_provider"] = "cuda" if device.kind == "gpu" else "cpu"
        if device.kind == "cpu":
            options["num_streams"] = 2 if threads >= 2 else 1  # measured on 2 cores; more is not measured yet
            options["batching"] = "per_stream"
        return options

    def _check_for_device(self) -> None:
        """What was asked must make sense together, before anything loads: a ConfigError (the user's to fix), not a
        load failure that the selector would answer by running another backend."""
        provider, precision = self.options["execution_provider"], self.options["precision"]
        if provider != "cpu" and self.device.kind != "gpu":
            raise ConfigError(f"onnxruntime execution_provider {provider!r} runs on a GPU, and the device is "
                              f"{self.device}: use execution_provider 'cpu' there, or device='gpu'")
        if provider == "cpu" and precision == "fp16":
            raise ConfigError("ONNX Runtime runs fp16 only with execution_provider 'tensorrt'")
        if provider == "cuda" and precision != "fp32":
            raise ConfigError(f"ONNX Runtime runs {precision} on a GPU only with the tensorrt execution provider")

    def _providers(self) -> List:
        provider = self.options["execution_provider"]
        if provider == "cpu":
            return ["CPUExecutionProvider"]
        device_id = {"device_id": self.device.gpu_id}
        cuda = dict(device_id)
        if "cudnn_conv_algo_search" in self.options:
            cuda["cudnn_conv_algo_search"] = self.options["cudnn_conv_algo_search"]
        chain = [("CUDAExecutionProvider", cuda), "CPUExecutionProvider"]
        if provider == "tensorrt":
            min_s, opt_s, max_s = trt_profile_strings(
                self.required_dynamic_shapes("onnxruntime's tensorrt execution provider"))
            cache = self.options.get("trt_engine_cache_dir") or str(self.model_dir.path / ".cache" / "ort_trt")
            Path(cache).mkdir(parents=True, exist_ok=True)
            # int8: the gated QDQ model, explicit quantization (its scales are in the graph: no calibration table)
            trt = {**device_id, "trt_fp16_enable": self.options["precision"] == "fp16",
                   "trt_int8_enable": self.options["precision"] == "int8",
                   "trt_engine_cache_enable": True, "trt_engine_cache_path": cache,
                   "trt_profile_min_shapes": min_s, "trt_profile_opt_shapes": opt_s, "trt_profile_max_shapes": max_s}
            chain.insert(0, ("TensorrtExecutionProvider", trt))
        return chain

    def _new_session(self, ort, threads: int):
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = threads
        session_options.inter_op_num_threads = 1
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session_options.log_severity_level = onnxruntime_severity()
        return ort.InferenceSession(str(self.model_path()), sess_options=session_options, providers=self._providers())

    def _load_impl(self) -> None:
        ort = self.import_framework()
        threads = int(self.options["cpu_num_threads"])
        self._session = self._new_session(ort, threads)
        # Streams: on a CPU, N one-thread sessions working on N batches at once beat one N-thread session on
        # these small convolutions (measured: 2 x 1 thread 125 lines/s vs 1 x 2 threads 87, PP-OCRv4, 2 cores).
        streams = int(self.options.get("num_streams", 1)) if self.options["execution_provider"] == "cpu" else 1
        self._streams = [self._new_session(ort, max(1, threads // streams)) for _ in range(streams)] \
            if streams > 1 else []
        wanted = PROVIDERS[self.options["execution_provider"]]
        self._active = self._session.get_providers()
        if wanted not in self._active:
            logger.warning("!!! ONNX Runtime was asked for %s but runs on %s (available here: %s): this is the CPU, "
                           "not the GPU you asked for. Install onnxruntime-gpu with matching CUDA/cuDNN.",
                           wanted, self._active, ort.get_available_providers())
        self._input_name = self._session.get_inputs()[0].name
        self._output_name = self._session.get_outputs()[0].name
        if self._streams:
            self._start_streams(len(self._streams))

    def _new_context(self):
        return self._session  # an ONNX Runtime session runs concurrent calls safely on its own

    def _infer_impl(self, session, batch: np.ndarray) -> np.ndarray:
        return session.run([self._output_name], {self._input_name: batch})[0]

    def _infer_stream_impl(self, stream: int, batch: np.ndarray) -> np.ndarray:
        return self._streams[stream].run([self._output_name], {self._input_name: batch})[0]

    def _close_impl(self) -> None:
        self._session, self._streams = None, []

    @property
    def config(self) -> Dict[str, Any]:
        config = super().config
        if self._loaded:
            config["active_providers"] = list(self._active)
        return config
