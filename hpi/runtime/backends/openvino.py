"""OpenVINO backend (CPU; an Intel GPU where OpenVINO sees one)."""
from __future__ import annotations

import logging
import os
import threading
from typing import Any, Dict, Optional

import numpy as np

from ..._logging import openvino_log_level
from ..device import Device
from .base import InferenceBackend
from .facts import BATCHING, BATCHING_HELP, OUTPUTS, one_of, positive_int
from .int8 import Int8Artifact

logger = logging.getLogger(__name__)

# OpenVINO's CPU plugin keeps what it prepared for each input shape (CPU_RUNTIME_CACHE_CAPACITY, 5000 entries by
# default): with text lines of every width, resident memory grew from 1.2 to 2.0 GB over 6,000 lines of 492
# widths and kept growing. 64 kept it flat at 550 MB; speed on repeated widths fell by 15 to 23% in fp32 (75 to 64
# lines/s, 400 lines) and not measurably in bf16 (64 px widths give few shapes). ONNX Runtime stayed at 400 MB.
DEFAULT_SHAPE_CACHE_CAPACITY = 64
# INT8 on a CPU with AMX int8 tiles runs at static shapes, one compilation per input shape (quantization/openvino.py,
# StaticShapes): how many it keeps. Text lines in reduced precision are padded to multiples of 64 px, so a few dozen
# widths and batch sizes cover most inputs.
INT8_STATIC_SHAPES = 32


ONEDNN_CACHE_VARIABLE = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
_first_compile = threading.Lock()
_process_cache: Dict[str, Optional[int]] = {}  # "capacity": what this process's oneDNN kernel cache was given


def use_primitive_cache(wanted: Optional[int]) -> Optional[int]:
    """oneDNN's kernel cache (ONEDNN_PRIMITIVE_CACHE_CAPACITY) for this process, as this CPU class's plan says
    (configs/cpu_plans.yaml `process`). oneDNN reads the variable at OpenVINO's first CPU compilation in the
    process and never again, so it is set then, unless the user set it: theirs wins. Returns the capacity in
    force (None: the library's own, 1024). Call it before every compilation; the first call decides."""
    with _first_compile:
        if "capacity" not in _process_cache:
            given = os.environ.get(ONEDNN_CACHE_VARIABLE)
            if given is None and wanted is not None:
                os.environ[ONEDNN_CACHE_VARIABLE] = given = str(wanted)
            _process_cache["capacity"] = int(given) if given and given.isdigit() else None
        capacity = _process_cache["capacity"]
    if wanted is not None and capacity != wanted:
        logger.info("openvino: oneDNN's kernel cache stays at %s for this process (%s; set before its first "
                    "compilation), not the %s asked for", capacity or "its default",
                    f"{ONEDNN_CACHE_VARIABLE}={os.environ.get(ONEDNN_CACHE_VARIABLE)}" if
                    os.environ.get(ONEDNN_CACHE_VARIABLE) else "unset", wanted)
    return capacity


def non_negative_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# hpi's precision names -> OpenVINO's INFERENCE_PRECISION_HINT values (its own spelling, used only with it)
_OV_PRECISION = {"fp32": "f32", "fp16": "f16", "bf16": "bf16"}
_FROM_OV = {ov: ours for ours, ov in _OV_PRECISION.items()}


class OpenVINOBackend(InferenceBackend):
    name = "openvino"
    model_format = "onnx"
    framework = "openvino"
    extra, package = "cpu", "openvino"
    distributions = ("openvino",)
    device_kinds = ("cpu",)
    precisions = ("fp32", "bf16", "fp16", "int8")
    tuned_precisions = {"cpu": {"bf16": {"precision": "bf16"}, "int8": {"precision": "int8"}}}
    int8_artifact = Int8Artifact("inference.int8.xml", "OpenVINO IR (.xml + .bin)", made_by="openvino")
    quantizer = "hpi.runtime.quantization.openvino:OpenVINOQuantizer"
    _static = None  # the INT8 model per input shape, on an AMX int8 CPU
    _primitive_cache: Optional[int] = None  # oneDNN's kernel cache in force for the process (None: its default)
    option_checks = {
        "cpu_num_threads": (positive_int, "a positive integer"),
        "precision": (one_of(*precisions), "'fp32', 'bf16', 'fp16' or 'int8' (a gated model made by `hpi quantize`)"),
        "performance_hint": (one_of("latency", "throughput"), "'latency' or 'throughput'"),
        "num_streams": (positive_int, "a positive integer: requests run in parallel on the CPU, threads split "
                                      "among them (batches of a window; a lone batch uses all threads)"),
        "batching": (one_of(*BATCHING), BATCHING_HELP),
        "output": (one_of(*OUTPUTS), "'full', or 'top1': the top-1 value and its index over the output's last "
                                     "axis, packed as [..., 2] and computed in the model (what a CTC decoder reads)"),
        "cache_dir": (lambda v: isinstance(v, str) and bool(v), "a directory path"),
        "shape_cache_capacity": (non_negative_int, "how many prepared entries the CPU plugin keeps per compilation "
                                                   "(CPU_RUNTIME_CACHE_CAPACITY; 0: none)"),
        "onednn_primitive_cache": (positive_int, "oneDNN's kernel cache for the whole process "
                                                 "(ONEDNN_PRIMITIVE_CACHE_CAPACITY), set before its first compilation; "
                                                 "the CPU class's plan gives it"),
        "device": (one_of("CPU", "GPU"), "'CPU', or 'GPU' for an Intel GPU that OpenVINO sees"),
    }

    @classmethod
    def default_options(cls, device: Device) -> Dict[str, Any]:
        # fp32 on purpose: OpenVINO would silently pick bf16 on CPUs that have it, changing some outputs.
        threads = cls.default_threads()
        return {"cpu_num_threads": threads, "precision": "fp32", "performance_hint": "latency",
                "num_streams": 2 if threads >= 2 else 1, "batching": "per_stream",
                "shape_cache_capacity": DEFAULT_SHAPE_CACHE_CAPACITY}

    def _load_impl(self) -> None:
        ov = self.import_framework()
        core = ov.Core()
        precision = self.options["precision"]
        if precision == "int8":
            self._as_judged()
        # int8: the gated model's quantized layers run in INT8, the layers its gate kept in float run in f32
        float_precision = _OV_PRECISION.get(precision, "f32")
        properties = {
            "INFERENCE_PRECISION_HINT": float_precision,
            "PERFORMANCE_HINT": self.options["performance_hint"].upper(),
            "INFERENCE_NUM_THREADS": int(self.options["cpu_num_threads"]),
        }
        try:
            core.set_property({"LOG_LEVEL": openvino_log_level()})
        except RuntimeError:  # a build without the property: it logs little anyway
            pass
        if "cache_dir" in self.options:
            core.set_property({"CACHE_DIR": self.options["cache_dir"]})
        model = core.read_model(str(self.model_path()))
        if self.options.get("output", "full") == "top1":
            model = top1_output(model)
        target = self.options.get("device", "CPU")
        if target == "CPU":
            self._primitive_cache = use_primitive_cache(self.options.get("onednn_primitive_cache"))
        if target == "GPU":  # CPU-only properties do not apply to an Intel GPU
            properties.pop("INFERENCE_NUM_THREADS")
        elif "shape_cache_capacity" in self.options:
            properties["CPU_RUNTIME_CACHE_CAPACITY"] = int(self.options["shape_cache_capacity"])
        self._compiled = core.compile_model(model, target, properties)
        if precision == "int8" and target == "CPU":
            from ..quantization.openvino import StaticShapes, needs_static_shapes

            if needs_static_shapes():
                # what `hpi quantize` judged on this CPU (OpenVINOQuantizer.runner); the dynamic compilation above
                # is kept for its properties only and never run
                logger.info("openvino int8: this CPU has AMX int8 tiles (amx_int8): compiling per input shape")
                self._static = StaticShapes(core, model, target, properties, INT8_STATIC_SHAPES)
        # OpenVINO's Python binding deadlocks when two threads make their first numpy tensor at the same time
        # (a static initialised in Type.to_dtype waits for the GIL that the other thread holds: measured 19
        # of 40 fresh processes hung). Making that first conversion here, in one thread, avoids it.
        self._compiled.input(0).get_element_type().to_dtype()
        streams = int(self.options.get("num_streams", 1))
        if streams > 1:
            # A second compilation for throughput: each stream runs one request on its share of the threads,
            # while lone batches keep the latency compilation and all threads.
            throughput = {**properties, "PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": str(streams)}
            self._throughput = core.compile_model(model, target, throughput)
            self._stream_requests = [self._throughput.create_infer_request() for _ in range(streams)]
            self._start_streams(streams)
        hint = self._compiled.get_property("INFERENCE_PRECISION_HINT")
        actual = hint.get_type_name() if hasattr(hint, "get_type_name") else str(hint).lower()
        if actual != float_precision:
            logger.warning("OpenVINO was asked for %s precision but runs %s on this CPU",
                           _FROM_OV.get(float_precision), _FROM_OV.get(actual, actual))
        actual = _FROM_OV.get(actual, actual)  # reported in hpi's spelling
        self._actual_precision = "int8" if precision == "int8" else actual
        self._float_precision = actual  # of the layers an INT8 model's gate kept in float

    def _as_judged(self) -> None:
        """An INT8 model runs only as its gate judged it: one latency compilation (hpi quantize's). A throughput
        compilation is another program: measured, OpenVINO 2026.4 returned empty text from a mixed-precision
        model compiled with 2 throughput streams (0.42% of real lines right, where its gate measured 90.00%)."""
        for key, judged in (("num_streams", 1), ("performance_hint", "latency")):
            if self.options.get(key, judged) != judged:
                logger.warning("openvino int8: %s=%r is not how the model's gate judged it; running %r", key,
                               self.options[key], judged)
            self.options[key] = judged

    def _new_context(self):
        if self._static is not None:
            return self._static  # it lends each call an idle request of the input's shape
        return self._compiled.create_infer_request()  # a request runs one call at a time

    def _infer_impl(self, request, batch: np.ndarray) -> np.ndarray:
        if self._static is not None:
            return self._static.infer(batch)
        return _run(request, batch)

    def _infer_stream_impl(self, stream: int, batch: np.ndarray) -> np.ndarray:
        return _run(self._stream_requests[stream], batch)

    def _close_impl(self) -> None:
        self._stream_requests = []
        self._compiled = self._throughput = self._static = None

    @property
    def config(self) -> Dict[str, Any]:
        config = super().config
        if self._loaded:
            config["precision"] = self._actual_precision
            if self._actual_precision == "int8":
                config["float_layers_precision"] = self._float_precision
                config["static_shapes"] = self._static is not None
            if self.options.get("device", "CPU") == "CPU":  # in force for the process: the first compilation's
                config["onednn_primitive_cache"] = self._primitive_cache or "default"
        return config


def top1_output(model):
    """`model` with its output replaced by [..., 2]: the top-1 value and its index (as a float) over the last axis.
    A CTC decoder reads only these; computed in the model, they spare copying and scanning the whole output (for
    text recognition 6,625 classes per step: measured +4% lines/s end to end with OpenVINO bf16 on an AMX Xeon)."""
    try:
        import openvino.opset13 as ops
    except ImportError:  # OpenVINO before 2024.5
        from openvino.runtime import opset13 as ops

    result = model.get_results()[0]
    top = ops.topk(result.input_value(0), ops.constant(np.array(1, dtype=np.int64)), axis=-1, mode="max",
                   sort="none", index_element_type="i32")
    packed = ops.concat([top.output(0), ops.convert(top.output(1), "f32")], axis=-1)
    result.input(0).replace_source_output(packed.output(0))
    model.validate_nodes_and_infer_types()
    return model


def _run(request, batch: np.ndarray) -> np.ndarray:
    request.infer({0: batch}, share_inputs=True)
    return request.get_output_tensor(0).data.copy()  # the request reuses its output buffer
