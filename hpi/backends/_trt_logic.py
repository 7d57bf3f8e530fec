"""The TensorRT backend's plain-Python half: shape profiles, the engine cache and its lock.

Nothing here imports tensorrt or CUDA, so all of it is tested on a CPU.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from .._fs import atomic_write, file_lock
from ..errors import BackendError, ConfigError

logger = logging.getLogger(__name__)

Shape = Tuple[int, ...]
Profile = Tuple[Shape, Shape, Shape]  # (min, opt, max)

AXES = ("batch", "channels", "height", "width")
# PaddleX's profile for text recognition: one 48-pixel line, 160 to 3200 pixels wide, up to 8 per batch.
REC_DEFAULT_PROFILE: Profile = ((1, 3, 48, 160), (1, 3, 48, 320), (8, 3, 48, 3200))
# Bump when the way engines are built changes (flags, parser setup): engines built the old way are then rebuilt.
BUILD_RECIPE = 1


def _is_dim(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def normalize_profiles(dynamic_shapes: Any, input_names: Optional[Sequence[str]] = None) -> Dict[str, Profile]:
    """{name: [min, opt, max]} -> {name: (min, opt, max)} as int tuples, or a ConfigError saying what is wrong.

    With `input_names`, the profiles must name exactly the model's inputs.
    """
    if not isinstance(dynamic_shapes, Mapping) or not dynamic_shapes:
        raise ConfigError(f"dynamic_shapes must map each input name to [min, opt, max] shapes, got {dynamic_shapes!r}")
    profiles: Dict[str, Profile] = {}
    for name, shapes in dynamic_shapes.items():
        where = f"dynamic_shapes[{name!r}]"
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: input names must be non-empty strings")
        if not isinstance(shapes, (list, tuple)) or len(shapes) != 3:
            raise ConfigError(f"{where} must be [min, opt, max], three shapes, got {shapes!r}")
        for label, shape in zip(("min", "opt", "max"), shapes):
            if not isinstance(shape, (list, tuple)) or len(shape) != 4 or not all(map(_is_dim, shape)):
                raise ConfigError(f"{where} {label} must be 4 positive integers (N, C, H, W), got {shape!r}")
        low, opt, high = (tuple(shape) for shape in shapes)
        for axis, dims in enumerate(zip(low, opt, high)):
            if not dims[0] <= dims[1] <= dims[2]:
                raise ConfigError(f"{where}: {AXES[axis]} needs min <= opt <= max, got {list(dims)}")
        profiles[name] = (low, opt, high)
    if input_names is not None and set(profiles) != set(input_names):
        raise ConfigError(f"dynamic_shapes names the inputs {sorted(profiles)} but the model's inputs are "
                          f"{list(input_names)}: set the tensorrt option dynamic_shapes={{name: [min, opt, max]}} "
                          "for each input")
    return profiles


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
                      precision: str, profiles: Mapping[str, Profile]) -> Dict[str, Any]:
    """Everything an engine depends on, as JSON-ready data (the sidecar holds exactly this)."""
    return {"build_recipe": BUILD_RECIPE, "onnx_sha256": onnx_sha256, "tensorrt_version": tensorrt_version,
            "compute_capability": compute_capability, "gpu_name": gpu_name, "precision": precision,
            "profiles": {name: [list(shape) for shape in shapes] for name, shapes in sorted(profiles.items())}}


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
