"""One TextRecognition shared by many threads: each thread gets exactly the results it gets alone.

Before the execution-context pools, normal mode handed other callers' text back (and threads died on a None
result), and OpenVINO raised "Infer Request is busy"."""
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from capabilities import HAS_OPENVINO, HAS_PADDLE
from helpers import texts

LINES_PER_THREAD = 6
# 4 threads already outnumber the execution contexts of 2 cores (callers wait for one): 8 threads, the same
# mechanism at twice the lines, are the slow tier's
THREADS = [4, pytest.param(8, marks=pytest.mark.slow)]


def _available(backend: str) -> bool:
    return {"openvino": HAS_OPENVINO, "paddle": HAS_PADDLE}.get(backend, True)


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino", "paddle"])
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("batch_size", [1, 8])
@pytest.mark.parametrize("call", ["predict", "predict_iter"])
def test_threads_get_their_own_results(shared_models, lines, backend, threads, batch_size, call):
    if not _available(backend):
        pytest.skip(f"{backend} is not installed")
    model = shared_models(backend)
    paths = lines[0]
    # Each thread its own lines (different widths and texts), in an order no other thread has.
    work = [paths[(t * 37) % len(paths):][:LINES_PER_THREAD] for t in range(threads)]
    alone = [texts(model.predict(chunk, batch_size=batch_size)) for chunk in work]
    start = threading.Barrier(threads)

    def run(chunk):
        start.wait()
        if call == "predict":
            return texts(model.predict(chunk, batch_size=batch_size))
        return texts(list(model.predict_iter(chunk, batch_size=batch_size)))

    with ThreadPoolExecutor(threads) as pool:
        together = list(pool.map(run, work))
    assert together == alone


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino", "paddle"])
def test_interleaved_generators_in_one_thread(shared_models, lines, backend):
    """Several predict_iter generators open at once, advanced in turn: windows of one never mix with another's."""
    if not _available(backend):
        pytest.skip(f"{backend} is not installed")
    model = shared_models(backend)
    paths = lines[0]
    chunks = [paths[0:24], paths[100:124][::-1], paths[200:224]]  # 3 windows of 8 each, advanced in turn
    alone = [texts(model.predict(chunk, batch_size=8)) for chunk in chunks]
    generators = [model.predict_iter(chunk, batch_size=8) for chunk in chunks]
    got = [[] for _ in chunks]
    while any(generator is not None for generator in generators):
        for index, generator in enumerate(generators):
            if generator is None:
                continue
            result = next(generator, None)
            if result is None:
                generators[index] = None
            else:
                got[index].append(result["rec_text"])
    assert got == alone


def test_threads_and_generators_together(shared_models, lines):
    """Threads that each interleave two generators, on the backend with streams (ONNX Runtime)."""
    model = shared_models("onnxruntime")
    paths = lines[0]
    work = [(paths[i:i + 16], paths[i + 160:i + 176]) for i in range(0, 64, 16)]
    alone = [(texts(model.predict(a, batch_size=8)), texts(model.predict(b, batch_size=1))) for a, b in work]

    def run(pair):
        first, second = model.predict_iter(pair[0], batch_size=8), model.predict_iter(pair[1], batch_size=1)
        out_first, out_second = [], []
        for a, b in zip(first, second):
            out_first.append(a["rec_text"])
            out_second.append(b["rec_text"])
        return out_first, out_second

    with ThreadPoolExecutor(len(work)) as pool:
        assert list(pool.map(run, work)) == alone
