"""Running the app under uvicorn for `hpi serve`: the port opens at once, the model loads behind it.

On SIGTERM (or Ctrl-C) uvicorn stops accepting connections, answers every request it accepted (the batcher
drains), then the process exits: 0 for SIGTERM, 130 for Ctrl-C. If the model cannot be loaded the server stops
and the load's error is raised.
"""
from __future__ import annotations

import signal
import threading
from typing import Callable

from .._deps import require
from .settings import ServeSettings


def serve(load_model: Callable[[], object], settings: ServeSettings, *, host: str = "127.0.0.1", port: int = 8080,
          log_level: str = "info", ocr=None) -> int:
    uvicorn = require("uvicorn")
    from .app import create_app

    server_box = []

    def stop_on_load_error(_exc: BaseException) -> None:
        if server_box:
            server_box[0].should_exit = True

    app = create_app(load_model=load_model, settings=settings, on_load_error=stop_on_load_error, ocr=ocr)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level.lower(), lifespan="on",
                            timeout_graceful_shutdown=None)
    server = uvicorn.Server(config)
    server_box.append(server)
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
    error = app.state.hpi.load_error
    if error is not None:
        raise error
    return 0


def _ignore(_signum, _frame) -> None:
    pass
