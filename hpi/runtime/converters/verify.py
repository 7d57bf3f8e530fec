"""Compare a converted ONNX model with the Paddle model it came from, on the same inputs."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

# Fixed dims come from the model; these fill its dynamic ones when inference.yml gives no shapes.
DEFAULT_SHAPES = ([1, 3, 64, 320], [2, 3, 96, 640])
MAX_VERIFY_BATCH = 2
# Verification runs Paddle and ONNX Runtime on random inputs of each shape: a detection model's declared maximum
# (1x3x4000x4000) took 90 s and 21 GB there. Each spatial side is capped at this many pixels (a multiple of 32, as
# detection needs); the conversion does not depend on the size, and min and opt are checked as declared.
MAX_VERIFY_SIDE = 1280


@dataclass
class VerificationReport:
    tolerance: float
    shapes: List[List[int]]
    max_abs_diff: List[float] = field(default_factory=list)

    @property
    def worst(self) -> float:
        return max(self.max_abs_diff, default=float("inf"))

    def __bool__(self) -> bool:
        return len(self.max_abs_diff) == len(self.shapes) > 0 and self.worst <= self.tolerance

    def to_dict(self) -> Dict:
        return {**asdict(self), "worst": self.worst, "passed": bool(self)}


def verification_shapes(model_input_shape: Sequence, dynamic_shapes: Optional[Sequence[Sequence[int]]]):
    """min/opt/max of the model dir (batch and sides capped), else DEFAULT_SHAPES with the model's fixed dims
    kept."""
    if dynamic_shapes:
        capped = [[min(s[0], MAX_VERIFY_BATCH), *s[1:2], *[min(d, MAX_VERIFY_SIDE) for d in s[2:]]]
                  for s in dynamic_shapes]
        return [shape for index, shape in enumerate(capped) if shape not in capped[:index]]
    shapes = []
    for default in DEFAULT_SHAPES:
        shape = [dim if isinstance(dim, int) and dim > 0 else default[i] for i, dim in enumerate(model_input_shape)]
        shapes.append(shape)
    return shapes


def random_input(shape: Sequence[int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1.0, 1.0, size=tuple(shape)).astype(np.float32)


def compare(run_reference, run_candidate, shapes, tolerance: float) -> VerificationReport:
    """Run both callables (ndarray -> list of ndarrays) on random inputs of each shape."""
    report = VerificationReport(tolerance=tolerance, shapes=[list(s) for s in shapes])
    for index, shape in enumerate(shapes):
        batch = random_input(shape, seed=index)
        reference, candidate = run_reference(batch), run_candidate(batch)
        if len(reference) != len(candidate):
            report.max_abs_diff.append(float("inf"))
            continue
        worst = 0.0
        for a, b in zip(reference, candidate):
            if a.shape != b.shape:
                worst = float("inf")
                break
            worst = max(worst, float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max(initial=0.0)))
        report.max_abs_diff.append(worst)
    return report
