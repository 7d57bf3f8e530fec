"""The model catalog (configs/models.yaml, shipped in the wheel) joined with the backend orders the selector uses."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Dict, List, Optional

from .candidates import backend_orders, class_orders, cpu_plan
from .device import Device
from .download import official_model_dir
from .model_dir import is_complete, known_models

TASKS = ("text_recognition", "text_detection", "textline_orientation", "doc_orientation", "image_unwarping")


@dataclass(frozen=True)
class CatalogEntry:
    name: str
    task: str  # one of TASKS
    family: str
    variant: str
    languages: List[str]  # empty for models that are not language-specific
    input_shape: List[Optional[int]]  # C, H, W; None where each input is resized to its own size
    dynamic_shapes: Dict[str, list]  # {input: [min, opt, max]}, as ModelDir.dynamic_shapes falls back to
    seed: Optional[dict] = None  # accuracy, gpu_ms, cpu_ms ([normal, hpi]), size_mb as PaddleX publishes them
    backends: Dict[str, List[dict]] = field(default_factory=dict)  # device class -> ordered candidates
    backends_source: str = "default"
    cpu_plan: Optional[dict] = None  # the plan of this machine's CPU class (candidates.cpu_plan), to_dict()

    @property
    def cached(self) -> bool:
        return is_complete(official_model_dir(self.name))

    def to_dict(self) -> dict:
        return {"name": self.name, "task": self.task, "family": self.family, "variant": self.variant,
                "languages": self.languages, "input_shape": self.input_shape, "dynamic_shapes": self.dynamic_shapes,
                "seed": self.seed, "backends": self.backends, "backends_source": self.backends_source,
                "cpu_plan": self.cpu_plan, "cached": self.cached, "local_path": str(official_model_dir(self.name))}


@lru_cache(maxsize=1)
def catalog() -> Dict[str, CatalogEntry]:
    orders = backend_orders()
    entries = {}
    for name, info in known_models().items():
        own = (orders.get("models") or {}).get(name) or {}
        backends = class_orders(name)  # on the CPU, the plan of this machine's class
        entries[name] = CatalogEntry(name=name, task=info["task"], family=info["family"], variant=info["variant"],
                                     languages=info["languages"], input_shape=info["input_shape"],
                                     dynamic_shapes=info["dynamic_shapes"], seed=info.get("seed"),
                                     backends=backends, backends_source=own.get("source", "default"),
                                     cpu_plan=cpu_plan(name, Device("cpu")).to_dict())
    return entries


def catalog_table(entries: List[CatalogEntry], cpu) -> str:
    """What `hpi models` prints: this CPU (`cpu`: device.cpu_class()) and a text table of `entries`, each with its
    seed figures, this CPU class's backend order and plan, and whether it is cached."""
    header = (f"CPU: {cpu.model} ({cpu.machine}), class {cpu.name} (flags: {' '.join(cpu.flags) or 'none read'}); "
              "CPU orders below are this class's plans (configs/cpu_plans.yaml, docs/cpu_classes.md)\n")
    rows = [("model", "task", "languages", "accuracy %", "size MB", f"CPU backend order ({cpu.name})", "plan",
             "cached")]
    for e in entries:
        seed, plan = e.seed or {}, e.cpu_plan
        rows.append((e.name, e.task, ",".join(e.languages) or "-", f"{seed['accuracy']:.2f}" if seed else "-",
                     f"{seed['size_mb']:g}" if seed else "-", " > ".join(c["backend"] for c in plan["order"]),
                     plan_basis(plan), "yes" if e.cached else "no"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [header]
    for index, row in enumerate(rows):
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def plan_basis(plan: dict) -> str:
    """A CPU plan (candidates.cpu_plan(...).to_dict()) in a few words: its basis, and whose plan it borrows when
    this CPU class has none of its own (docs/cpu_classes.md)."""
    return plan["basis"] + (f", {plan['plan'].split('/')[1]}'s" if plan["fallback_from"] else "")
