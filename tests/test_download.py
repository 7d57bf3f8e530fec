"""Official model download against a local HTTP server on loopback, with a real model archive."""
import http.server
import io
import os
import signal
import stat
import subprocess
import sys
import tarfile
import threading
import time

import pytest
from capabilities import HAS_PADDLE

from hpi import TextRecognition
from hpi.errors import ModelDownloadError
from hpi.runtime.candidates import default_candidates
from hpi.runtime.device import Device
from hpi.runtime.download import ensure_official_model, official_model_dir

NAME = "PP-OCRv4_mobile_rec"


def model_tar(model_dir, hostile=False) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for file in sorted(model_dir.iterdir()):
            tar.add(file, arcname=f"{NAME}_infer/{file.name}")
        if hostile:
            evil = tarfile.TarInfo("../evil.txt")
            evil.size = 4
            tar.addfile(evil, io.BytesIO(b"evil"))
    return buffer.getvalue()


class ModelServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, archives):
        self.archives, self.requests = archives, []
        super().__init__(("127.0.0.1", 0), Handler)

    def url(self, case):
        return f"http://127.0.0.1:{self.server_port}/{case}"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        case = self.path.strip("/").split("/")[0]
        self.server.requests.append(self.path)
        if case == "hang":
            time.sleep(3)
        body = self.server.archives.get(case)
        if body is None or not self.path.endswith(f"/{NAME}_infer.tar"):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if case == "cut":  # the connection drops halfway through
            self.wfile.write(body[: len(body) // 2])
            return
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server(v4_paddle_dir):
    good = model_tar(v4_paddle_dir)
    archives = {"good": good, "cut": good, "hang": good, "damaged": good[: len(good) // 2],
                "hostile": model_tar(v4_paddle_dir, hostile=True)}
    server = ModelServer(archives)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PADDLE_PDX_CACHE_HOME", str(tmp_path / "paddlex"))
    monkeypatch.setenv("HPI_MODEL_SOURCES", "mirror")
    monkeypatch.setenv("HPI_DOWNLOAD_TIMEOUT", "1")
    return tmp_path / "paddlex" / "official_models"


def use_mirror(monkeypatch, server, case):
    monkeypatch.setenv("HPI_MODEL_MIRROR", server.url(case))


@pytest.mark.skipif(not HAS_PADDLE, reason="the official archive is a Paddle model: normal mode runs it")
def test_first_use_downloads_once_then_reuses(server, cache, monkeypatch, samples_dir):
    use_mirror(monkeypatch, server, "good")
    before = len(server.requests)
    model = TextRecognition(model_name=NAME, device="cpu")
    assert model.model_dir.path == official_model_dir(NAME)
    assert model.predict(str(samples_dir / "hello_world.png"))[0]["rec_text"] == "Hello World 2026"
    TextRecognition(model_name=NAME, device="cpu")
    assert len(server.requests) - before == 1
    assert sorted(p.name for p in cache.iterdir()) == [f".{NAME}.lock", NAME]


def test_concurrent_callers_download_once(server, cache, monkeypatch):
    use_mirror(monkeypatch, server, "good")
    before = len(server.requests)
    results = []
    threads = [threading.Thread(target=lambda: results.append(ensure_official_model(NAME, progress=False)))
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 3 and len(set(results)) == 1
    assert len(server.requests) - before == 1


@pytest.mark.parametrize("case, message", [
    ("cut", "connection cut"),
    ("damaged", "damaged or not a tar file"),
    ("missing", "HTTP Error 404"),
    ("hang", "timed out"),
    ("hostile", "outside its folder"),
])
def test_failures_are_clear_and_leave_the_cache_clean(server, cache, monkeypatch, case, message):
    use_mirror(monkeypatch, server, case)
    with pytest.raises(ModelDownloadError) as error:
        ensure_official_model(NAME, progress=False)
    text = str(error.value)
    assert message in text and server.url(case) in text and "HPI_MODEL_MIRROR" in text
    assert [p.name for p in cache.iterdir()] == [f".{NAME}.lock"]  # no partial model, no temp folder
    assert not (cache.parent / "evil.txt").exists()
    use_mirror(monkeypatch, server, "good")  # a later call starts clean and succeeds
    assert (ensure_official_model(NAME, progress=False) / "inference.yml").is_file()


def start_download_process():
    code = "from hpi.runtime.download import ensure_official_model; ensure_official_model(%r, progress=False)" % NAME
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, proc, timeout=60):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_download_leaves_no_staging_folder_behind(server, cache, monkeypatch, signum):
    use_mirror(monkeypatch, server, "hang")  # the server waits 3 s before the archive
    monkeypatch.setenv("HPI_DOWNLOAD_TIMEOUT", "30")
    proc = start_download_process()
    staging = lambda: [p.name for p in cache.glob(f".{NAME}.download-*")]  # noqa: E731
    wait_for(lambda: cache.is_dir() and staging(), proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signum, err
    if signum == signal.SIGTERM:  # removed on the way out, then ended by SIGTERM itself
        assert sorted(p.name for p in cache.iterdir()) == [f".{NAME}.lock"]
        return
    assert len(staging()) == 1  # SIGKILL: nothing can run; the next download of this model removes it
    (cache / f".{NAME}.download-k2j3h4g5").mkdir()  # the form older versions (mkdtemp) gave it
    (cache / ".other_model.download-0123456789ab").mkdir()  # another model's: its own lock, maybe at work
    use_mirror(monkeypatch, server, "good")
    ensure_official_model(NAME, progress=False)
    assert {p.name for p in cache.iterdir()} == {f".{NAME}.lock", NAME, ".other_model.download-0123456789ab"}


@pytest.mark.parametrize("umask", [0o077, 0o002])
def test_the_downloaded_model_follows_the_umask(server, cache, monkeypatch, umask):
    use_mirror(monkeypatch, server, "good")
    previous = os.umask(umask)  # whatever modes the archive holds
    try:
        model_dir = ensure_official_model(NAME, progress=False)
    finally:
        os.umask(previous)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [model_dir, *model_dir.iterdir()]}
    assert modes == {NAME: 0o777 & ~umask, **{p.name: 0o666 & ~umask for p in model_dir.iterdir()}}


def test_offline_error_lists_every_source(cache, monkeypatch):
    monkeypatch.setenv("HPI_MODEL_MIRROR", "http://127.0.0.1:9/unreachable")
    monkeypatch.setenv("HPI_MODEL_SOURCES", "mirror")
    with pytest.raises(ModelDownloadError, match="Sources tried:\n  - mirror \\(http://127.0.0.1:9/unreachable"):
        ensure_official_model(NAME, progress=False)


@pytest.mark.skipif(not HAS_PADDLE, reason="conversion needs the 'paddle' extra")
def test_downloaded_model_is_converted_once_under_use_hpip(server, cache, monkeypatch, samples_dir, caplog):
    import logging

    use_mirror(monkeypatch, server, "good")
    with caplog.at_level(logging.INFO, logger="hpi"):
        model = TextRecognition(model_name=NAME, device="cpu", use_hpip=True)
    first = default_candidates(NAME, Device("cpu"))[0].backend  # this CPU class's plan: an ONNX backend first
    assert model.backend == first and first in ("onnxruntime", "openvino") and "converting" in caplog.text
    assert (official_model_dir(NAME) / "inference.onnx").is_file()
    caplog.clear()
    requests = len(server.requests)
    with caplog.at_level(logging.INFO, logger="hpi"):
        again = TextRecognition(model_name=NAME, device="cpu", use_hpip=True)
    assert "converting" not in caplog.text and len(server.requests) == requests
    assert again.predict(str(samples_dir / "hello_world.png"))[0]["rec_text"] == "Hello World 2026"
