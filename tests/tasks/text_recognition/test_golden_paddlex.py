"""Normal mode equals PaddleX 3.7.2 normal mode (golden files made by scripts/make_golden.py)."""
import pytest
from capabilities import HAS_PADDLE

from hpi import TextRecognition

pytestmark = pytest.mark.skipif(not HAS_PADDLE, reason="normal mode needs paddlepaddle")


@pytest.fixture(scope="module")
def normal_model(v4_paddle_dir):
    with TextRecognition(model_name="PP-OCRv4_mobile_rec", model_dir=v4_paddle_dir, device="cpu") as model:
        yield model


@pytest.mark.parametrize("batch_size", [1, 8])
def test_normal_mode_matches_paddlex(normal_model, lines, golden, batch_size):
    paths, _ = lines
    assert golden["files"] == [p.split("lines/", 1)[1] for p in paths]
    results = normal_model.predict(paths, batch_size=batch_size)
    expected = golden["results"][str(batch_size)]
    assert len(results) == len(expected) == 320
    texts_differ = [i for i, (r, e) in enumerate(zip(results, expected)) if r["rec_text"] != e["rec_text"]]
    assert texts_differ == []
    max_score_diff = max(abs(r["rec_score"] - e["rec_score"]) for r, e in zip(results, expected))
    assert max_score_diff <= 1e-5


def test_normal_mode_reproduces_paddlex_batch_padding(golden):
    """PaddleX's own batching changes some lines' text (it pads to the widest): the goldens must show it,
    or the batch-8 comparison above would not prove that normal mode batches as PaddleX does."""
    changed = sum(a["rec_text"] != b["rec_text"] for a, b in zip(golden["results"]["1"], golden["results"]["8"]))
    assert changed > 0


def test_normal_mode_runs_paddle_with_mkldnn(normal_model):
    assert normal_model.backend == "paddle"
    assert normal_model.config["run_mode"] == "mkldnn"
    assert normal_model.config["precision"] == "fp32"
