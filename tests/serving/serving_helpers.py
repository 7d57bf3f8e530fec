"""A real uvicorn server on loopback, in a thread (for the app of a test) or a process (for `hpi serve`)."""
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from helpers import REPO


def b64(data) -> str:
    """base64 of bytes, or of the file at a path."""
    if isinstance(data, (str, Path)):
        data = Path(data).read_bytes()
    return base64.b64encode(data).decode("ascii")


class LiveServer:
    """uvicorn serving `app` on a free loopback port, in a thread, for the length of a `with` block."""

    def __init__(self, app):
        import uvicorn

        from hpi.serving.server import uvicorn_config

        self.app = app
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn_config(app, app.state.settings, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()


def post(url: str, body, timeout: float = 60, raw: bool = False):
    """(status, parsed JSON) of a POST with a JSON body (or raw bytes), as curl would send it."""
    data = body if raw else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    return _open(request, timeout)


def get(url: str, timeout: float = 30):
    """(status, body text) of a GET."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8")


def _open(request, timeout):
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServeProcess:
    """`python -m hpi serve ARGS --port P` as a child process; waits until /ready says 200."""

    def __init__(self, *args: str, ready_timeout: float = 60):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen([sys.executable, "-m", "hpi", "--log_level", "WARNING", "serve", *args,
                                         "--port", str(self.port)], cwd=REPO, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + ready_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"hpi serve exited {self.process.returncode}: {self.process.stderr.read()}")
            try:
                if get(self.url + "/ready", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("hpi serve did not become ready")
            time.sleep(0.1)

    def terminate(self) -> None:
        self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30):
        """SIGTERM, then (exit status, stderr)."""
        if self.process.poll() is None:
            self.terminate()
        try:
            _, stderr = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, stderr = self.process.communicate()
        return self.process.returncode, stderr


def ocr_server(dirs, ready_timeout: float = 60) -> ServeProcess:
    """`hpi serve --pipeline OCR` of `dirs` (option name -> model dir), high-performance mode on the CPU."""
    flags = [part for name, path in dirs.items() for part in (f"--{name}", str(path))]
    return ServeProcess("--pipeline", "OCR", *flags, "--use_hpip", "--device", "cpu", ready_timeout=ready_timeout)


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text (0 when absent)."""
    import re

    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    pattern = "^" + re.escape(name + (f"{{{wanted}}}" if wanted else "")) + r" (\S+)$"
    match = re.search(pattern, text, re.M)
    return float(match.group(1)) if match else 0.0
