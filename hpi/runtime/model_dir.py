"""A model directory in PaddleX's layout: inference.yml plus Paddle and/or ONNX weights.

Also the one place that says which input shapes a model takes (`ModelDir.dynamic_shapes`): every backend that
needs a range of shapes (TensorRT profiles, Paddle-TensorRT) reads it there and nowhere else.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import yaml

from ..errors import BackendError, ConfigError, ModelDirError

logger = logging.getLogger(__name__)

CONFIG_FILE = "inference.yml"
ONNX_FILE = "inference.onnx"
PADDLE_PARAMS_FILE = "inference.pdiparams"
# PaddleX prefers the PIR program (inference.json) when both program files are present.
PADDLE_PROGRAM_FILES = ("inference.json", "inference.pdmodel")

Shape = Tuple[int, ...]
Profile = Tuple[Shape, Shape, Shape]  # (min, opt, max)
AXES = ("batch", "channels", "height", "width")
# Where PaddleX's exports declare the input shapes (both hold the same value), in the order read: PaddleX 3.7.2
# gives the first to its TensorRT backend, the second to Paddle Inference's TensorRT mode.
DYNAMIC_SHAPES_KEYS = (("Hpi", "backend_configs", "tensorrt", "dynamic_shapes"),
                       ("Hpi", "backend_configs", "paddle_infer", "trt_dynamic_shapes"))


@dataclass(frozen=True)
class ModelDir:
    path: Path
    config: dict = field(repr=False)
    paddle_program: Optional[Path]  # inference.json or inference.pdmodel, with inference.pdiparams beside it
    onnx: Optional[Path]

    @property
    def model_name(self) -> Optional[str]:
        return (self.config.get("Global") or {}).get("model_name")

    @property
    def paddle_params(self) -> Optional[Path]:
        return self.path / PADDLE_PARAMS_FILE if self.paddle_program else None

    @property
    def formats(self) -> tuple:
        return tuple(name for name, present in (("paddle", self.paddle_program), ("onnx", self.onnx)) if present)

    @property
    def dynamic_shapes(self) -> Optional[Dict[str, Profile]]:
        """{input name: (min, opt, max)}: the range of shapes the model is run on. From inference.yml (PaddleX's
        `Hpi.backend_configs.tensorrt.dynamic_shapes`, else `...paddle_infer.trt_dynamic_shapes`), else from the
        catalog entry (configs/models.yaml) of Global.model_name, else None: backends then run the model's own
        dynamic axes, and those that need a range (TensorRT) say which key to add (`require_dynamic_shapes`)."""
        found = [(keys, self.section(*keys)) for keys in DYNAMIC_SHAPES_KEYS if self.section(*keys) is not None]
        if found:
            (keys, value), others = found[0], found[1:]
            where = f"{'.'.join(keys)} of {str(self.path / CONFIG_FILE)!r}"
            try:
                shapes = check_dynamic_shapes(value, where)
                if others and check_dynamic_shapes(others[0][1], ".".join(others[0][0])) != shapes:
                    logger.warning("%s differs from %s; every backend uses the first", where, ".".join(others[0][0]))
            except ConfigError as exc:
                raise ModelDirError(str(exc)) from None
            return shapes
        entry = known_models().get(self.model_name or "")
        return check_dynamic_shapes(entry["dynamic_shapes"], f"configs/models.yaml {self.model_name}") \
            if entry and entry.get("dynamic_shapes") else None

    def require_dynamic_shapes(self, needed_by: str) -> Dict[str, Profile]:
        """`dynamic_shapes`, or a BackendError saying where to declare them."""
        shapes = self.dynamic_shapes
        if shapes is None:
            raise BackendError(
                f"{needed_by} needs the range of input shapes the model will see, and {str(self.path)!r} declares "
                f"none (model_name {self.model_name!r} is not in hpi's catalog): add "
                f"{'.'.join(DYNAMIC_SHAPES_KEYS[0])} to its {CONFIG_FILE}, as PaddleX exports it, e.g. "
                "`Hpi: {backend_configs: {tensorrt: {dynamic_shapes: {x: [[1, 3, 32, 32], [1, 3, 736, 736], "
                "[1, 3, 4000, 4000]]}}}}` ({input name: [min, opt, max]}), or pass backend_config dynamic_shapes")
        return shapes

    def section(self, *keys: str, default: Any = None) -> Any:
        """A nested value of inference.yml, e.g. section('PostProcess', 'character_dict')."""
        node: Any = self.config
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return default
            node = node[key]
        return node


def _is_dim(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def check_dynamic_shapes(value: Any, where: str = "dynamic_shapes",
                         input_names: Optional[Sequence[str]] = None) -> Dict[str, Profile]:
    """{name: [min, opt, max]} -> {name: (min, opt, max)} as int tuples, or a ConfigError saying what is wrong.

    With `input_names`, the shapes must name exactly the model's inputs."""
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"{where} must map each input name to [min, opt, max] shapes, got {value!r}")
    profiles: Dict[str, Profile] = {}
    for name, shapes in value.items():
        at = f"{where}[{name!r}]"
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{at}: input names must be non-empty strings")
        if not isinstance(shapes, (list, tuple)) or len(shapes) != 3:
            raise ConfigError(f"{at} must be [min, opt, max], three shapes, got {shapes!r}")
        for label, shape in zip(("min", "opt", "max"), shapes):
            if not isinstance(shape, (list, tuple)) or len(shape) != 4 or not all(map(_is_dim, shape)):
                raise ConfigError(f"{at} {label} must be 4 positive integers (N, C, H, W), got {shape!r}")
        low, opt, high = (tuple(shape) for shape in shapes)
        for axis, dims in enumerate(zip(low, opt, high)):
            if not dims[0] <= dims[1] <= dims[2]:
                raise ConfigError(f"{at}: {AXES[axis]} needs min <= opt <= max, got {list(dims)}")
        profiles[name] = (low, opt, high)
    if input_names is not None and set(profiles) != set(input_names):
        raise ConfigError(f"{where} names the inputs {sorted(profiles)} but the model's inputs are "
                          f"{list(input_names)}: set backend_config dynamic_shapes={{name: [min, opt, max]}} "
                          "for each input")
    return profiles


def as_lists(shapes: Mapping[str, Profile]) -> Dict[str, list]:
    """{name: (min, opt, max)} as plain lists, the form inference.yml and backend_config write."""
    return {name: [list(shape) for shape in profile] for name, profile in shapes.items()}


@lru_cache(maxsize=1)
def known_models() -> Dict[str, dict]:
    """configs/models.yaml (the catalog's data, shipped in the wheel): model name -> its fields, with
    `dynamic_shapes` filled in from its task's where the model has none of its own."""
    data = yaml.safe_load(resources.files("hpi.configs").joinpath("models.yaml").read_text(encoding="utf-8"))
    tasks = data["tasks"]
    return {name: {**info, "dynamic_shapes": info.get("dynamic_shapes") or tasks[info["task"]]["dynamic_shapes"]}
            for name, info in data["models"].items()}


def find_paddle_program(root: Path) -> Optional[Path]:
    """inference.json (preferred, as PaddleX) or inference.pdmodel in `root`, or None."""
    return next((root / name for name in PADDLE_PROGRAM_FILES if (root / name).is_file()), None)


def incomplete(root: Path) -> Optional[str]:
    """Why `root` is not a usable model dir (no inference.yml; a Paddle program without its weights; no model at
    all), or None when it is: the one definition of a complete model dir."""
    if not (root / CONFIG_FILE).is_file():
        return (f"model_dir {str(root)!r} has no {CONFIG_FILE}: PaddleX model dirs carry their preprocessing "
                "and dictionary there")
    program = find_paddle_program(root)
    if program is not None and not (root / PADDLE_PARAMS_FILE).is_file():
        return f"model_dir {str(root)!r} has {program.name} but no {PADDLE_PARAMS_FILE}"
    if program is None and not (root / ONNX_FILE).is_file():
        return (f"model_dir {str(root)!r} holds no model: expected {ONNX_FILE} or "
                f"{' / '.join(PADDLE_PROGRAM_FILES)} with {PADDLE_PARAMS_FILE}")
    return None


def is_complete(root: Path) -> bool:
    return root.is_dir() and incomplete(root) is None


def load_model_dir(path, expected_model_name: Optional[str] = None) -> ModelDir:
    """Read and check a model dir; `expected_model_name` must equal Global.model_name when both are given."""
    root = Path(path).expanduser()
    if not root.is_dir():
        raise ModelDirError(f"model_dir {str(path)!r} does not exist or is not a directory")
    config_path = root / CONFIG_FILE
    if not config_path.is_file():
        raise ModelDirError(incomplete(root))
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ModelDirError(f"{str(config_path)!r} is not valid YAML: {exc}") from exc
    if not isinstance(config, dict):
        raise ModelDirError(f"{str(config_path)!r} must hold a mapping, found {type(config).__name__}")

    reason = incomplete(root)
    if reason:
        raise ModelDirError(reason)
    program = find_paddle_program(root)
    onnx = root / ONNX_FILE if (root / ONNX_FILE).is_file() else None
    model_dir = ModelDir(path=root, config=config, paddle_program=program, onnx=onnx)
    if expected_model_name and model_dir.model_name and expected_model_name != model_dir.model_name:
        raise ModelDirError(f"model_name {expected_model_name!r} does not match Global.model_name "
                            f"{model_dir.model_name!r} in {str(config_path)!r}")
    return model_dir
