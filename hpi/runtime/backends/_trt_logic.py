"""The TensorRT backend's plain-Python half: checking inputs against the shape profile, the engine cache and its
lock, and which layers an FP16 build keeps in FP32. (The profiles themselves come from ModelDir.dynamic_shapes.)

Nothing here imports tensorrt or CUDA, so all of it is tested on a CPU.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

from ..._fs import atomic_write, file_lock
from ...errors import BackendError
from ..model_dir import AXES, Profile

logger = logging.getLogger(__name__)

# Bump when the way engines are built changes (flags, parser setup): engines built the old way are then rebuilt.
# 2: FP16 builds keep Softmax and LayerNorm in FP32; INT8 from a QDQ model.
BUILD_RECIPE = 2


def split_batch(batch: int, max_batch: int) -> List[Tuple[int, int]]:
    """[(start, stop), ...] chunks of at most `max_batch` rows covering range(batch) in order."""
    if max_batch < 1:
        raise ValueError(f"max_batch must be at least 1, got {max_batch}")
    return [(start, min(start + max_batch, batch)) for start in range(0, batch, max_batch)]


def check_within_profile(shape: Sequence[int], profile: Profile, input_name: str = "x") -> None:
    """Raise a BackendError unless the engine can run `shape`; a batch above the maximum passes (it is split)."""
    low, _, high = profile
    if len(shape) != len(low):
        raise BackendError(f"tensorrt: input {input_name!r} has shape {tuple(shape)}, but the engine's profile is "
                           f"{len(low)}-D (min {list(low)}, max {list(high)})")
    problems = [f"batch {shape[0]} is below the minimum {low[0]}"] if shape[0] < low[0] else []
    problems += [f"{AXES[axis]} {shape[axis]} is outside [{low[axis]}, {high[axis]}]"
                 for axis in range(1, len(shape)) if not low[axis] <= shape[axis] <= high[axis]]
    if problems:
        raise BackendError(
            f"tensorrt: input {input_name!r} of shape {tuple(shape)} is outside the engine's profile (min "
            f"{list(low)}, max {list(high)}): {'; '.join(problems)}. Widen the profile with the tensorrt option "
            f"dynamic_shapes={{{input_name!r}: [min, opt, max]}} (the engine is rebuilt once for it). Inputs are "
            "never padded to fit: padding changes the results.")


def engine_key_fields(*, onnx_sha256: str, tensorrt_version: str, compute_capability: str, gpu_name: str,
                      precision: str, profiles: Mapping[str, Profile], allow_fp16: bool = False,
                      fp32_layers: Sequence[int] = (), quantization_key: Optional[str] = None) -> Dict[str, Any]:
    """Everything an engine depends on, as JSON-ready data (the sidecar holds exactly this).

    `onnx_sha256` is the file the engine is built from (for int8, the QDQ model); `quantization_key` is its
    quantization record's key (how, and from which FP32 model and data, it was made); `fp32_layers` are the layers
    an FP16-enabled build pins to FP32, so a change in which layers are pinned never reuses an old engine."""
    return {"build_recipe": BUILD_RECIPE, "onnx_sha256": onnx_sha256, "tensorrt_version": tensorrt_version,
            "compute_capability": compute_capability, "gpu_name": gpu_name, "precision": precision,
            "profiles": {name: [list(shape) for shape in shapes] for name, shapes in sorted(profiles.items())},
            "allow_fp16": allow_fp16, "fp32_layers": sorted(fp32_layers), "quantization_key": quantization_key}


def engine_cache_key(fields: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode("utf-8")).hexdigest()


def _sidecar_matches(sidecar: Path, fields: Mapping[str, Any]) -> bool:
    try:
        return json.loads(sidecar.read_text("utf-8")) == dict(fields)
    except (OSError, ValueError):
        return False


def load_or_build_engine(cache_dir: Path, fields: Mapping[str, Any], build: Callable[[], bytes],
                         deserialize: Callable[[bytes], Any]) -> Tuple[Any, Path, str]:
    """(engine, engine path, "cache" or "built").

    The cached engine is reused only when its sidecar equals `fields`; otherwise (missing, stale, unreadable) it is
    built and written while a lock is held, so processes starting together build it once.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    engine_path = cache_dir / f"{engine_cache_key(fields)[:32]}.engine"
    sidecar, lock = engine_path.with_suffix(".json"), engine_path.with_suffix(".lock")
    with file_lock(lock):
        if engine_path.is_file() and _sidecar_matches(sidecar, fields):
            engine = deserialize(engine_path.read_bytes())
            if engine is not None:
                return engine, engine_path, "cache"
            logger.warning("cached TensorRT engine %s cannot be read; rebuilding it", engine_path)
        logger.info("building a TensorRT engine into %s (this can take minutes)", engine_path)
        data = build()
        atomic_write(engine_path, data)
        # The sidecar last: an engine without a matching sidecar is never trusted.
        atomic_write(sidecar, json.dumps(dict(fields), indent=1, sort_keys=True).encode("utf-8"))
        return deserialize(data), engine_path, "built"


# -- layers kept in FP32 ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LayerInfo:
    """One layer of a TensorRT network as plain data: enough to find the layers that FP16 breaks."""

    index: int
    kind: str  # trt.LayerType name: "SOFTMAX", "REDUCE", "ELEMENTWISE", "UNARY", "SHUFFLE", "CONSTANT", ...
    op: str = ""  # an ELEMENTWISE, UNARY or REDUCE layer's operation name: "SUB", "POW", "SQRT", "AVG", ...
    inputs: Tuple[int, ...] = ()  # the layer producing each input, in input order; -1 for a network input


# Layers whose FP16 result overflows or loses the model: Softmax (exp of large logits) and TensorRT's own
# normalization layer (LayerNormalization from ONNX opset 17 on, InstanceNorm, GroupNorm: a variance inside).
ALWAYS_FP32 = ("SOFTMAX", "NORMALIZATION")
# Between two layers of a decomposed LayerNorm the parser may insert a reshape/transpose: it passes data through.
_PASS_THROUGH = "SHUFFLE"


def _through(layers: Mapping[int, LayerInfo], index: int) -> Tuple[int, List[int]]:
    """The layer that computes what `index` passes on, skipping shuffles, and the shuffles skipped."""
    skipped: List[int] = []
    while index in layers and layers[index].kind == _PASS_THROUGH and layers[index].inputs:
        skipped.append(index)
        index = layers[index].inputs[0]
    return index, skipped


def _input(layer: LayerInfo, position: int) -> int:
    return layer.inputs[position] if position < len(layer.inputs) else -1


def _layer_norm_ending_at(div: LayerInfo, layers: Mapping[int, LayerInfo]) -> Set[int]:
    """The layers of `(x - mean(x)) / sqrt(mean((x - mean(x)) ** 2) + eps)` ending at `div` (the square as POW or
    as PROD of the difference with itself), with the shuffles between them; an empty set if `div` ends none."""
    found: Set[int] = set()

    def producer(index: int, kind: str, op: str) -> Optional[LayerInfo]:
        source, skipped = _through(layers, index)
        layer = layers.get(source)
        if layer is None or (layer.kind, layer.op) != (kind, op):
            return None
        found.update(skipped + [source])
        return layer

    if (div.kind, div.op) != ("ELEMENTWISE", "DIV"):
        return set()
    centred = producer(_input(div, 0), "ELEMENTWISE", "SUB")
    root = producer(_input(div, 1), "UNARY", "SQRT")
    plus_eps = root and producer(_input(root, 0), "ELEMENTWISE", "SUM")
    variance = plus_eps and next(filter(None, (producer(i, "REDUCE", "AVG") for i in plus_eps.inputs)), None)
    square = variance and (producer(_input(variance, 0), "ELEMENTWISE", "POW")
                           or producer(_input(variance, 0), "ELEMENTWISE", "PROD"))
    mean = centred and producer(_input(centred, 1), "REDUCE", "AVG")
    if not (centred and square and mean):
        return set()
    squared = [_through(layers, index)[0] for index in square.inputs]
    expected = [centred.index] if square.op == "POW" else [centred.index, centred.index]
    if squared[:len(expected)] != expected:
        return set()  # the square of something else
    if _input(mean, 0) != _input(centred, 0):
        return set()  # the mean of something other than what it is subtracted from: not a LayerNorm
    return found | {div.index}


def fp32_layers(layers: Sequence[LayerInfo]) -> List[int]:
    """The layers an FP16 build pins to FP32, because FP16 overflows there: every Softmax and normalization layer,
    and each LayerNorm that an exporter decomposed (PP-OCR models are exported below ONNX opset 17, which has no
    LayerNormalization op) from its mean through the division by the standard deviation. A difference from the
    mean above 256 squares to more than FP16's maximum 65504, so the variance overflows on activations a
    transformer block easily has. The scale and shift after the division stay FP16: normalized values are small."""
    by_index = {layer.index: layer for layer in layers}
    pinned = {layer.index for layer in layers if layer.kind in ALWAYS_FP32}
    for layer in layers:
        pinned |= _layer_norm_ending_at(layer, by_index)
    return sorted(pinned)
