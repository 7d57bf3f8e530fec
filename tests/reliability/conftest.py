import pytest

from hpi import TextRecognition


@pytest.fixture(scope="module")
def shared_models(v4_onnx_dir, v4_paddle_dir):
    """One TextRecognition per CPU backend, loaded once for the module: the object the threads share."""
    loaded = {}

    def get(backend: str) -> TextRecognition:
        if backend not in loaded:
            if backend == "paddle":
                loaded[backend] = TextRecognition(model_dir=v4_paddle_dir, device="cpu")
            else:
                loaded[backend] = TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=True,
                                                  hpi_config={"backend": backend})
            assert loaded[backend].backend == backend
        return loaded[backend]

    yield get
    for model in loaded.values():
        model.close()
