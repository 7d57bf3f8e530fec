"""Execution plans per CPU class (configs/cpu_plans.yaml): for a model on a CPU class, the backend order, the
faster reduced precisions offered, streams and batching, and where that plan comes from.

Pure over the data: `plan_for` takes the class name and backend_defaults.yaml's table, so every class can be
resolved (and tested) on any machine. candidates.py applies the plan of this machine's class.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Dict, Optional, Tuple

import yaml

logger = logging.getLogger(__name__)
_announced: set = set()  # (group, cpu class) whose fallback was logged: once per process
_announced_lock = threading.Lock()


@lru_cache(maxsize=1)
def plan_table() -> Dict[str, Any]:
    """configs/cpu_plans.yaml: `measurements`, `defaults`, `classes` (native precisions, nearest classes), `plans`."""
    text = resources.files("hpi.configs").joinpath("cpu_plans.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


@dataclass(frozen=True)
class Offer:
    """A reduced precision the class runs natively, faster than the FP32 default, that hpi_config enables."""

    backend: str
    precision: str
    factor: str  # "1.7x" or "2.0-2.7x"
    versus: str  # what the factor compares with
    accuracy: str
    measured_on: str
    date: str

    @property
    def hpi_config(self) -> Dict[str, Any]:
        return {"backend": self.backend, "backend_config": {"precision": self.precision}}

    @property
    def hpi_config_line(self) -> str:
        return f"hpi_config={json.dumps(self.hpi_config)}"

    def to_dict(self) -> dict:
        return {"backend": self.backend, "precision": self.precision, "factor": self.factor, "versus": self.versus,
                "accuracy": self.accuracy, "measured_on": self.measured_on, "date": self.date,
                "hpi_config": self.hpi_config}


@dataclass(frozen=True)
class Plan:
    cpu_class: str  # the class of the CPU the plan is for
    plan_class: Optional[str]  # the class whose plan it is (another one on a fallback); None: no class plan
    group: Optional[str]  # the plan group of cpu_plans.yaml, None for a model's own order or the default
    order: Tuple[dict, ...]  # backend_defaults.yaml entries: {backend, precision / run_mode, ...}
    source: str  # measured, inferred, or the model's own order's source (paddlex)
    reason: Optional[str]  # why, for anything not measured
    measurement: Optional[dict]  # the `measurements` entry: cpu, flags, date, models, figures
    num_streams: int
    batching: Dict[str, str]  # backend -> per_stream or buckets; "*": every other backend
    offers: Tuple[Offer, ...] = ()
    model: Optional[str] = None

    def batching_for(self, backend: str) -> str:
        return self.batching.get(backend, self.batching["*"])

    @property
    def basis(self) -> str:
        """`source`, except that a measured plan is `family` for a model of its group that was not measured."""
        if self.source == "measured" and self.model not in (self.measurement or {}).get("models", ()):
            return "family"
        return self.source

    @property
    def fallback_from(self) -> Optional[str]:
        """This CPU's class when the plan is another class's (none was measured for this one)."""
        return self.cpu_class if self.plan_class not in (None, self.cpu_class) else None

    def to_dict(self) -> dict:
        measured = self.measurement or {}
        return {"cpu_class": self.cpu_class, "plan": f"{self.group}/{self.plan_class}" if self.group else None,
                "source": self.source, "basis": self.basis, "reason": self.reason, "measured_on": measured.get("cpu"),
                "date": measured.get("date"), "measured_models": measured.get("models"),
                "fallback_from": self.fallback_from, "order": [dict(e) for e in self.order],
                "num_streams": self.num_streams, "batching": self.batching,
                "offer": [offer.to_dict() for offer in self.offers]}


def plan_for(model_name: Optional[str], cpu_class: str, orders: Dict[str, Any]) -> Plan:
    """The plan of `model_name` on `cpu_class`, given backend_defaults.yaml's table `orders`: the model's own order
    for this device class if it has one (PaddleX's), else its plan group's plan for the class or the nearest class
    that has one (cpu_plans.yaml `classes`), else the device class's default order."""
    table = plan_table()
    device_class = "cpu_arm64" if cpu_class.startswith("arm64") else "cpu_x64"
    own = (orders.get("models") or {}).get(model_name) or {}
    defaults = table["defaults"]
    if own.get(device_class):
        return Plan(cpu_class, None, None, tuple(own[device_class]), own.get("source", "paddlex"),
                    f"{model_name}'s own order ({own.get('source', 'paddlex')}), the same on every "
                    f"{device_class} class", None, defaults["num_streams"], _batching(None), model=model_name)
    group = table["plans"].get(own.get("plan")) or {}
    for klass in (cpu_class, *table["classes"][cpu_class]["nearest"]):
        if klass in group:
            return _class_plan(model_name, cpu_class, klass, own["plan"], group[klass], orders)
    reason = (f"no plan for {model_name or 'this model'} on {cpu_class} or a class near it: "
              f"{device_class}'s default order (backend_defaults.yaml)")
    return Plan(cpu_class, None, None, tuple(orders["default"][device_class]), "inferred", reason, None,
                defaults["num_streams"], _batching(None), model=model_name)


def _class_plan(model_name: Optional[str], cpu_class: str, plan_class: str, group: str, entry: dict,
                orders: Dict[str, Any]) -> Plan:
    table = plan_table()
    measurement = table["measurements"][entry["measurement"]] if entry.get("measurement") else None
    native = set(table["classes"][cpu_class]["native"])  # the CPU's own: a fallback plan's offers may not apply
    offers = tuple(_offer(o, table["measurements"][o["measurement"]]) for o in entry.get("offer") or ()
                   if o["precision"] in native)
    return Plan(cpu_class, plan_class, group, tuple(orders["orders"][entry["order"]]), entry["source"],
                entry.get("reason"), measurement, entry.get("num_streams", table["defaults"]["num_streams"]),
                _batching(entry.get("batching")), offers, model_name)


def _batching(given) -> Dict[str, str]:
    """A plan's `batching`: one mode for every backend, or a mode per backend (the default for the others)."""
    default = plan_table()["defaults"]["batching"]
    if isinstance(given, str):
        return {"*": given}
    return {"*": default, **(given or {})}


def _offer(entry: dict, measurement: dict) -> Offer:
    factor = measurement["factor"]
    text = f"{factor[0]}-{factor[1]}x" if isinstance(factor, list) else f"{factor}x"
    return Offer(entry["backend"], entry["precision"], text, measurement["versus"], measurement["accuracy"],
                 measurement["cpu"], str(measurement["date"]))


@dataclass(frozen=True)
class ProcessSettings:
    """What a CPU class sets once for the whole process (every model in it shares them), from the class's own entry
    in cpu_plans.yaml `process` or the nearest class that has one."""

    onednn_primitive_cache: Optional[int]  # ONEDNN_PRIMITIVE_CACHE_CAPACITY; None: the library's own (1024)
    from_class: Optional[str]  # whose measurement it is (another class's on a fallback)
    measurement: Optional[dict]

    def to_dict(self) -> dict:
        measured = self.measurement or {}
        return {"onednn_primitive_cache": self.onednn_primitive_cache, "from_class": self.from_class,
                "measured_on": measured.get("cpu"), "date": measured.get("date")}


def process_settings(cpu_class: str) -> ProcessSettings:
    table = plan_table()
    settings = table.get("process") or {}
    for klass in (cpu_class, *table["classes"][cpu_class]["nearest"]):
        if klass in settings:
            entry = settings[klass]
            return ProcessSettings(entry.get("onednn_primitive_cache"), klass,
                                   table["measurements"].get(entry.get("measurement")))
    return ProcessSettings(None, None, None)


def announce(plan: Plan) -> None:
    """Log at INFO, once per process for each plan group and CPU class, that the plan is another class's."""
    if plan.fallback_from is None:
        return
    with _announced_lock:
        if (plan.group, plan.cpu_class) in _announced:
            return
        _announced.add((plan.group, plan.cpu_class))
    measured = plan.measurement or {}
    basis = (f"measured on {measured.get('cpu')} ({measured.get('date')})" if plan.source == "measured"
             else f"{plan.source}: {plan.reason}")
    logger.info("no plan measured for %s (%s models); using %s's, %s", plan.cpu_class, plan.group, plan.plan_class,
                basis)
