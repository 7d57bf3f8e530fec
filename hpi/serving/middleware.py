"""ASGI middleware: request metrics around everything, and the request body limit.

The body limit is checked on Content-Length (refused before reading) and again while reading (a chunked body, or
a Content-Length that lies), so at most `max_bytes` of a body are ever held. The body read here is handed on to
the app unchanged (and kept in the scope, for the logId of an error response).
"""
from __future__ import annotations

import asyncio
import contextlib
import re
import threading
import time
from typing import AsyncIterator, Callable, Iterable

from .envelope import encode, failure, new_log_id
from .metrics import ServingMetrics

BODY_KEY = "hpi.body"
# Nesting the JSON parser is spared: ours nests 3 deep, and 100,000 nested brackets made Python's parser raise
# RecursionError, a plain-text 500 outside the envelope with three tracebacks in the log
MAX_JSON_DEPTH = 32
# After a request body this large, freed memory is handed back to the system: a 20 MB body of base64 lines left
# ~40 MB of freed heap (its JSON, strings, decoded bytes) in the process for good; glibc's malloc_trim returns it
TRIM_AFTER_BYTES = 1 << 20
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(rb"[\[\]{}]")
DRAIN_BYTES = 16 * 1024 * 1024  # beyond this much of a refused body, the connection is closed on the client


class MetricsMiddleware:
    def __init__(self, app, metrics: ServingMetrics, endpoints: Iterable[str]):
        self.app, self.metrics, self.endpoints = app, metrics, frozenset(endpoints)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = [500]  # if the app fails before it answers

        async def send_and_note(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            path = scope.get("path", "")
            endpoint = path if path in self.endpoints else "other"  # unknown paths share one label
            self.metrics.observe_request(endpoint, status[0], time.perf_counter() - started)


class BodyLimitMiddleware:
    def __init__(self, app, max_bytes: int, describe_limit: Callable[[int], str]):
        self.app, self.max_bytes, self.describe_limit = app, max_bytes, describe_limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            if not length.strip().isdigit():
                return await _reply(send, 400, f"invalid Content-Length {length[:40]!r}")
            if int(length) > self.max_bytes:
                await self._drain(receive, 0)
                return await _reply(send, 413, self.describe_limit(int(length)))
        chunks, total = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                await self._drain(receive, 0 if message.get("more_body", False) else None)
                return await _reply(send, 413, self.describe_limit(total))
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if _brackets(body) > MAX_JSON_DEPTH and \
                await asyncio.get_running_loop().run_in_executor(None, json_depth, body) > MAX_JSON_DEPTH:
            return await _reply(send, 422, f"invalid request: the body nests JSON more than {MAX_JSON_DEPTH} levels "
                                           "deep")
        scope[BODY_KEY] = body
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # later calls: wait for the disconnect, as the server would

        try:
            await self.app(scope, replay, send)
        finally:
            if len(body) >= TRIM_AFTER_BYTES:
                await asyncio.get_running_loop().run_in_executor(None, give_back_memory)

    async def _drain(self, receive, read: "int | None") -> None:
        """Read and drop the rest of a refused body, up to DRAIN_BYTES: a client that sends its whole body before
        reading the answer (most do) then gets the 413 instead of a reset connection. Nothing is kept."""
        while read is not None and read <= max(self.max_bytes, DRAIN_BYTES):
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                return
            read += len(message.get("body", b""))


def json_depth(body: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (outside its strings)."""
    depth = deepest = 0
    for bracket in _JSON_BRACKET.finditer(_JSON_STRING.sub(b"", body)):
        depth += 1 if bracket.group() in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


def give_back_memory() -> None:
    """Return the C heap's free memory to the system (glibc; elsewhere nothing happens)."""
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except Exception:  # not glibc (musl, macOS, Windows): ctypes cannot find it, or the call
        pass


def _brackets(body: bytes) -> int:
    """Opening brackets anywhere, strings too: the most the body can nest (base64 has none), counted fast."""
    return body.count(b"[") + body.count(b"{")


async def _reply(send, status: int, message: str) -> None:
    body = encode(failure(new_log_id(), status, message))
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def client_gone(receive) -> AsyncIterator[threading.Event]:
    """An event set if the client disconnects while the block runs (work in a thread checks it and stops: a PDF
    page rendering for a client that left). `receive`: the request's, once its body is read."""
    gone = threading.Event()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    task = asyncio.ensure_future(watch())
    try:
        yield gone
    finally:
        task.cancel()
