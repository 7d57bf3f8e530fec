"""Native TensorRT backend (NVIDIA GPU): builds an engine from inference.onnx once, caches it, runs it.

Precision: "fp32" (TF32 off: true FP32). "fp16" lets TensorRT run layers in FP16 but pins the layers FP16
overflows in to FP32: every Softmax, every normalization layer, and each LayerNorm an exporter decomposed into
mean/sub/pow/mean/add/sqrt/div (`_trt_logic.fp32_layers`). "int8" runs the gated QDQ model `hpi quantize` made
(`inference.int8.onnx`, refused unless its record says it passed its accuracy gate for the FP32 model present):
explicit quantization, so the Q/DQ scales come from the model and no calibrator is used. The layers it keeps in
float stay FP32, as the gate measured them, unless the option `int8_allow_fp16` is true (faster; those layers
then run in FP16, the same fragile layers pinned to FP32 as for "fp16", and the gate's numbers no longer hold
exactly). TensorRT takes symmetric INT8 Q/DQ only (int8 with zero point 0, not uint8): the quantizer that makes
the file for tensorrt has to quantize that way.

Engine cache: under `cache_dir` (default `<model_dir>/.cache/tensorrt`), named by a key over the built ONNX file's
sha256, the TensorRT version, the GPU (compute capability and name), the precision, the shape profiles, whether
FP16 is allowed and which layers are pinned to FP32, and for int8 the quantization record's key. A JSON sidecar
beside each engine holds those fields; an engine whose sidecar does not match is rebuilt, never reused. Builds hold
a file lock, so processes starting together build once, and engines are written atomically. With FP16 allowed,
loading a cached engine parses the ONNX model once (well under a second for the OCR models), because the pinned
layers are read from the parsed network.

Inputs outside the profile: a batch above the profile's maximum is split into chunks whose outputs are joined
(each sample's result does not depend on its batch). A height or width outside [min, max] raises BackendError
saying what the profile allows and how to widen it (the `dynamic_shapes` option). We do not rebuild on the fly:
a build takes minutes and would stall a running service on one odd input. We never pad: padding changes results.

TensorRT 8.6 and 10.x both have the tensor-name API used here (set_input_shape, set_tensor_address,
execute_async_v3); only network creation differs (8.x needs the EXPLICIT_BATCH flag). Both have the INT8, FP16 and
OBEY_PRECISION_CONSTRAINTS builder flags and per-layer precision used here (TensorRT 11 drops them for strongly
typed networks). CUDA memory and streams come from cuda-python (`cuda.bindings.runtime`, or `cuda.cudart` in older
releases).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..._deps import install_hint
from ..._fs import sha256_files
from ..device import Device
from ...errors import BackendError, ConfigError, MissingDependencyError
from ..model_dir import as_lists, check_dynamic_shapes
from ._trt_logic import (LayerInfo, check_within_profile, engine_key_fields, fp32_layers, load_or_build_engine,
                         split_batch)
from .base import InferenceBackend
from .facts import DYNAMIC_SHAPES_OPTION, one_of, positive_int
from .int8 import read_record
from .onnxruntime import ONNXRuntimeBackend
# The Python binding hands out every layer as ILayer; its operation is read once it is given its own class.
_LAYER_CLASSES = {"ELEMENTWISE": "IElementWiseLayer", "UNARY": "IUnaryLayer", "REDUCE": "IReduceLayer"}


def _import_cudart():
    for module in ("cuda.bindings.runtime", "cuda.cudart"):  # cuda-python >= 12.6 moved it; 13 dropped the old name
        try:
            return importlib.import_module(module)
        except ImportError:
            continue
    raise MissingDependencyError("the tensorrt backend needs cuda-python for GPU memory and streams, but neither "
                                 "cuda.bindings.runtime nor cuda.cudart imports. Install it with: "
                                 + install_hint("gpu", "cuda-python"))


def _enum_name(value: Any) -> str:
    return getattr(value, "name", None) or str(value).rsplit(".", 1)[-1]  # "LayerType.SOFTMAX" -> "SOFTMAX"


def describe_network(trt, network) -> List[LayerInfo]:
    """The parsed network's layers as plain data, for `fp32_layers`."""
    layers = [network.get_layer(index) for index in range(network.num_layers)]
    producer = {layer.get_output(k).name: index for index, layer in enumerate(layers)
                for k in range(layer.num_outputs)}
    described = []
    for index, layer in enumerate(layers):
        kind, op = _enum_name(layer.type), ""
        if kind in _LAYER_CLASSES:
            layer.__class__ = getattr(trt, _LAYER_CLASSES[kind])  # as Polygraphy does, to reach `.op`
            op = _enum_name(layer.op)
        tensors = (layer.get_input(k) for k in range(layer.num_inputs))
        inputs = tuple(-1 if tensor is None else producer.get(tensor.name, -1) for tensor in tensors)
        described.append(LayerInfo(index, kind, op, inputs))
    return described


def _pin_fp32(trt, network, indices: Sequence[int]) -> None:
    for index in indices:
        layer = network.get_layer(index)
        layer.precision = trt.float32  # where it computes
        for k in range(layer.num_outputs):
            layer.set_output_type(k, trt.float32)  # and what it hands on: an FP16 output would overflow as well


def _cuda_ok(cudart, result) -> Any:
    """cuda-python returns (error, *values): raise on an error, else return the value (or None)."""
    error, *values = result
    if error != cudart.cudaError_t.cudaSuccess:
        raise BackendError(f"tensorrt: a CUDA call failed with {getattr(error, 'name', error)}")
    return values[0] if values else None


class TensorRTBackend(InferenceBackend):
    name = "tensorrt"
    model_format = "onnx"
    framework = "tensorrt"
    extra, package = "gpu", "tensorrt"  # with cuda-python (_import_cudart)
    distributions = ("tensorrt",)
    device_kinds = ("gpu",)
    precisions = ("fp32", "fp16", "int8")
    tuned_precisions = {"gpu": {"fp16": {"precision": "fp16"}, "int8": {"precision": "int8"}}}
    int8_artifact = ONNXRuntimeBackend.int8_artifact  # the same QDQ model: explicit quantization, no calibrator
    option_checks = {
        "precision": (one_of(*precisions),
                      "'fp32', 'fp16' (Softmax and LayerNorm stay FP32) or 'int8' (the gated QDQ model that "
                      "`hpi quantize --backend onnxruntime` makes; its float layers stay FP32)"),
        "int8_allow_fp16": (lambda value: isinstance(value, bool),
                            "true or false: with precision 'int8', whether the layers the QDQ model keeps in float "
                            "may run in FP16 (default false: FP32, as its accuracy gate measured them)"),
        "dynamic_shapes": DYNAMIC_SHAPES_OPTION,
        "cache_dir": (lambda value: isinstance(value, str) and bool(value), "a directory path"),
        "workspace_mb": (positive_int, "a positive integer (MiB of builder workspace)"),
    }

    def __init__(self, model_dir, device: Device, options=None):
        super().__init__(model_dir, device, options)
        if self.options.get("int8_allow_fp16") and self.options["precision"] != "int8":
            raise ConfigError(f"tensorrt.int8_allow_fp16 applies to precision 'int8' only, not "
                              f"{self.options['precision']!r}")
        # These defaults depend on the model dir, which default_options() does not see. An engine needs a range of
        # shapes: without one anywhere this fails now, saying which key to add (the selector tries the next backend).
        self.options["dynamic_shapes"] = as_lists(self.required_dynamic_shapes("the tensorrt backend"))
        self.options.setdefault("cache_dir", str(model_dir.path / ".cache" / "tensorrt"))
        self._engine_path: Optional[Path] = None
        self._engine_source: Optional[str] = None
        self._engine = self._runtime = None

    @classmethod
    def default_options(cls, device: Device) -> Dict[str, Any]:
        return {"precision": "fp32", "workspace_mb": 1024}

    @property
    def _allow_fp16(self) -> bool:
        return self.options["precision"] == "fp16" or bool(self.options.get("int8_allow_fp16"))

    # -- loading --------------------------------------------------------------------------------------------
    def _load_impl(self) -> None:
        trt = self.import_framework()
        self._cudart = _import_cudart()
        _cuda_ok(self._cudart, self._cudart.cudaSetDevice(self.device.gpu_id))
        self._profiles = check_dynamic_shapes(self.options["dynamic_shapes"])
        onnx_path = self.model_path()
        trt_logger = trt.Logger(trt.Logger.WARNING)
        # The pinned layers belong in the key, so with FP16 the network is parsed before the cache is looked at.
        parsed = self._parse(trt, trt_logger, onnx_path) if self._allow_fp16 else None
        self._fp32_layers = pinned = fp32_layers(describe_network(trt, parsed[1])) if parsed else []
        fields = self._key_fields(trt, onnx_path, pinned)
        self._runtime = trt.Runtime(trt_logger)
        try:
            self._engine, self._engine_path, self._engine_source = load_or_build_engine(
                Path(self.options["cache_dir"]), fields,
                lambda: self._build(trt, parsed or self._parse(trt, trt_logger, onnx_path), pinned, onnx_path),
                self._runtime.deserialize_cuda_engine)
            if self._engine is None:
                raise BackendError(f"tensorrt could not deserialize the engine it built for {str(onnx_path)!r}")
            self._prepare_execution(trt)
        except BaseException:
            self._close_impl()  # base.load() does not close a backend that failed to load
            raise

    def _key_fields(self, trt, onnx_path: Path, pinned: Sequence[int]) -> Dict[str, Any]:
        quantization_key = None
        if self.options["precision"] == "int8":
            quantization_key = (read_record(onnx_path) or {}).get("key")
        props = _cuda_ok(self._cudart, self._cudart.cudaGetDeviceProperties(self.device.gpu_id))
        gpu_name = props.name.decode("utf-8", "replace") if isinstance(props.name, bytes) else str(props.name)
        return engine_key_fields(onnx_sha256=sha256_files(onnx_path), tensorrt_version=trt.__version__,
                                 compute_capability=f"{props.major}.{props.minor}",
                                 gpu_name=gpu_name.split("\x00")[0].strip(), precision=self.options["precision"],
                                 profiles=self._profiles, allow_fp16=self._allow_fp16, fp32_layers=pinned,
                                 quantization_key=quantization_key)

    @staticmethod
    def _parse(trt, trt_logger, onnx_path: Path) -> Tuple[Any, Any, Any]:
        """(builder, network, parser): the parser owns the network's weights, so it lives until the build ends."""
        builder = trt.Builder(trt_logger)
        major = int(trt.__version__.split(".")[0])
        flags = 0 if major >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, trt_logger)
        if not parser.parse_from_file(str(onnx_path)):
            errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BackendError(f"tensorrt could not parse {str(onnx_path)!r}: {errors}")
        return builder, network, parser

    def _build(self, trt, parsed: Tuple[Any, Any, Any], pinned: Sequence[int], onnx_path: Path) -> bytes:
        builder, network, _parser = parsed
        check_dynamic_shapes(self.options["dynamic_shapes"], "tensorrt.dynamic_shapes",
                             [network.get_input(i).name for i in range(network.num_inputs)])
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(self.options["workspace_mb"]) << 20)
        if self.options["precision"] == "int8":
            # Explicit quantization: the Q/DQ layers carry the scales, so there is no calibrator; the flag lets
            # TensorRT run the quantized layers in INT8 (8.6 requires it for Q/DQ networks, 10.x accepts it).
            config.set_flag(trt.BuilderFlag.INT8)
        if self._allow_fp16:
            config.set_flag(trt.BuilderFlag.FP16)
            _pin_fp32(trt, network, pinned)
            # OBEY, not PREFER: PREFER drops a pin with only a log warning where TensorRT has no FP32 kernel for
            # it, and these pins stand between a result and inf/NaN, so a failed build is better than a silent
            # one. Softmax, reduce, elementwise, unary and normalization layers all have FP32 kernels.
            if pinned:
                config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        else:
            # TensorRT runs fp32 convolutions in TF32 by default on Ampere and newer: about 1e-3 off true fp32.
            config.clear_flag(trt.BuilderFlag.TF32)
        profile = builder.create_optimization_profile()
        for input_name, (low, opt, high) in self._profiles.items():
            profile.set_shape(input_name, low, opt, high)
        config.add_optimization_profile(profile)
        serialized = builder.build_serialized_network(network, config)
        if serialized is None:
            raise BackendError(f"tensorrt could not build an engine for {str(onnx_path)!r} (its log says why)")
        return bytes(serialized)

    def _prepare_execution(self, trt) -> None:
        """Check the engine's tensors once; each execution context then gets its own buffers (`_new_context`)."""
        engine = self._engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [name for name in names if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT]
        outputs = [name for name in names if name not in inputs]
        check_dynamic_shapes(self.options["dynamic_shapes"], "tensorrt.dynamic_shapes", inputs)  # a cached engine too
        if len(inputs) != 1 or not outputs:
            raise BackendError(f"tensorrt runs models with one input and at least one output; this one has "
                               f"inputs {inputs} and outputs {outputs}")
        self._input_name, self._output_name = inputs[0], outputs[0]
        self._tensor_names = names
        self._dtypes = {name: np.dtype(trt.nptype(engine.get_tensor_dtype(name))) for name in names}
        if self._dtypes[self._input_name] != np.float32:
            raise BackendError(f"tensorrt: input {self._input_name!r} is {self._dtypes[self._input_name]}, "
                               "expected float32")

    def _new_context(self) -> "_ExecutionContext":
        """An execution context with its own CUDA stream and device buffers: one call in flight uses it alone."""
        cudart = self._cudart
        _cuda_ok(cudart, cudart.cudaSetDevice(self.device.gpu_id))
        context = _ExecutionContext(self._engine.create_execution_context(), None, {})
        try:
            context.stream = _cuda_ok(cudart, cudart.cudaStreamCreate())
            # Buffers sized for the profile's largest input, so one allocation serves every call.
            context.trt.set_input_shape(self._input_name, self._profiles[self._input_name][2])
            for name in self._tensor_names:
                shape = tuple(context.trt.get_tensor_shape(name))
                if min(shape, default=1) < 0:
                    raise BackendError(f"tensorrt: output {name!r} has a data-dependent shape {shape}; "
                                       "not supported")
                capacity = int(np.prod(shape)) * self._dtypes[name].itemsize
                context.buffers[name] = (_cuda_ok(cudart, cudart.cudaMalloc(capacity)), capacity)
                context.trt.set_tensor_address(name, context.buffers[name][0])
        except BaseException:
            self._close_context(context)
            raise
        return context

    # -- running --------------------------------------------------------------------------------------------
    def _infer_impl(self, context: "_ExecutionContext", batch: np.ndarray) -> np.ndarray:
        profile = self._profiles[self._input_name]
        check_within_profile(batch.shape, profile, self._input_name)
        # the current device belongs to the thread, and another backend may use another GPU
        _cuda_ok(self._cudart, self._cudart.cudaSetDevice(self.device.gpu_id))
        parts = [self._run(context, batch[start:stop]) for start, stop in split_batch(batch.shape[0], profile[2][0])]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _run(self, context: "_ExecutionContext", chunk: np.ndarray) -> np.ndarray:
        cudart, stream = self._cudart, context.stream
        memcpy_kind = cudart.cudaMemcpyKind
        if not context.trt.set_input_shape(self._input_name, chunk.shape):
            raise BackendError(f"tensorrt refused the input shape {chunk.shape} (its log says why)")
        output_pointer, capacity = context.buffers[self._output_name]
        output = np.empty(tuple(context.trt.get_tensor_shape(self._output_name)), self._dtypes[self._output_name])
        if output.nbytes > capacity:
            raise BackendError(f"tensorrt: output of {output.shape} exceeds the buffer sized for the profile max")
        _cuda_ok(cudart, cudart.cudaMemcpyAsync(context.buffers[self._input_name][0], chunk.ctypes.data,
                                                chunk.nbytes, memcpy_kind.cudaMemcpyHostToDevice, stream))
        if not context.trt.execute_async_v3(int(stream)):
            raise BackendError(f"tensorrt failed to run the engine on a batch of shape {chunk.shape}")
        _cuda_ok(cudart, cudart.cudaMemcpyAsync(output.ctypes.data, output_pointer, output.nbytes,
                                                memcpy_kind.cudaMemcpyDeviceToHost, stream))
        _cuda_ok(cudart, cudart.cudaStreamSynchronize(stream))
        return output

    def _close_context(self, context: "_ExecutionContext") -> None:
        context.trt = None  # the TensorRT context goes before the memory it used
        for pointer, _ in context.buffers.values():
            self._cudart.cudaFree(pointer)
        context.buffers = {}
        if context.stream is not None:
            self._cudart.cudaStreamDestroy(context.stream)
            context.stream = None

    def _close_impl(self) -> None:
        # The engine goes before the runtime (every context is closed before this).
        self._engine = self._runtime = None

    @property
    def config(self) -> Dict[str, Any]:
        config = super().config
        if self._loaded:
            config["profiles"] = {name: [list(shape) for shape in shapes] for name, shapes in self._profiles.items()}
            config.update(engine_path=str(self._engine_path), engine_source=self._engine_source,
                          fp32_layers=len(self._fp32_layers))
        return config


@dataclass
class _ExecutionContext:
    """One TensorRT execution context with its CUDA stream and device buffers (tensor name -> (pointer, bytes))."""

    trt: Any
    stream: Any
    buffers: Dict[str, Tuple[int, int]]
