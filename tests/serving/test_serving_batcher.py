"""The Batcher alone, on the real model: requests gathered into one predict call (or not, in normal mode),
results back in each request's order, the queue bound, and close() answering everything accepted."""
import cv2
import pytest

from hpi.errors import InputError
from hpi.serving.batcher import Batcher, Closed, QueueFull


class CountingModel:
    """The real model, noting the lines of each predict call; `use_hpip` as given (normal mode pads batches)."""

    def __init__(self, model, use_hpip):
        self.model, self.use_hpip, self.calls = model, use_hpip, []

    def predict(self, images, **kwargs):
        self.calls.append(len(images))
        return self.model.predict(images, **kwargs)


@pytest.fixture(scope="module")
def images(lines):
    paths = lines[0][60:66]
    return [cv2.imread(path) for path in paths]


@pytest.fixture(scope="module")
def alone(rec_model, images):
    return [rec_model.predict(image)[0]["rec_text"] for image in images]


@pytest.mark.parametrize("use_hpip, batch_size, calls", [(True, 8, [6]), (False, 8, [2, 2, 2]), (False, 1, [6])])
def test_requests_share_a_predict_call_unless_padding_would_mix_them(rec_model, images, alone, use_hpip,
                                                                     batch_size, calls):
    model = CountingModel(rec_model, use_hpip)
    batcher = Batcher(model, batch_size=batch_size, wait_ms=300, workers=1)
    try:
        futures = [batcher.submit(images[i:i + 2]) for i in (0, 2, 4)]
        texts = [[r["rec_text"] for r in future.result(60)] for future in futures]
    finally:
        batcher.close()
    assert texts == [alone[0:2], alone[2:4], alone[4:6]]
    assert model.calls == calls


def test_max_batch_lines_splits_and_wait_0_runs_each_request_alone(rec_model, images, alone):
    for settings, calls in (({"wait_ms": 300, "max_batch_lines": 4}, [4, 2]), ({"wait_ms": 0}, [2, 2, 2])):
        model = CountingModel(rec_model, True)
        batcher = Batcher(model, workers=1, **settings)
        futures = [batcher.submit(images[i:i + 2]) for i in (0, 2, 4)]
        batcher.close()  # answers everything accepted first
        assert all(future.done() for future in futures)
        assert [r["rec_text"] for f in futures for r in f.result()] == alone
        assert model.calls == calls


def test_the_queue_bound_and_closing(rec_model, images):
    batcher = Batcher(rec_model, wait_ms=2000, max_queue_lines=3, workers=1)
    first = batcher.submit(images[:3])
    with pytest.raises(QueueFull, match="queue limit of 3 lines"):
        batcher.submit(images[:1])
    assert batcher.queued_lines == 3 and batcher.metrics.queue_lines._value == 3
    batcher.close()  # does not wait for the 2 s window: closing runs what is queued at once
    assert len(first.result(0)) == 3 and batcher.queued_lines == 0
    with pytest.raises(Closed):
        batcher.submit(images[:1])


def test_a_bad_line_fails_in_its_place_only(rec_model, images, alone):
    import numpy as np

    batcher = Batcher(rec_model, wait_ms=200, workers=1)
    try:
        good = batcher.submit(images[:2])
        mixed = batcher.submit([images[2], np.zeros((0, 5, 3), np.uint8)])  # an empty array: an InputError
        assert [r["rec_text"] for r in good.result(60)] == alone[:2]
        first, second = mixed.result(60)
    finally:
        batcher.close()
    assert first["rec_text"] == alone[2] and isinstance(second, InputError)
