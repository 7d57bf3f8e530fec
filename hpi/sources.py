"""Where official models come from, in PaddleX's order, configured by environment variables (parsed here only).

- HPI_MODEL_MIRROR=<base url>: tried first, serves `<base>/<name>_infer.tar` (the official archive layout), for
  air-gapped sites with an internal mirror.
- PADDLE_PDX_MODEL_SOURCE (PaddleX's variable): which of PaddleX's hosts to try first; the others follow.
- HPI_MODEL_SOURCES=<name,name,...>: only these sources, in this order (e.g. `mirror` alone in tests or
  behind a firewall).
"""
from __future__ import annotations

import os
from typing import Dict, List

from .download import Source
from .errors import ConfigError

BOS_BASE = "https://paddle-model-ecology.bj.bcebos.com/paddlex/official_inference_model/paddle3.0.0"
HUGGINGFACE_BASE = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
MODELSCOPE_BASE = "https://www.modelscope.cn"
PADDLEX_ORDER = ("huggingface", "modelscope", "aistudio", "bos")


def _official(name: str) -> Dict[str, Source]:
    return {
        "huggingface": Source("huggingface", file_url=lambda f: f"{HUGGINGFACE_BASE}/PaddlePaddle/{name}/resolve/main/{f}"),
        "modelscope": Source("modelscope", file_url=lambda f: f"{MODELSCOPE_BASE}/models/PaddlePaddle/{name}/resolve/master/{f}"),
        "aistudio": Source("aistudio", file_url=lambda f: f"https://aistudio.baidu.com/api/v1/models/PaddlePaddle/{name}/repo/files/{f}/raw"),
        "bos": Source("bos", archive_url=f"{BOS_BASE}/{name}_infer.tar"),
    }


def model_sources(name: str) -> List[Source]:
    official = _official(name)
    mirror = os.environ.get("HPI_MODEL_MIRROR", "").strip().rstrip("/")
    available = dict(official)
    if mirror:
        available["mirror"] = Source("mirror", archive_url=f"{mirror}/{name}_infer.tar")

    first = os.environ.get("PADDLE_PDX_MODEL_SOURCE", "").strip().lower()
    if first and first not in official:
        raise ConfigError(f"PADDLE_PDX_MODEL_SOURCE={first!r} is not one of {list(PADDLEX_ORDER)}")
    order = ["mirror"] if mirror else []
    order += ([first] if first else []) + [s for s in PADDLEX_ORDER if s != first]

    only = os.environ.get("HPI_MODEL_SOURCES", "").strip()
    if only:
        order = [s.strip().lower() for s in only.split(",") if s.strip()]
        unknown = [s for s in order if s not in available]
        if unknown:
            raise ConfigError(f"HPI_MODEL_SOURCES names unknown or unset source(s) {unknown}; available: "
                              f"{sorted(available)} (set HPI_MODEL_MIRROR for 'mirror')")
    return [available[s] for s in order]
