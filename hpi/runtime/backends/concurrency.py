"""The three ways a backend runs calls from many threads (base.InferenceBackend picks them):

- `ContextPool`: a call borrows an execution context for itself and gives it back (contexts made on demand up to
  a limit, then reused; a caller beyond the limit waits). The default.
- `ThreadBoundContexts`: every call runs on one of the backend's own worker threads, each keeping its context for
  life, so a context never changes thread (frameworks whose execution state belongs to a thread: Paddle's oneDNN).
- `Streams`: batches submitted while others are in flight run in parallel, each on the next free stream (an engine
  with its share of the threads), one thread per stream.

None of them knows a framework: each is given the backend's hooks (make a context, run on a context or a stream).
"""
from __future__ import annotations

import contextlib
import queue
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable, Iterator, List

import numpy as np

from ...errors import HPIError

Infer = Callable[[Any, np.ndarray], np.ndarray]  # (context or stream, batch) -> output


class ContextPool:
    """Execution contexts for calls in flight: a call borrows one for itself and gives it back. Contexts are made
    on demand (outside the lock: making one can be slow) up to `limit`; beyond that a caller waits."""

    def __init__(self, create: Callable[[], Any], limit: int):
        self._create, self._limit = create, limit
        self._free: List[Any] = []
        self._made: List[Any] = []
        self._reserved = 0  # being made right now
        self._changed = threading.Condition()

    def add(self, context: Any) -> None:
        with self._changed:
            self._made.append(context)
            self._free.append(context)
            self._changed.notify()

    @contextlib.contextmanager
    def borrow(self) -> Iterator[Any]:
        with self._changed:
            while not self._free and len(self._made) + self._reserved >= self._limit:
                self._changed.wait()
            context = self._free.pop() if self._free else None
            if context is None:
                self._reserved += 1
        if context is None:
            try:
                context = self._create()
            finally:
                with self._changed:
                    self._reserved -= 1
                    self._changed.notify()
            with self._changed:
                self._made.append(context)
        try:
            yield context
        finally:
            with self._changed:
                self._free.append(context)
                self._changed.notify()

    def run(self, infer: Infer, batch: np.ndarray) -> np.ndarray:
        with self.borrow() as context:
            return infer(context, batch)

    @property
    def size(self) -> int:
        return len(self._made)

    def drain(self) -> List[Any]:
        """Every context made, for closing; the pool is empty afterwards."""
        with self._changed:
            made, self._made, self._free = self._made, [], []
        return made


class ThreadBoundContexts:
    """`limit` worker threads, each making its own context on its first call and keeping it: every call runs on
    one of them, so a context is only ever used by the thread that made it."""

    def __init__(self, create: Callable[[], Any], limit: int, thread_name: str):
        self._create = create
        self._workers = ThreadPoolExecutor(limit, thread_name_prefix=thread_name)
        self._own = threading.local()
        self._made: List[Any] = []

    def start(self) -> None:
        """Make the first context now, on a worker (its errors are the caller's load errors)."""
        self._workers.submit(self._context).result()

    def run(self, infer: Infer, batch: np.ndarray) -> np.ndarray:
        return self._workers.submit(lambda: infer(self._context(), batch)).result()

    def _context(self) -> Any:
        context = getattr(self._own, "context", None)
        if context is None:
            context = self._own.context = self._create()
            self._made.append(context)  # list.append is atomic: every context is closed with the backend
        return context

    def drain(self) -> List[Any]:
        """Stop the workers; every context made, for closing."""
        self._workers.shutdown(wait=True)
        made, self._made = self._made, []
        return made


class Streams:
    """`count` streams, each run by one thread at a time: a submitted batch waits for the next free stream.
    `run(stream, batch)` is the backend's hook; `wrap_error(batch, exc)` turns a framework's error into the one type
    callers catch; `done()` is called once per call, when its result is in (before its future is done: a done
    callback may run after result() has returned, and a lone batch submitted then would still find it in flight)."""

    def __init__(self, count: int, run: Infer, wrap_error: Callable[[np.ndarray, Exception], Exception],
                 done: Callable[[], None], thread_name: str):
        self._run, self._wrap_error, self._done = run, wrap_error, done
        self._free: "queue.SimpleQueue[int]" = queue.SimpleQueue()
        for stream in range(count):
            self._free.put(stream)
        self._pool = ThreadPoolExecutor(count, thread_name_prefix=thread_name)

    def submit(self, batch: np.ndarray) -> "Future[np.ndarray]":
        future = self._pool.submit(self._on_free_stream, batch)
        future.add_done_callback(lambda finished: finished.cancelled() and self._done())  # it never ran
        return future

    def _on_free_stream(self, batch: np.ndarray) -> np.ndarray:
        stream = self._free.get()
        try:
            return self._run(stream, batch)
        except HPIError:
            raise
        except Exception as exc:
            raise self._wrap_error(batch, exc) from exc
        finally:
            self._free.put(stream)
            self._done()

    def stop(self) -> None:
        self._pool.shutdown(wait=True)
