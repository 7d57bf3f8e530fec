"""PaddleOCR's recognition metric: exact-match accuracy and 1 - normalized edit distance, spaces ignored."""
from __future__ import annotations

from typing import Sequence


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insert, delete, substitute cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def accuracy(predictions: Sequence[str], labels: Sequence[str]) -> float:
    pairs = [(p.replace(" ", ""), t.replace(" ", "")) for p, t in zip(predictions, labels)]
    return sum(p == t for p, t in pairs) / max(len(pairs), 1)


def norm_edit_distance(predictions: Sequence[str], labels: Sequence[str]) -> float:
    """1 - mean(edit distance / max(len(prediction), len(label), 1)), as PaddleOCR's RecMetric reports."""
    pairs = [(p.replace(" ", ""), t.replace(" ", "")) for p, t in zip(predictions, labels)]
    total = sum(edit_distance(p, t) / max(len(p), len(t), 1) for p, t in pairs)
    return 1 - total / max(len(pairs), 1)
