"""Shared test helpers (import from here, not from a conftest: there are several conftest modules)."""
from pathlib import Path

TESTS = Path(__file__).parent
REPO = TESTS.parent
DATA = TESTS / "data"


def exact_accuracy(texts, labels) -> float:
    """PaddleOCR's recognition accuracy: exact match, spaces ignored."""
    return sum(t.replace(" ", "") == l.replace(" ", "") for t, l in zip(texts, labels)) / len(labels)
