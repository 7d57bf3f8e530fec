import pytest


@pytest.fixture(scope="module")
def shared_models(rec_on):
    """One TextRecognition per CPU backend, the session's: the object the threads share."""
    def get(backend: str):
        model = rec_on(backend)
        assert model.backend == backend
        return model
    return get
