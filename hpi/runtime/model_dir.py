"""A model directory in PaddleX's layout: inference.yml plus Paddle and/or ONNX weights."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from ..errors import ModelDirError

CONFIG_FILE = "inference.yml"
ONNX_FILE = "inference.onnx"
PADDLE_PARAMS_FILE = "inference.pdiparams"
# PaddleX prefers the PIR program (inference.json) when both program files are present.
PADDLE_PROGRAM_FILES = ("inference.json", "inference.pdmodel")


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

    def section(self, *keys: str, default: Any = None) -> Any:
        """A nested value of inference.yml, e.g. section('PostProcess', 'character_dict')."""
        node: Any = self.config
        for key in keys:
            if not isinstance(node, dict) or key not in node:
                return default
            node = node[key]
        return node


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
