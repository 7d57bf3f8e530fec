"""Fast per-layer sensitivity measures: which quantized layers to keep in float first.

`noise` (quantizers that expose `quantization_noise`, OpenVINO's): each quantizer's relative noise
||q(x) - x||^2 / ||x||^2 on the FP32 values it sees (weights as stored, activations from one FP32 pass over a
probe set); a layer scores its noisiest quantizer. One compilation and one pass in all: seconds.

`isolated` (any quantizer): for each layer, the quantized graph keeps only that layer's quantizers (the rest runs
in float) and runs the probe set; the score is the mean total-variation distance between its output
distributions and the FP32 model's (half the L1 distance per output step, averaged: 0 the same, 1 disjoint). It
sees how the network amplifies each layer's noise, at one compilation per layer (minutes for ~50 layers on 2 cores).

Both replace an accuracy-controlled search that re-evaluates the whole validation set at each of its steps (NNCF's
took 17 minutes on this model without converging).
"""
from __future__ import annotations

import logging
from typing import Dict, List, Sequence

import numpy as np

logger = logging.getLogger(__name__)


def output_distance(output: np.ndarray, reference: np.ndarray) -> float:
    """Mean total-variation distance over the last axis (class probabilities per step)."""
    return float(0.5 * np.abs(output - reference).sum(axis=-1).mean())


def rank_layers(quantizer, quantized, layers: Dict[str, List[str]], probe: Sequence[np.ndarray],
                probe_reference: Sequence[np.ndarray]) -> List[tuple]:
    """[(layer, score)], most sensitive first: `noise` where the quantizer can measure it, else `isolated`."""
    if hasattr(quantizer, "quantization_noise"):
        noise = quantizer.quantization_noise(quantized, probe)
        scores = [(layer, max((noise.get(q, 0.0) for q in members), default=0.0)) for layer, members in layers.items()]
        return sorted(scores, key=lambda item: -item[1])
    return rank_isolated(quantizer, quantized, layers, probe, probe_reference)


def rank_isolated(quantizer, quantized, layers: Dict[str, List[str]], probe: Sequence[np.ndarray],
                  probe_reference: Sequence[np.ndarray]) -> List[tuple]:
    every = sorted({q for members in layers.values() for q in members})
    scores = []
    for layer, members in layers.items():
        keep = set(members)
        run = quantizer.runner(quantizer.with_float(quantized, [q for q in every if q not in keep]))
        score = float(np.mean([output_distance(run(x), ref) for x, ref in zip(probe, probe_reference)]))
        scores.append((layer, score))
    scores.sort(key=lambda item: -item[1])
    logger.debug("layer sensitivity: %s", scores[:10])
    return scores
