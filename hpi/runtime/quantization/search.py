"""The gate and the search for an INT8 model that holds it.

1. Quantize every layer the quantizer takes; judge it on the validation inputs against the FP32 model.
2. If the drop exceeds `max_drop`: rank the layers by sensitivity (sensitivity.py) and keep the most sensitive
   ones in float, k = 1, 2, 4, ... (at most MAX_FLOAT_SHARE of them) until the gate holds, then bisect to the
   fewest float layers that hold it.
3. Time the FP32 model and the chosen one side by side (model only, one input per call, alternating rounds).
If no number of float layers holds the gate, nothing is chosen: the caller refuses with the attempts.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence

import numpy as np

from .sensitivity import rank_layers
from .workload import Metrics, Workload

logger = logging.getLogger(__name__)

PROBE_INPUTS = 32  # inputs for the per-layer sensitivity measure
# At most this share of the quantized layers may stay in float: beyond it the model is mostly FP32, slower to set
# up than FP32 and barely faster, and "INT8" would be a misleading name for it.
MAX_FLOAT_SHARE = 0.5


@dataclass(frozen=True)
class Gate:
    max_drop: float  # points of accuracy (and of 1-NED) with labels; points of disagreement with FP32 without
    labelled: bool

    def drops(self, fp32: Metrics, candidate: Metrics) -> dict:
        if self.labelled:
            return {"accuracy": fp32.accuracy - candidate.accuracy, "norm_edit": fp32.norm_edit - candidate.norm_edit}
        return {"agreement": 100.0 - candidate.agreement}

    def holds(self, fp32: Metrics, candidate: Metrics) -> bool:
        return all(drop <= self.max_drop + 1e-9 for drop in self.drops(fp32, candidate).values())

    def describe(self) -> str:
        return (f"accuracy and 1-NED on labelled data within {self.max_drop} points of FP32" if self.labelled else
                f"the same output as FP32 on at least {100 - self.max_drop}% of the validation items")


@dataclass
class Attempt:
    float_layers: List[str]
    metrics: Metrics
    passed: bool

    def to_dict(self) -> dict:
        return {"float_layers": len(self.float_layers), "metrics": self.metrics.to_dict(), "passed": self.passed}


@dataclass
class SearchResult:
    fp32: Metrics
    gate: Gate
    layers: int  # quantized layers in the full INT8 model
    attempts: List[Attempt] = field(default_factory=list)
    chosen: Optional[Attempt] = None
    model: object = None  # the chosen quantized model (the quantizer's type)
    ranking: List[tuple] = field(default_factory=list)
    timing: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)


def _outputs(run: Callable, inputs: Sequence[np.ndarray]) -> List[np.ndarray]:
    return [run(x) for x in inputs]


def search(quantizer, workload: Workload, max_drop: float,
           progress: Callable[[str], None] = lambda message: None) -> SearchResult:
    gate = Gate(max_drop, workload.labelled)
    started = time.perf_counter()
    fp32_run = quantizer.fp32_runner()
    reference = _outputs(fp32_run, workload.validation)
    fp32 = workload.judge(reference, reference)
    progress(f"FP32: {_describe(fp32)}")

    quantized = quantizer.quantize(workload.calibration)
    seconds = {"calibration": round(time.perf_counter() - started, 1)}
    layers = quantizer.layers(quantized)
    result = SearchResult(fp32, gate, len(layers), seconds=seconds)

    def attempt(float_layers: List[str]) -> Attempt:
        members = [q for layer in float_layers for q in layers[layer]]
        model = quantizer.with_float(quantized, members) if members else quantized
        metrics = workload.judge(_outputs(quantizer.runner(model), workload.reduced_validation), reference)
        tried = Attempt(list(float_layers), metrics, gate.holds(fp32, metrics))
        result.attempts.append(tried)
        progress(f"INT8 with {len(float_layers)} of {len(layers)} layers in float: {_describe(metrics)}"
                 f" -> {'holds' if tried.passed else 'fails'} the gate")
        if tried.passed:
            result.model = model
        return tried

    chosen = attempt([])
    if not chosen.passed:
        step = time.perf_counter()
        probe_index = np.linspace(0, len(workload.validation) - 1, min(PROBE_INPUTS, len(workload.validation)))
        probe = [workload.reduced_validation[int(i)] for i in probe_index]
        probe_reference = [fp32_run(x) for x in probe]  # the same shapes as the candidate's outputs
        result.ranking = rank_layers(quantizer, quantized, layers, probe, probe_reference)
        seconds["sensitivity"] = round(time.perf_counter() - step, 1)
        progress("most sensitive layers: " + ", ".join(f"{name} {score:.3f}" for name, score in result.ranking[:5]))
        ranked = [name for name, _ in result.ranking][:max(1, int(len(layers) * MAX_FLOAT_SHARE))]
        low, high, found = 0, 1, None
        while high <= len(ranked):
            tried = attempt(ranked[:high])
            if tried.passed:
                found = tried
                break
            low, high = high, high * 2 if high < len(ranked) else len(ranked) + 1
            if low < len(ranked) < high:
                high = len(ranked)
        if found is not None:
            while high - low > 1:  # the fewest float layers that still hold the gate
                middle = (low + high) // 2
                tried = attempt(ranked[:middle])
                if tried.passed:
                    high, found = middle, tried
                else:
                    low = middle
        chosen = found  # result.model is its model: attempts after it failed and did not replace it
    result.chosen = chosen
    if chosen is not None:
        result.timing = time_models(quantizer, quantizer.fp32_model, result.model, workload.validation,
                                    workload.reduced_validation)
        progress(f"model only, one input per call: FP32 {result.timing['fp32_ms']:.2f} ms, INT8 "
                 f"{result.timing['int8_ms']:.2f} ms ({result.timing['speedup']:.2f}x)")
    seconds["total"] = round(time.perf_counter() - started, 1)
    return result


def time_models(quantizer, fp32_model, int8_model, fp32_inputs: Sequence[np.ndarray],
                int8_inputs: Sequence[np.ndarray], rounds: int = 2) -> dict:
    """ms per input of both models (each fed as it runs), side by side: a warm-up pass each (every shape prepared
    once), then alternating timed passes (best of `rounds`)."""
    runs = {"fp32": (quantizer.runner(fp32_model), fp32_inputs), "int8": (quantizer.runner(int8_model), int8_inputs)}
    for run, inputs in runs.values():
        _outputs(run, inputs)
    best = {name: float("inf") for name in runs}
    for _ in range(rounds):
        for name, (run, inputs) in runs.items():
            start = time.perf_counter()
            _outputs(run, inputs)
            best[name] = min(best[name], (time.perf_counter() - start) * 1000 / len(inputs))
    return {"fp32_ms": round(best["fp32"], 3), "int8_ms": round(best["int8"], 3),
            "speedup": round(best["fp32"] / best["int8"], 3), "inputs": len(fp32_inputs)}


def _describe(metrics: Metrics) -> str:
    parts = []
    if metrics.accuracy is not None:
        parts.append(f"accuracy {metrics.accuracy:.2f}%, 1-NED {metrics.norm_edit:.2f}%")
    parts.append(f"agreement with FP32 {metrics.agreement:.2f}%")
    return ", ".join(parts)
