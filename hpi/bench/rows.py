"""What a benchmark measured, as typed rows: built by the measuring code (runner.py, race.py), read by report.py,
and written to results.json through each type's `to_dict()`, whose keys are the documented JSON keys.

A race row counts `items` of a `unit` ("line" for recognition; "image" for a pipeline): its JSON keys are spelled
from the unit, so a line row reads `lines`, `lines_per_s`, `stages_ms_per_line` as results.json always has.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional, Tuple


class _Row:
    """to_dict(): the fields in order, nested rows through their own to_dict(); a field named in `_omit_if_none`
    only when set; `unit` spells the keys `_keys()` renames and is not written itself."""

    _omit_if_none: Tuple[str, ...] = ()

    def _keys(self) -> Dict[str, str]:
        return {}

    def to_dict(self) -> Dict[str, Any]:
        keys, out = self._keys(), {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "unit" and not (value is None and f.name in self._omit_if_none):
                out[keys.get(f.name, f.name)] = _plain(value)
        return out


def _plain(value):
    if isinstance(value, _Row):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass
class MachineInfo(_Row):
    cpu: str
    machine: str
    python: str
    device: str
    versions: Dict[str, str]
    cpu_class: str = ""  # hpi.runtime.device.cpu_class(): the figures hold for this class of CPU
    cpu_flags: List[str] = field(default_factory=list)  # the flags that decided the class


@dataclass
class CandidateRow(_Row):
    """One candidate (mode x backend x precision) at one batch size and thread count. `kind` "model": one
    Nx3x48x320 input, the seed's definition; "end_to_end": predict(paths, batch_size) over the dataset, scored.
    The documented fields are always in the JSON (null when not measured); the others only where they apply."""

    model: str
    device: str
    threads: int
    model_size_mb: float
    gflop_per_line_3x48x320: Optional[float]
    kind: str
    mode: str
    backend: str
    selected: bool
    batch_size: int
    precision: Optional[str] = None
    load_s: Optional[float] = None
    latency_ms: Optional[float] = None
    latency_p90_ms: Optional[float] = None
    lines_per_s: Optional[float] = None
    gflops: Optional[float] = None
    pct_of_peak: Optional[float] = None
    accuracy: Optional[float] = None
    norm_edit_dis: Optional[float] = None
    samples: Optional[int] = None  # timed calls (model rows)
    lines: Optional[int] = None  # dataset lines (end-to-end rows)
    peak_rss_mb: Optional[float] = None
    error: Optional[str] = None  # set on a candidate that failed; nothing else was measured
    _omit_if_none = ("gflops", "pct_of_peak", "samples", "lines", "error")


@dataclass
class SystemRow(_Row):
    """One raced system (hpi in a configuration, or a peer) over the dataset: throughput over `items`, batch-1
    latency, accuracy against the labels, agreement with the reference, and ratios to the baseline."""

    system: str
    version: str
    batch_size: int
    items: int
    items_per_s_first: float  # the first round: every input shape new to the runtime
    items_per_s: float  # median of the later rounds (shapes seen)
    rounds_s: List[float]
    latency_ms_median: float
    latency_ms_p90: float
    accuracy: float
    norm_edit_dis: float
    accuracy_batch1: float
    reference: Optional[str]
    same_text_as_reference: Optional[float] = None
    speedup_vs_baseline: Optional[float] = None
    speedup_first_vs_baseline: Optional[float] = None
    latency_vs_baseline: Optional[float] = None
    baseline: Optional[str] = None
    gflops: Optional[float] = None
    pct_of_peak: Optional[float] = None
    unit: str = "line"
    _omit_if_none = ("same_text_as_reference", "speedup_vs_baseline", "speedup_first_vs_baseline",
                     "latency_vs_baseline", "baseline", "gflops", "pct_of_peak")

    def _keys(self) -> Dict[str, str]:
        u = self.unit
        return {"items": f"{u}s", "items_per_s": f"{u}s_per_s", "items_per_s_first": f"{u}s_per_s_first"}


@dataclass
class Skipped(_Row):
    """A system that was not raced, and why."""

    system: str
    error: str


@dataclass
class RssTrace(_Row):
    """Resident memory while `items` inputs streamed through predict_iter: (inputs done, RSS MB) samples."""

    items: int
    samples: List[Tuple[int, float]]
    rss_mb_first: Optional[float]
    rss_mb_last: Optional[float]
    growth_mb_after_first: Optional[float]
    unit: str = "line"

    def _keys(self) -> Dict[str, str]:
        return {"items": f"{self.unit}s"}


@dataclass
class ModelRace(_Row):
    """The race of one model: its systems side by side, those skipped, hpi's time per input by stage, memory."""

    model: str
    batch_size: int
    rounds: int
    threads: int
    baseline: Optional[str]  # also the reference whose batch-1 text the others are compared with
    gflop_total: Optional[float]  # the model's work over the dataset at batch size 1
    peak_gflops: Optional[float]
    systems: List[SystemRow]
    skipped: List[Skipped]
    hpi_config: Dict[str, Any]
    stages_ms: Dict[str, float]  # ms per item: read, preprocess, infer, postprocess
    rss: Optional[RssTrace] = None
    unit: str = "line"

    def system(self, name: str) -> Optional[SystemRow]:
        return next((row for row in self.systems if row.system == name), None)

    def _keys(self) -> Dict[str, str]:
        return {"stages_ms": f"stages_ms_per_{self.unit}"}

    def to_dict(self) -> Dict[str, Any]:
        return {**super().to_dict(), "reference": self.baseline}  # the same system: written under both names


@dataclass
class BenchmarkResult(_Row):
    """Everything one `hpi benchmark` run measured: results.json is its to_dict()."""

    machine: MachineInfo
    peak_gflops: Dict[int, Optional[float]]  # threads -> float32 matmul peak (None on a GPU)
    dataset: Optional[str]
    rows: List[CandidateRow] = field(default_factory=list)
    races: List[ModelRace] = field(default_factory=list)
