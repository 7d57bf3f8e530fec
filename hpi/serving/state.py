"""The model's life in a server: loaded (in the background, so that /health answers meanwhile), served through
a Batcher once ready, and on shutdown the batcher drained before a model the server loaded itself is closed."""
from __future__ import annotations

import logging
import threading
from typing import Callable, Optional

from .batcher import Batcher
from .metrics import ServingMetrics
from .settings import ServeSettings

logger = logging.getLogger("hpi.serving")


class ModelState:
    def __init__(self, settings: ServeSettings, metrics: ServingMetrics):
        self.settings, self.metrics = settings, metrics
        self.batcher: Optional[Batcher] = None
        self.load_error: Optional[BaseException] = None
        self._model = None
        self._owned = False  # a model this server loaded is closed by it; one handed in is its caller's
        self._stopped = False
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self.batcher is not None

    def open(self) -> None:
        """A new life (server startup): not ready until a model is started."""
        with self._lock:
            self._stopped, self.batcher, self._model, self.load_error = False, None, None, None

    def start(self, model, owned: bool = False) -> None:
        with self._lock:
            if self._stopped:  # shut down while the model loaded
                if owned:
                    model.close()
                return
            self._model, self._owned = model, owned
            s = self.settings
            self.batcher = Batcher(model, batch_size=s.batch_size, wait_ms=s.batch_wait_ms,
                                   max_batch_lines=s.max_batch_lines, max_queue_lines=s.max_queue_lines,
                                   workers=s.batch_workers, metrics=self.metrics)
            self.metrics.ready.set(1)
        logger.info("ready: %s on %s", getattr(model, "model_name", "model"), getattr(model, "backend", "?"))

    def load_in_background(self, load: Callable[[], object],
                           on_error: Optional[Callable[[BaseException], None]] = None) -> None:
        def run():
            try:
                model = load()
            except BaseException as exc:  # the server stays up, not ready; /ready says why
                self.load_error = exc
                logger.error("the model could not be loaded: %s", exc)
                if on_error is not None:
                    on_error(exc)
                return
            self.start(model, owned=True)

        threading.Thread(target=run, name="hpi-model-load", daemon=True).start()

    def stop(self) -> None:
        """Answer every accepted request, then release the model (called once the server takes no requests)."""
        with self._lock:
            self._stopped = True
            batcher, model, owned = self.batcher, self._model, self._owned
        if batcher is not None:
            batcher.close()
        self.metrics.ready.set(0)
        if owned and model is not None:
            model.close()
