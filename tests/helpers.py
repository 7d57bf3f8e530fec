"""Shared test helpers (import from here, not from a conftest: there are several conftest modules)."""
from pathlib import Path

TESTS = Path(__file__).parent
REPO = TESTS.parent
DATA = TESTS / "data"
GOLDEN = DATA / "golden"


def model_dir_or_skip(models_root: Path, name: str) -> Path:
    """models_root/name, or a skip saying how to fetch it."""
    import pytest

    path = models_root / name
    if not (path / "inference.yml").is_file():
        pytest.skip(f"test model {name} is missing in {models_root}: run `make models` (scripts/fetch_test_models.py)")
    return path


def golden_or_skip(name: str) -> dict:
    """A PaddleX golden file of tests/data/golden, or a skip saying how to make it."""
    import json

    import pytest

    path = GOLDEN / name
    if not path.is_file():
        pytest.skip(f"{path} is missing: make it with scripts/make_ocr_golden.py in the PaddleX venv")
    return json.loads(path.read_text("utf-8"))


def texts(results):
    """The recognized texts of a list of results, in order."""
    return [result["rec_text"] for result in results]
