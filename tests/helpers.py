"""Shared test helpers (import from here, not from a conftest: there are several conftest modules)."""
from pathlib import Path

TESTS = Path(__file__).parent
REPO = TESTS.parent
DATA = TESTS / "data"



def texts(results):
    """The recognized texts of a list of results, in order."""
    return [result["rec_text"] for result in results]
