"""PDF pages rendered by pdfium in separate processes, each page within a time and a memory limit.

pdfium is not thread-safe, and a page cannot be interrupted once pdfium parses or draws it: a 60 KB page whose
content stream inflates to 20 MB of drawing operators took 18 s of CPU, 294 KB took 90 s and 1.37 GB, and threads
calling pdfium at once crashed the process. So pdfium runs only in render processes (_pdf_render_process.py), each
serving one request at a time: a page that takes longer than its time limit, or whose caller gives up (a client
that went away), has its process killed; a render beyond the memory limit ends its process; either way the page
fails with an InputError naming it, and the next request starts a new process (documents open in the old one are
opened again from their bytes). Rendering is the same pdfium call, at the same scale, as in-process.

Limits: HPI_PDF_PAGE_TIMEOUT_S (seconds per page, default 30; the caller may give its own), HPI_PDF_MEMORY_MB
(a render process's memory beyond its own start-up, default 1024; 0: no limit; Linux only).
"""
from __future__ import annotations

import itertools
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Optional, Tuple

import numpy as np

from . import _pdf_render_process as protocol
from .errors import ConfigError

PAGE_TIMEOUT_ENV, MEMORY_ENV = "HPI_PDF_PAGE_TIMEOUT_S", "HPI_PDF_MEMORY_MB"
DEFAULT_PAGE_TIMEOUT_S = 30.0
DEFAULT_MEMORY_MB = 1024
PROCESSES = max(1, min(4, os.cpu_count() or 1))  # documents are spread over this many render processes
_POLL_S = 0.05  # how often a waiting caller checks whether it gave up
_SCRIPT = str(Path(protocol.__file__).resolve())
# The script runs without importing hpi (0.3 s of OpenCV and numpy) and without its own folder or the working
# directory on sys.path (hpi's modules there would shadow others); the user's site and PYTHONPATH stay, where
# pypdfium2 may be installed.
_LAUNCH = "import runpy, sys; sys.path.pop(0); sys.argv.pop(0); runpy.run_path(sys.argv[0], run_name='__main__')"


_ended = [0]  # render processes ended by a page (time limit, caller gone, memory, crash), for tests and metrics


def ended_processes() -> int:
    """How many render processes a page has ended so far in this process (each is started again when needed)."""
    return _ended[0]


class RenderError(Exception):
    """A page or document could not be rendered; the message says why (the caller names the input)."""


Cancelled = Optional[Callable[[], bool]]


def page_timeout_s() -> float:
    return _env_number(PAGE_TIMEOUT_ENV, DEFAULT_PAGE_TIMEOUT_S, lambda value: value > 0, "a number of seconds > 0")


def _memory_mb() -> int:
    return int(_env_number(MEMORY_ENV, DEFAULT_MEMORY_MB, lambda value: value >= 0 and value.is_integer(),
                           "a whole number of megabytes (0: no limit)"))


def _env_number(name: str, default: float, ok: Callable[[float], bool], expected: str) -> float:
    given = os.environ.get(name, "").strip()
    if not given:
        return default
    try:
        value = float(given)
    except ValueError:
        value = float("nan")
    if not ok(value):  # NaN fails every check
        raise ConfigError(f"environment variable {name} must be {expected}, got {given!r}")
    return value


class _RenderProcess:
    """One render process, started when first needed and again after it was killed or died. One request at a time."""

    def __init__(self):
        self.lock = threading.Lock()
        self.generation = 0  # documents opened in an earlier process are opened again
        self._popen: Optional[subprocess.Popen] = None
        self._answers: "queue.Queue[Optional[Tuple[int, bytearray]]]" = queue.Queue()
        self._pid = 0

    def call(self, kind: int, payload: bytes, timeout_s: float, cancelled: Cancelled) -> Tuple[int, bytearray]:
        """Send a request and wait for its answer (lock held by the caller, the process started)."""
        try:
            self._popen.stdin.write(protocol.HEADER.pack(kind, len(payload)) + payload)
            self._popen.stdin.flush()
        except OSError:
            self._stop()
            raise RenderError("the PDF render process ended unexpectedly") from None
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                answer = self._answers.get(timeout=min(_POLL_S, max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                if cancelled is not None and cancelled():
                    self._stop()
                    raise RenderError("was cancelled: its caller gave up (a client that went away)") from None
                if time.monotonic() >= deadline:
                    self._stop()
                    raise RenderError(f"took longer than {timeout_s:g} s, the limit per page (environment variable "
                                      f"{PAGE_TIMEOUT_ENV}; hpi serve: --pdf_page_timeout_s)") from None
                continue
            if answer is None:  # the process died: beyond its memory limit, or pdfium crashed
                self._stop()
                raise RenderError(f"ended its render process (beyond its memory limit of {_memory_mb()} MB, "
                                  f"environment variable {MEMORY_ENV}; or a crash in pdfium)")
            if answer[0] == protocol.ERROR:
                raise RenderError(json.loads(bytes(answer[1]))["message"])
            return answer

    @property
    def running(self) -> bool:
        return self._popen is not None and self._pid == os.getpid()

    def ensure_started(self) -> None:
        if self._popen is not None and self._pid == os.getpid() and self._popen.poll() is None:
            return
        if self._pid == os.getpid():
            self._stop()
        # else a forked child inherited the parent's process: never write to its pipes, start our own
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        self._popen = subprocess.Popen([sys.executable, "-c", _LAUNCH, _SCRIPT, str(_memory_mb() * 1024 * 1024)],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, close_fds=True)
        self._pid = os.getpid()
        self.generation += 1
        self._answers = queue.Queue()
        threading.Thread(target=_read_answers, args=(self._popen.stdout, self._answers), name="hpi-pdf-answers",
                         daemon=True).start()

    def _stop(self) -> None:
        popen, self._popen = self._popen, None
        if popen is not None and self._pid == os.getpid():
            _ended[0] += 1
            popen.kill()
            popen.wait()
            popen.stdin.close()


def _read_answers(stream, answers: "queue.Queue") -> None:
    try:
        while True:
            header = _read_exactly(stream, protocol.HEADER.size)
            if header is None:
                break
            kind, length = protocol.HEADER.unpack(header)
            payload = _read_exactly(stream, length)
            if payload is None:
                break
            answers.put((kind, payload))
    finally:
        answers.put(None)
        stream.close()


def _read_exactly(stream, size: int) -> Optional[bytearray]:
    buffer = bytearray(size)
    view, done = memoryview(buffer), 0
    while done < size:
        count = stream.readinto(view[done:])
        if not count:
            return None
        done += count
    return buffer


_processes = [_RenderProcess() for _ in range(PROCESSES)]
_turn = itertools.count()


class PdfDocument:
    """A PDF open in a render process: its page count, page sizes, and pages rendered as BGR images. Safe to use
    from any thread. `close()` when done (the bytes are held until then, to open it again after a restart)."""

    def __init__(self, data: bytes, timeout_s: Optional[float] = None, cancelled: Cancelled = None):
        self._data = data
        self._process = _processes[next(_turn) % len(_processes)]
        self._id: Optional[int] = None
        self._generation = -1
        with self._process.lock:
            self.pages = self._open(timeout_s, cancelled)

    def page_size(self, index: int) -> Tuple[float, float]:
        """(width, height) of page `index` in points, read without parsing the page."""
        size = json.loads(bytes(self._call(protocol.SIZE, {"page": index}, None, None)[1]))
        return size["width"], size["height"]

    def render(self, index: int, scale: float, max_pixels: Optional[int], timeout_s: Optional[float] = None,
               cancelled: Cancelled = None) -> np.ndarray:
        request = {"page": index, "scale": scale, "max_pixels": max_pixels or 0}
        payload = self._call(protocol.RENDER, request, timeout_s, cancelled)[1]
        width, height, stride, channels = protocol.PIXEL_HEADER.unpack_from(payload)
        rows = np.frombuffer(payload, np.uint8, stride * height, protocol.PIXEL_HEADER.size).reshape(height, stride)
        image = rows[:, :width * channels].reshape(height, width, channels)
        return image if stride == width * channels else np.ascontiguousarray(image)

    def close(self) -> None:
        with self._process.lock:
            if self._id is not None and self._generation == self._process.generation and self._process.running:
                try:
                    self._process.call(protocol.CLOSE, json.dumps({"document": self._id}).encode(), 5.0, None)
                except RenderError:
                    pass  # the process is gone, and the document with it
            self._id, self._data = None, b""

    def _call(self, kind: int, request: dict, timeout_s: Optional[float], cancelled: Cancelled):
        with self._process.lock:
            self._process.ensure_started()
            if self._generation != self._process.generation:
                self._open(timeout_s, cancelled)
            payload = json.dumps({**request, "document": self._id}).encode()
            return self._process.call(kind, payload, _timeout(timeout_s), cancelled)

    def _open(self, timeout_s: Optional[float], cancelled: Cancelled) -> int:
        if not self._data:
            raise RenderError("is closed")
        self._process.ensure_started()
        answer = json.loads(bytes(self._process.call(protocol.OPEN, self._data, _timeout(timeout_s), cancelled)[1]))
        self._id, self._generation = answer["document"], self._process.generation
        return answer["pages"]


def _timeout(timeout_s: Optional[float]) -> float:
    return page_timeout_s() if timeout_s is None else timeout_s
