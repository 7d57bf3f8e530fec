"""PaddleX's Topk: the k best classes of each row of the model's output (probabilities, no softmax applied),
best first, their scores rounded to 5 decimals (np.around, as PaddleX) and their label names."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from ...errors import ModelDirError


class Topk:
    def __init__(self, labels: Optional[Sequence[str]] = None):
        self.labels = [str(label) for label in labels] if labels else None

    def __call__(self, output: np.ndarray, topk: int) -> List[Tuple[List[int], List[float], List[str]]]:
        """N x C scores -> per row (class_ids, scores, label_names)."""
        if output.ndim != 2:
            raise ModelDirError(f"a classifier's output must be N x classes, got shape {output.shape}")
        if self.labels is not None and output.shape[1] > len(self.labels):
            raise ModelDirError(f"the model gives {output.shape[1]} classes, PostProcess.Topk.label_list names "
                                f"{len(self.labels)}")
        indexes = output.argsort(axis=1)[:, -topk:][:, ::-1].astype("int32")
        rows = []
        for scores, index in zip(output, indexes):
            ids = [int(i) for i in index]
            names = [self.labels[i] for i in ids] if self.labels is not None else [str(i) for i in ids]
            rows.append((ids, np.around(scores[index], decimals=5).tolist(), names))
        return rows
