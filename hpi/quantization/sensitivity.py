"""A fast per-layer sensitivity measure: how far each quantized layer alone moves the model's output.

For each layer, the quantized graph keeps only that layer's quantizers (every other one removed, so the rest runs
in float) and runs a small probe set; the score is the mean total-variation distance between its output
distributions and the FP32 model's (half the L1 distance per output step, averaged over steps and inputs: 0 the
same, 1 disjoint). One compile and a few dozen inferences per layer (seconds), instead of an accuracy-controlled
search that re-evaluates the whole validation set for each of its steps.
"""
from __future__ import annotations

import logging
from typing import Callable, Dict, List, Sequence

import numpy as np

logger = logging.getLogger(__name__)


def output_distance(output: np.ndarray, reference: np.ndarray) -> float:
    """Mean total-variation distance over the last axis (class probabilities per step)."""
    return float(0.5 * np.abs(output - reference).sum(axis=-1).mean())


def rank_layers(quantizer, quantized, layers: Dict[str, List[str]], probe: Sequence[np.ndarray],
                probe_reference: Sequence[np.ndarray],
                progress: Callable[[int, int], None] = lambda done, total: None) -> List[tuple]:
    """[(layer, score)], most sensitive first."""
    every = sorted({q for members in layers.values() for q in members})
    scores = []
    for index, (layer, members) in enumerate(layers.items()):
        keep = set(members)
        run = quantizer.runner(quantizer.with_float(quantized, [q for q in every if q not in keep]))
        score = float(np.mean([output_distance(run(x), ref) for x, ref in zip(probe, probe_reference)]))
        scores.append((layer, score))
        progress(index + 1, len(layers))
    scores.sort(key=lambda item: -item[1])
    logger.debug("layer sensitivity: %s", scores[:10])
    return scores
