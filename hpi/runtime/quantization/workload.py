"""What a task hands the runtime to calibrate a reduced-precision model and to judge it.

The runtime knows tensors only: a task turns its data into model inputs (preprocessed exactly as its predict does,
one array per inference call, at the data's real shapes) and scores a model's outputs (for text recognition:
decoded text against labels, and against the FP32 model's text).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence

import numpy as np


@dataclass(frozen=True)
class Metrics:
    """A model's quality on the validation inputs. `accuracy` and `norm_edit` (1 - normalized edit distance) are
    against labels, in percent, None without labels; `agreement` is the share of items whose task output equals
    the FP32 model's, in percent."""

    agreement: float
    accuracy: Optional[float] = None
    norm_edit: Optional[float] = None

    def to_dict(self) -> dict:
        return {"accuracy": _round(self.accuracy), "norm_edit": _round(self.norm_edit),
                "agreement": _round(self.agreement)}


def _round(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 3)


# outputs of the candidate, outputs of the FP32 model (same order as Workload.validation) -> Metrics
Judge = Callable[[Sequence[np.ndarray], Sequence[np.ndarray]], Metrics]


@dataclass
class Workload:
    """`validation`: the inputs as the FP32 model is fed in production; `reduced_validation`: the same items as a
    reduced-precision model is fed (a task may shape them differently, e.g. pad to fewer distinct shapes), default
    the same arrays. The gate compares the FP32 model on the one with the candidate on the other: each as it runs."""

    calibration: List[np.ndarray]
    validation: List[np.ndarray]
    judge: Judge
    labelled: bool  # the validation items carry labels: the gate uses accuracy, else agreement with FP32
    description: dict = field(default_factory=dict)  # what the data is: folders, counts (for the record)
    reduced_validation: Optional[List[np.ndarray]] = None

    def __post_init__(self) -> None:
        if not self.calibration:
            raise ValueError("a workload needs calibration inputs")
        if not self.validation:
            raise ValueError("a workload needs validation inputs")
        if self.reduced_validation is None:
            self.reduced_validation = self.validation
        if len(self.reduced_validation) != len(self.validation):
            raise ValueError("reduced_validation must hold the same items as validation")

    @property
    def fingerprint(self) -> str:
        """SHA-256 over every calibration and validation input (shape and bytes) and the labelled flag."""
        digest = hashlib.sha256(b"labelled" if self.labelled else b"unlabelled")
        for name, arrays in (("calibration", self.calibration), ("validation", self.validation),
                             ("reduced_validation", self.reduced_validation)):
            digest.update(name.encode())
            for array in arrays:
                digest.update(str(array.shape).encode())
                digest.update(np.ascontiguousarray(array, dtype=np.float32).tobytes())
        return digest.hexdigest()
