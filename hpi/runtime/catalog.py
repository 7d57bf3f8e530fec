"""The model catalog (configs/models.yaml, shipped in the wheel) joined with the backend orders the selector uses."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Dict, List, Optional

import yaml

from .candidates import backend_orders
from .download import official_model_dir
from .model_dir import is_complete


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    family: str
    variant: str
    languages: List[str]
    input_shape: List[int]
    dynamic_shapes: Dict[str, list]
    seed: Optional[dict] = None  # accuracy, gpu_ms, cpu_ms ([normal, hpi]), size_mb as PaddleX publishes them
    backends: Dict[str, List[dict]] = field(default_factory=dict)  # device class -> ordered candidates
    backends_source: str = "default"

    @property
    def cached(self) -> bool:
        return is_complete(official_model_dir(self.name))

    def to_dict(self) -> dict:
        return {"name": self.name, "family": self.family, "variant": self.variant, "languages": self.languages,
                "input_shape": self.input_shape, "dynamic_shapes": self.dynamic_shapes, "seed": self.seed,
                "backends": self.backends, "backends_source": self.backends_source, "cached": self.cached,
                "local_path": str(official_model_dir(self.name))}


@lru_cache(maxsize=1)
def catalog() -> Dict[str, CatalogEntry]:
    data = yaml.safe_load(resources.files("hpi.configs").joinpath("models.yaml").read_text(encoding="utf-8"))
    orders = backend_orders()
    entries = {}
    for name, info in data["models"].items():
        own = (orders.get("models") or {}).get(name) or {}
        backends = {klass: own.get(klass) or orders["default"][klass] for klass in orders["default"]}
        entries[name] = CatalogEntry(name=name, family=info["family"], variant=info["variant"],
                                     languages=info["languages"], input_shape=info["input_shape"],
                                     dynamic_shapes=info.get("dynamic_shapes") or data["dynamic_shapes"],
                                     seed=info.get("seed"), backends=backends,
                                     backends_source=own.get("source", "default"))
    return entries
