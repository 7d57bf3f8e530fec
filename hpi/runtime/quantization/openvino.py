"""INT8 for OpenVINO: NNCF post-training quantization of the ONNX model into an IR with FakeQuantize nodes.

A "layer" here is an operation that quantizers feed (a convolution, a matrix multiplication, an addition): keeping
it in float removes the FakeQuantize nodes on its inputs from the quantized graph, so no recalibration is needed to
try a different set of float layers.
"""
from __future__ import annotations

import logging
import threading
from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..._deps import QUANTIZE_EXTRA, require

logger = logging.getLogger(__name__)

PRESETS = ("performance", "mixed")  # symmetric activations everywhere / asymmetric ones where they help
BIAS_CORRECTIONS = ("fast", "full", "none")
# activation ranges: NNCF's default for the preset, the extremes seen over all lines (minmax), the mean of each
# line's extremes (mean_minmax), robust to outliers (quantile, histogram)
RANGES = {"default": None, "minmax": "MINMAX", "mean_minmax": "MEAN_MINMAX", "quantile": "MEAN_QUANTILE",
          "histogram": "HISTOGRAM"}


OVERFLOW_FIXES = ("auto", "enable", "first_layer_only", "disable")
# ops="conv_matmul": quantize only the inputs of convolutions and matrix multiplications; every elementwise op,
# normalization and reshaping stays float. Measured (PP-OCRv4 mobile, 240 real labelled lines, FP32 91.25%): all
# ops NNCF would quantize 73.75%, convolutions and MatMuls only 77.5%, and 1.29x vs 0.99x FP32 speed on this
# AVX2 CPU (elementwise INT8 only adds conversions).
FLOAT_TYPES = ("Multiply", "Add", "Subtract", "Divide", "Power", "Sqrt", "ReduceMean", "BatchNormInference", "Squeeze",
               "Unsqueeze", "Concat", "Reshape", "Transpose", "AvgPool", "ShapeOf", "Sigmoid", "HSwish", "Swish",
               "Softmax", "MVN")
OPS = ("conv_matmul", "all")
# Min-max ranges widen with every rare extreme a longer calibration set contains. Measured with SmoothQuant 0.5,
# 240 real labelled lines (FP32 91.25%): three disjoint thirds of 132 calibration lines gave 89.17, 89.58, 87.92%;
# 198 lines 75.42%; all 396 72.08%.
MAX_CALIBRATION_LINES = 132


def spread(items: Sequence, most: int) -> list:
    """At most `most` items, evenly spread over `items` (all of them when there are fewer)."""
    if len(items) <= most:
        return list(items)
    return [items[int(i)] for i in np.linspace(0, len(items) - 1, most)]


def resolve_overflow_fix(value: str) -> str:
    """"auto": 7-bit weights in every layer ("enable") on a CPU without 8-bit dot-product instructions (VNNI, AMX),
    NNCF's default ("first_layer_only") on one with them.

    Without VNNI, the CPU multiplies u8 activations by s8 weights in pairs summed into 16 bits, which saturates for
    large values (255 x 127 x 2 > 32767). Measured here on an AVX2-only EPYC, PP-OCRv4 mobile, 240 real labelled
    lines: FP32 91.25%; full INT8 with the same FakeQuantize ranges 75.4% emulated in float, 34.6% on the CPU's int8
    kernels without the fix, 69.2% with it."""
    if value not in OVERFLOW_FIXES:
        raise ValueError(f"overflow_fix must be one of {OVERFLOW_FIXES}, got {value!r}")
    if value != "auto":
        return value
    from ..device import cpu_capabilities

    return "first_layer_only" if cpu_capabilities().int8_dot else "enable"


def needs_static_shapes() -> bool:
    """Whether this CPU must run OpenVINO INT8 models at static shapes: it has AMX int8 tiles (flag amx_int8)."""
    from ..device import cpu_capabilities

    return cpu_capabilities().amx_int8


def has_fake_quantize(model) -> bool:
    return any(op.get_type_name() == "FakeQuantize" for op in model.get_ops())


class StaticShapes:
    """An INT8 model compiled once per input shape, each compilation static.

    On CPUs with AMX int8 tiles, OpenVINO 2026.4's CPU plugin runs some INT8 convolutions of a model with a dynamic
    input shape wrongly: a 1x1 convolution with signed-INT8 input, bias, ReLU and a per-channel scale before an
    unsigned FakeQuantize (PP-OCRv4's squeeze-excitation block after SmoothQuant) gave garbage in the full model
    (0 of 40 lines read as FP32 reads them) and a SIGSEGV alone (benchmarks/repro_openvino_int8_amx.py,
    docs/quantization.md; upstream openvinotoolkit/openvino#37577). No compile property avoids it; the env var
    ONEDNN_MAX_CPU_ISA=AVX512_CORE_VNNI does, but only if set before the process's first CPU compilation and
    for every model in the process (bf16 loses AMX too). The same IR compiled at static shapes reads as it does
    without AMX. Each new shape costs one compilation (0.5-0.7 s for PP-OCRv4 mobile rec); beyond `capacity`
    shapes the least recently used is dropped. Thread-safe: a call borrows an idle request of its shape."""

    def __init__(self, core, model, device: str, properties: dict, capacity: Optional[int] = None):
        self._core, self._model, self._device, self._properties = core, model, device, dict(properties)
        self._capacity = capacity
        self._lock = threading.Lock()
        self._entries: "OrderedDict[tuple, tuple]" = OrderedDict()  # shape -> (compiled model, idle requests)

    @property
    def shapes(self) -> List[tuple]:
        """The shapes compiled now, least recently used first."""
        return list(self._entries)

    def infer(self, batch: np.ndarray) -> np.ndarray:
        compiled, idle = self._entry(tuple(batch.shape))
        try:
            request = idle.pop()  # list.pop/append are atomic: no lock around the run itself
        except IndexError:
            request = compiled.create_infer_request()
        try:
            request.infer({0: batch}, share_inputs=True)
            return request.get_output_tensor(0).data.copy()  # the request reuses its output buffer
        finally:
            idle.append(request)

    def _entry(self, shape: tuple) -> tuple:
        with self._lock:
            entry = self._entries.get(shape)
            if entry is None:
                model = self._model.clone()
                model.reshape({0: list(shape)})
                entry = self._entries[shape] = (self._core.compile_model(model, self._device, self._properties), [])
                if self._capacity is not None and len(self._entries) > self._capacity:
                    self._entries.popitem(last=False)
            self._entries.move_to_end(shape)
            return entry


def _constant(value) -> Optional[np.ndarray]:
    """The data of a Constant (through a Convert, as compressed weights are stored), else None."""
    node = value.get_node()
    if node.get_type_name() == "Convert":
        node = node.input_value(0).get_node()
    return node.get_data().astype(np.float32) if node.get_type_name() == "Constant" else None


def _relative_noise(x, low, high, out_low, out_high, levels: int) -> float:
    """FakeQuantize's own arithmetic on `x` (numpy), as noise energy over signal energy."""
    steps = levels - 1
    scaled = np.round((np.clip(x, low, high) - low) / np.maximum(high - low, 1e-12) * steps)
    quantized = scaled / steps * (out_high - out_low) + out_low
    return float(np.sum((quantized - x) ** 2) / max(float(np.sum(x.astype(np.float64) ** 2)), 1e-12))


class OpenVINOQuantizer:
    name = "openvino"
    distributions = ("openvino", "nncf")  # the libraries it quantizes with: their versions key its models
    method = "NNCF post-training quantization (OpenVINO IR with FakeQuantize), calibrated on the given lines"

    def __init__(self, fp32_path: Path, threads: int, preset: str = "performance", bias_correction: str = "fast",
                 ranges: str = "default", smooth_quant: Optional[float] = 0.5, overflow_fix: str = "auto",
                 ops: str = "conv_matmul"):
        self._ov = require("openvino", QUANTIZE_EXTRA)
        self._core = self._ov.Core()
        self.fp32_path = Path(fp32_path)
        self.threads = threads
        self.preset, self.bias_correction, self.ranges, self.smooth_quant = preset, bias_correction, ranges, smooth_quant
        self.overflow_fix = resolve_overflow_fix(overflow_fix)
        if ops not in OPS:
            raise ValueError(f"ops must be one of {OPS}, got {ops!r}")
        self.ops = ops
        self.fp32_model = self._core.read_model(str(self.fp32_path))

    @property
    def settings(self) -> dict:
        return {"preset": self.preset, "bias_correction": self.bias_correction, "ranges": self.ranges,
                "smooth_quant": self.smooth_quant, "overflow_fix": self.overflow_fix, "ops": self.ops,
                "max_calibration_lines": MAX_CALIBRATION_LINES}

    def quantize(self, calibration: Sequence[np.ndarray]):
        nncf = require("nncf", QUANTIZE_EXTRA)
        calibration = spread(calibration, MAX_CALIBRATION_LINES)
        from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, AdvancedSmoothQuantParameters
        from nncf.quantization.range_estimator import RangeEstimatorParametersSet

        preset = {"performance": nncf.QuantizationPreset.PERFORMANCE,
                  "mixed": nncf.QuantizationPreset.MIXED}[self.preset]
        from nncf.quantization.advanced_parameters import OverflowFix

        advanced = AdvancedQuantizationParameters(
            overflow_fix={"enable": OverflowFix.ENABLE, "first_layer_only": OverflowFix.FIRST_LAYER,
                          "disable": OverflowFix.DISABLE}[self.overflow_fix],
            disable_bias_correction=self.bias_correction == "none")
        if RANGES[self.ranges] is not None:
            advanced.activations_range_estimator_params = getattr(RangeEstimatorParametersSet, RANGES[self.ranges])
        kwargs = {}
        if self.ops == "conv_matmul":
            kwargs["ignored_scope"] = nncf.IgnoredScope(types=list(FLOAT_TYPES), validate=False)
        if self.smooth_quant is not None:
            # SmoothQuant: per input channel, divide the activation and multiply the weights by s = max|x|^alpha /
            # max|w|^(1-alpha), moving activation outliers into the per-channel weights
            kwargs["model_type"] = nncf.ModelType.TRANSFORMER
            advanced.smooth_quant_alphas = AdvancedSmoothQuantParameters(convolution=self.smooth_quant,
                                                                         matmul=self.smooth_quant)
        return nncf.quantize(self.fp32_model, nncf.Dataset(list(calibration)), subset_size=len(calibration),
                             preset=preset, fast_bias_correction=self.bias_correction != "full",
                             advanced_parameters=advanced, **kwargs)

    def layers(self, quantized) -> Dict[str, List[str]]:
        """layer name -> names of the FakeQuantize nodes on its inputs, in graph order."""
        groups: Dict[str, List[str]] = defaultdict(list)
        for op in quantized.get_ordered_ops():
            if op.get_type_name() != "FakeQuantize":
                continue
            for target in op.output(0).get_target_inputs():
                consumer = target.get_node()
                groups[consumer.get_friendly_name()].append(op.get_friendly_name())
        return dict(groups)

    def quantization_noise(self, quantized, probe: Sequence[np.ndarray]) -> Dict[str, float]:
        """FakeQuantize name -> its relative noise, ||q(x) - x||^2 / ||x||^2, on the FP32 values it sees: weights
        as stored, activations from one FP32 pass over `probe` (all quantizers removed, their inputs made outputs).
        One compilation in all, instead of one per layer."""
        fake_quantizers = [op for op in quantized.get_ordered_ops() if op.get_type_name() == "FakeQuantize"]
        model = quantized.clone()
        sources = {}
        for op in model.get_ordered_ops():
            if op.get_type_name() == "FakeQuantize":
                source = op.input_value(0)
                if source.get_node().get_type_name() != "Constant":
                    sources[op.get_friendly_name()] = source
                op.output(0).replace(op.input_value(0))
        model.validate_nodes_and_infer_types()
        outputs = model.add_outputs(list(sources.values())) if sources else []
        compiled = self.compile(model)
        request = compiled.create_infer_request()
        seen: Dict[str, List[np.ndarray]] = {name: [] for name in sources}
        for batch in probe:
            request.infer({0: batch})
            for name, output in zip(sources, outputs):
                seen[name].append(request.get_tensor(output).data.copy())
        noise = {}
        for op in fake_quantizers:
            name = op.get_friendly_name()
            low, high, out_low, out_high = (_constant(op.input_value(i)) for i in range(1, 5))
            if any(v is None for v in (low, high, out_low, out_high)):
                continue
            levels = op.get_attributes()["levels"]
            values = seen.get(name) or ([_constant(op.input_value(0))] if _constant(op.input_value(0)) is not None
                                        else [])
            errors = [_relative_noise(x, low, high, out_low, out_high, levels) for x in values]
            if errors:
                noise[name] = float(np.mean(errors))
        return noise

    def with_float(self, quantized, float_quantizers: Sequence[str]):
        """A copy of the quantized model without the named FakeQuantize nodes (their inputs flow through)."""
        model = quantized.clone()
        drop = set(float_quantizers)
        for op in model.get_ordered_ops():
            if op.get_type_name() == "FakeQuantize" and op.get_friendly_name() in drop:
                op.output(0).replace(op.input_value(0))
        model.validate_nodes_and_infer_types()
        return model

    def _properties(self, precision: str) -> dict:
        return {"INFERENCE_PRECISION_HINT": precision, "PERFORMANCE_HINT": "LATENCY",
                "INFERENCE_NUM_THREADS": self.threads}

    def compile(self, model, precision: str = "f32"):
        return self._core.compile_model(model, "CPU", self._properties(precision))

    def runner(self, model, precision: str = "f32"):
        """One input per call, compiled as the OpenVINO backend runs it (the gate judges what runs): an INT8 model
        at static shapes on an AMX int8 CPU (StaticShapes), else once at dynamic shapes."""
        if needs_static_shapes() and has_fake_quantize(model):
            return StaticShapes(self._core, model, "CPU", self._properties(precision)).infer
        compiled = self.compile(model, precision)
        request = compiled.create_infer_request()

        def run(batch: np.ndarray) -> np.ndarray:
            request.infer({0: batch}, share_inputs=True)
            return request.get_output_tensor(0).data.copy()
        return run

    def fp32_runner(self):
        return self.runner(self.fp32_model)

    def save(self, model, path: Path) -> List[Path]:
        """Write the IR to `path` (.xml, with .bin beside it); return both files."""
        self._ov.save_model(model, str(path), compress_to_fp16=False)
        return [path, path.with_suffix(".bin")]
