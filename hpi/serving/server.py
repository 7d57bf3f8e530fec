"""Running the app under uvicorn for `hpi serve`: the port opens at once, the model loads behind it.

On SIGTERM (or Ctrl-C) uvicorn stops accepting connections, closes idle ones, gives requests in progress up to
`shutdown_timeout_s` to finish (the batcher drains), then the process exits: 0 for SIGTERM, 130 for Ctrl-C. If the
model cannot be loaded the server stops and the load's error is raised.

Slow clients cannot hold the server: a request's header must arrive within `header_timeout_s` of the connection
(or of its previous response), its body within `body_timeout_s` of the header, else the connection is closed; at
most `max_connections` are open at once, more are closed as they arrive. (uvicorn alone waits forever for a
header that never completes, and ~1,000 such sockets ran the process out of file descriptors.)
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Callable, Optional

from .._deps import require
from .settings import ServeSettings

logger = logging.getLogger("hpi.serving")


def serve(load_model: Callable[[], object], settings: ServeSettings, *, host: str = "127.0.0.1", port: int = 8080,
          log_level: str = "info", ocr=None) -> int:
    uvicorn = require("uvicorn")
    from .app import create_app

    server_box = []

    def stop_on_load_error(_exc: BaseException) -> None:
        if server_box:
            server_box[0].should_exit = True

    app = create_app(load_model=load_model, settings=settings, on_load_error=stop_on_load_error, ocr=ocr)
    server = uvicorn.Server(uvicorn_config(app, settings, host=host, port=port, log_level=log_level))
    server_box.append(server)
    _allow_descriptors(settings.max_connections)
    # uvicorn re-raises the signal it shut down for once it is done; a SIGTERM handler of our own makes that
    # re-raise a no-op, so a graceful stop exits 0 (SIGINT keeps its KeyboardInterrupt: exit 130).
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _ignore)
    try:
        server.run()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    error = app.state.context.models.load_error
    if error is not None:
        raise error
    return 0


def uvicorn_config(app, settings: ServeSettings, *, host: str = "127.0.0.1", port: int = 8080,
                   log_level: str = "info"):
    """uvicorn's configuration for `app` under `settings`' connection limits and time limits."""
    import uvicorn

    return uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(), lifespan="on",
                          http=guarded_protocol(settings), timeout_graceful_shutdown=settings.shutdown_timeout_s)


def guarded_protocol(settings: ServeSettings):
    """uvicorn's HTTP protocol class (httptools where installed, else h11) with the header and body deadlines and
    the connection cap of `settings`."""
    try:
        import httptools  # noqa: F401  (uvicorn's own choice for http="auto")
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Protocol
    except ImportError:
        from uvicorn.protocols.http.h11_impl import H11Protocol as Protocol

    refusals = _Refusals()

    class GuardedProtocol(Protocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self._deadline: Optional[object] = None
            self._waiting_for: Optional[str] = None  # "header", "body", or None while the app has the request
            if len(self.connections) > settings.max_connections:
                refusals.note(settings.max_connections)
                transport.close()
                return
            self._arm("header")

        def data_received(self, data: bytes) -> None:
            cycle = self.cycle
            super().data_received(data)
            if self.cycle is not cycle and self.cycle is not None:  # a header is complete: now its body
                self._arm("body" if self.cycle.more_body else None)
            elif self._waiting_for == "body" and not self.cycle.more_body:
                self._arm(None)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                self._arm("header")  # the next request's

        def connection_lost(self, exc) -> None:
            self._arm(None)
            super().connection_lost(exc)

        def _arm(self, waiting_for: Optional[str]) -> None:
            """Start the deadline for what the connection now waits for (None: nothing, the app has it)."""
            if getattr(self, "_deadline", None) is not None:
                self._deadline.cancel()
            self._waiting_for, self._deadline = waiting_for, None
            if waiting_for is not None:
                seconds = settings.header_timeout_s if waiting_for == "header" else settings.body_timeout_s
                self._deadline = self.loop.call_later(seconds, self._too_slow)

        def _too_slow(self) -> None:
            self._deadline = self._waiting_for = None
            if not self.transport.is_closing():
                self.transport.close()  # a body cut short: the app's receive() says the client went away

    return GuardedProtocol


class _Refusals:
    """Connections closed for the cap, logged at most every 10 s."""

    def __init__(self):
        self.count, self.logged = 0, 0.0

    def note(self, cap: int) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.logged >= 10:
            logger.warning("%d connection(s) closed on arrival: %d are open, the limit (--max_connections)",
                           self.count, cap)
            self.count, self.logged = 0, now


def _allow_descriptors(connections: int) -> None:
    """Raise this process's open-file limit (soft, up to the hard limit) to hold `connections` sockets and its own
    files; a limit below that makes the cap unreachable and accept() fail first."""
    try:
        import resource
    except ImportError:
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 256
    if soft != resource.RLIM_INFINITY and soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < wanted:
            logger.warning("open-file limit %d (hard) is below --max_connections %d + 256", hard, connections)


def _ignore(_signum, _frame) -> None:
    pass
