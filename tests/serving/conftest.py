import contextlib

import pytest

pytest.importorskip("fastapi", reason="the 'serve' extra is not installed")
pytest.importorskip("uvicorn", reason="the 'serve' extra is not installed")

from serving_helpers import LiveServer  # noqa: E402

from hpi.serving import ServeSettings, create_app  # noqa: E402


@pytest.fixture(scope="session")
def rec_model(rec_on):
    """One real model shared by every app of the session (as one server shares it between requests): the session's
    high-performance PP-OCRv4 recognizer, the one other tests predict with too."""
    return rec_on()


@pytest.fixture(scope="session")
def tiny_model_dir(models_root):
    return models_root / "PP-OCRv6_tiny_rec"


@pytest.fixture(scope="session")
def serve(rec_model):
    """serve(**settings): a `with` block with a real server of the shared model on loopback."""
    @contextlib.contextmanager
    def start(model=None, **settings):
        with LiveServer(create_app(model or rec_model, settings=ServeSettings(**settings))) as server:
            yield server
    return start


@pytest.fixture(scope="module")
def server(serve):
    """A server with small limits, shared by a module's tests (each checks that it still answers after)."""
    with serve(max_body_mb=1, max_lines_per_request=8, max_queue_lines=64) as live:
        yield live
