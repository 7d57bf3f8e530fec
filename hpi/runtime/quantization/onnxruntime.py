"""INT8 for ONNX Runtime and TensorRT: a QDQ ONNX model from onnxruntime.quantization's static quantization.

Only Conv and MatMul are quantized (quantizing every op type lost too much accuracy), with symmetric INT8
activations and per-channel symmetric INT8 weights (7-bit on CPUs without VNNI: resolve_overflow_fix): TensorRT's
explicit quantization takes zero-point 0 only. Biases stay float, as TensorRT cannot dequantize INT32 (ONNX Runtime
quantizes a float bias itself when it fuses the QDQ nodes into QLinearConv). The FP32 model is first raised to opset
13 (per-channel Q/DQ needs it) and put through quant_pre_process (shape inference; ONNX Runtime's basic optimizer,
which folds BatchNormalization into Conv and Constant nodes into initializers, so weights are quantized as weights).

A "layer" is a Conv or MatMul node that reads dequantized tensors. Its quantizers are the edges from a
DequantizeLinear to a reader: `<node>:<input index>` for its own inputs, `<node>:out` for the other readers of its
quantized output (the Q/DQ pair ONNX Runtime puts there serves its QLinearConv fusion), `<tensor>:side` for the
other readers of a quantized input whose producer is not a layer (a residual Add reading the same pair). Keeping a
quantizer in float rewires its readers to the float tensor, so no recalibration is needed to try another set of
float layers.
"""
from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

from ..._deps import QUANTIZE_EXTRA, require
from ..._logging import onnxruntime_severity
from ..device import cpu_capabilities
from ...errors import ConfigError

logger = logging.getLogger(__name__)

OP_TYPES = ("Conv", "MatMul")
CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
OVERFLOW_FIXES = ("auto", "enable", "disable")
MIN_OPSET = 13  # per-channel QuantizeLinear/DequantizeLinear (the axis attribute)


class ONNXRuntimeQuantizer:
    name = "onnxruntime"
    distributions = ("onnxruntime", "onnx")  # the libraries it quantizes with: their versions key its models
    method = ("onnxruntime.quantization.quantize_static (QDQ; Conv and MatMul; symmetric INT8 activations, "
              "per-channel symmetric weights, float biases)")

    def __init__(self, fp32_path: Path, threads: int, calibration: str = "minmax", overflow_fix: str = "auto"):
        if calibration not in CALIBRATION_METHODS:
            raise ConfigError(f"calibration must be one of {list(CALIBRATION_METHODS)}, got {calibration!r}")
        if overflow_fix not in OVERFLOW_FIXES:
            raise ConfigError(f"overflow_fix must be one of {list(OVERFLOW_FIXES)}, got {overflow_fix!r}")
        self._onnx = require("onnx", QUANTIZE_EXTRA)
        self._ort = require("onnxruntime", QUANTIZE_EXTRA)
        self.fp32_path = Path(fp32_path)
        self.threads = threads
        self.calibration = calibration
        self.overflow_fix = resolve_overflow_fix(overflow_fix)
        self.fp32_model = self._onnx.load(str(self.fp32_path))
        self._float_model = None  # the prepared FP32 model that is quantized: where with_float takes weights

    @property
    def settings(self) -> dict:
        return {"calibration": self.calibration, "overflow_fix": self.overflow_fix, "op_types": list(OP_TYPES),
                "format": "QDQ", "activations": "int8 symmetric", "bias": "float",
                "weights": f"{7 if self.overflow_fix == 'enable' else 8}-bit symmetric per-channel"}

    def prepared(self):
        """The FP32 model as it is quantized: opset >= 13, pre-processed (made once)."""
        if self._float_model is None:
            quantization = require("onnxruntime.quantization", QUANTIZE_EXTRA)
            model = self.fp32_model
            opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), MIN_OPSET)
            if opset < MIN_OPSET:
                model = self._onnx.version_converter.convert_version(model, MIN_OPSET)
            with tempfile.TemporaryDirectory(prefix="hpi-ort-prepare-") as scratch:
                source, target = Path(scratch) / "fp32.onnx", Path(scratch) / "prepared.onnx"
                self._onnx.save(model, str(source))
                quantization.quant_pre_process(str(source), str(target), skip_symbolic_shape=True)
                self._float_model = self._onnx.load(str(target))
        return self._float_model

    def quantize(self, calibration: Sequence[np.ndarray]):
        """The QDQ model (onnx.ModelProto), calibrated on `calibration`, one input array per inference."""
        quantization = require("onnxruntime.quantization", QUANTIZE_EXTRA)
        prepared = self.prepared()
        method = {"minmax": quantization.CalibrationMethod.MinMax, "entropy": quantization.CalibrationMethod.Entropy,
                  "percentile": quantization.CalibrationMethod.Percentile}[self.calibration]
        # Calibrating one input per pass (the strided mode with stride 1) keeps histograms of lines of different
        # widths apart (the histogram calibrators stack a pass's outputs into one array) and the memory to one
        # line's activations.
        options = {"ActivationSymmetric": True, "WeightSymmetric": True, "QuantizeBias": False,
                   "CalibTensorRangeSymmetric": True, "CalibStridedMinMax": 1}
        with tempfile.TemporaryDirectory(prefix="hpi-ort-quantize-") as scratch:
            source, target = Path(scratch) / "fp32.onnx", Path(scratch) / "int8.onnx"
            self._onnx.save(prepared, str(source))
            chatter = io.StringIO()
            with contextlib.redirect_stdout(chatter):  # the histogram calibrators print per pass
                quantization.quantize_static(
                    str(source), str(target), _Inputs(prepared.graph.input[0].name, calibration),
                    quant_format=quantization.QuantFormat.QDQ, op_types_to_quantize=list(OP_TYPES),
                    per_channel=True, reduce_range=self.overflow_fix == "enable",
                    activation_type=quantization.QuantType.QInt8,
                    weight_type=quantization.QuantType.QInt8, calibrate_method=method, extra_options=options)
            logger.debug("onnxruntime.quantization said: %s", chatter.getvalue()[-2000:])
            return self._onnx.load(str(target))

    def layers(self, quantized) -> Dict[str, List[str]]:
        """layer (Conv or MatMul node) -> names of the quantizers it owns, in graph order."""
        groups: Dict[str, List[str]] = defaultdict(list)
        for name, (owners, _) in _quantizers(quantized).items():
            for owner in owners:
                groups[owner].append(name)
        return dict(groups)

    def with_float(self, quantized, float_quantizers: Sequence[str]):
        """A copy of `quantized` whose named quantizers' readers read float again: an activation's float tensor,
        a weight's FP32 initializer. Nodes and initializers left unread are removed."""
        model = self._onnx.ModelProto()
        model.CopyFrom(quantized)
        quantizers = _quantizers(model)
        unknown = sorted(set(float_quantizers) - set(quantizers))
        if unknown:
            raise ValueError(f"no such quantizers in the model: {unknown[:5]}")
        float_nodes = {_key(node): node for node in self.prepared().graph.node}
        float_weights = {tensor.name: tensor for tensor in self.prepared().graph.initializer}
        present = {tensor.name for tensor in model.graph.initializer}
        for name in float_quantizers:
            for reader, index, tensor in quantizers[name][1]:
                if tensor is None:  # a weight: the FP32 initializer the quantizer started from
                    tensor = float_nodes[_key(reader)].input[index]
                    if tensor not in present:
                        model.graph.initializer.append(float_weights[tensor])
                        present.add(tensor)
                reader.input[index] = tensor
        _prune(model.graph)
        return model

    def runner(self, model):
        ort = self._ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = onnxruntime_severity()
        if self.overflow_fix == "disable" and not cpu_capabilities().int8_dot:
            options.add_session_config_entry("session.x64quantprecision", "1")  # exact u8 x u8 kernels (slower)
        session = ort.InferenceSession(model.SerializeToString(), sess_options=options,
                                       providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name

        def run(batch: np.ndarray) -> np.ndarray:
            return session.run(None, {input_name: batch})[0]
        return run

    def fp32_runner(self):
        return self.runner(self.fp32_model)

    def save(self, model, path: Path) -> List[Path]:
        """Write the model to `path`, one file (these models are far below protobuf's 2 GB)."""
        self._onnx.save(model, str(path))
        return [Path(path)]


def resolve_overflow_fix(value: str) -> str:
    """"auto": 7-bit weights ("enable") on a CPU without 8-bit dot-product instructions (VNNI, AMX), 8-bit weights
    ("disable") on one with them.

    Without VNNI, ONNX Runtime's x86 kernels multiply u8 activations by s8 weights in pairs summed into 16 bits,
    which saturates (255 x 127 x 2 > 32767). Measured on an AVX2-only EPYC, PP-OCRv4 mobile, 396 real crops,
    calibrated on all: the same 8-bit QDQ model gave FP32's text on 20.7% of them on those kernels, 50.3% on
    ONNX Runtime's exact u8 x u8 kernels (session.x64quantprecision, which runner() sets for 8-bit weights on such
    a CPU, at the cost of speed); 7-bit weights gave 53.5% on the fast kernels."""
    if value != "auto":
        return value
    return "disable" if cpu_capabilities().int8_dot else "enable"


class _Inputs:
    """onnxruntime.quantization's CalibrationDataReader over a list of arrays (range settable for strided
    calibration)."""

    def __init__(self, input_name: str, arrays: Sequence[np.ndarray]):
        self._name, self._arrays = input_name, list(arrays)
        self._next, self._end = 0, len(self._arrays)

    def get_next(self):
        if self._next >= self._end:
            return None
        self._next += 1
        return {self._name: self._arrays[self._next - 1]}

    def __len__(self) -> int:
        return len(self._arrays)

    def set_range(self, start_index: int, end_index: int) -> None:
        self._next, self._end = start_index, min(end_index, len(self._arrays))


def _key(node) -> str:
    return node.name or node.output[0]


# quantizer name -> (layers that own it, [(reader node, input index, float tensor or None for a weight)])
Quantizers = Dict[str, Tuple[List[str], List[tuple]]]


def _quantizers(model) -> Quantizers:
    nodes = model.graph.node
    producer = {output: node for node in nodes for output in node.output}
    readers = defaultdict(list)
    for node in nodes:
        for index, tensor in enumerate(node.input):
            readers[tensor].append((node, index))

    def is_layer(node) -> bool:
        return node is not None and node.op_type in OP_TYPES and any(
            getattr(producer.get(tensor), "op_type", None) == "DequantizeLinear" for tensor in node.input)

    found: Quantizers = {}
    for dequantize in nodes:
        if dequantize.op_type != "DequantizeLinear":
            continue
        quantize = producer.get(dequantize.input[0])
        activation = quantize is not None and quantize.op_type == "QuantizeLinear"
        tensor = quantize.input[0] if activation else None
        source = producer.get(tensor) if activation else None
        layer_readers = [_key(node) for node, _ in readers[dequantize.output[0]] if is_layer(node)]
        for reader, index in readers[dequantize.output[0]]:
            if is_layer(reader):
                name, owners = f"{_key(reader)}:{index}", [_key(reader)]
            elif is_layer(source):
                name, owners = f"{_key(source)}:out", [_key(source)]
            else:
                name, owners = f"{tensor or dequantize.input[0]}:side", layer_readers
            found.setdefault(name, (owners, []))[1].append((reader, index, tensor))
    return found


def _prune(graph) -> None:
    """Remove the nodes whose outputs nothing reads (nodes are in topological order), then the initializers and
    value_info entries of tensors no longer read or made."""
    needed = {output.name for output in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(output in needed for output in node.output):
            kept.append(node)
            needed.update(node.input)
    kept.reverse()
    kept = [_copy(node) for node in kept]
    del graph.node[:]
    graph.node.extend(kept)
    made = {output for node in graph.node for output in node.output}
    initializers = [_copy(tensor) for tensor in graph.initializer if tensor.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    infos = [_copy(info) for info in graph.value_info if info.name in made]
    del graph.value_info[:]
    graph.value_info.extend(infos)


def _copy(message):
    duplicate = type(message)()
    duplicate.CopyFrom(message)
    return duplicate
