"""What every endpoint of one app shares: its settings, metrics, model, pixel pool and OCR pipeline, made once by
`create_app` and handed to the endpoints by FastAPI dependencies (routes/deps.py). No fastapi here."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Awaitable, Callable, List, Optional

from .metrics import ServingMetrics
from .payload import PixelPool
from .settings import ServeSettings
from .state import ModelState

if TYPE_CHECKING:
    import numpy as np

    from .batcher import LineResult
    from .ocr import OCRService

Recognize = Callable[[List["np.ndarray"]], Awaitable[List["LineResult"]]]


@dataclass
class ServingContext:
    """`recognize(images)`: one result per image, in order (the server's batcher, or a Ray Serve replica's own
    batching). `external`: the model is the caller's (a replica's), ready from the start; else `models` loads or
    holds it and the app's lifespan starts and stops it. `ocr`: the pipeline /ocr runs, if served."""

    settings: ServeSettings
    metrics: ServingMetrics
    models: ModelState
    pixels: PixelPool
    recognize: Recognize
    external: bool
    ocr: Optional["OCRService"] = None
    _pipelines_running: Optional[asyncio.Semaphore] = field(default=None, repr=False)

    @classmethod
    def make(cls, settings: ServeSettings, metrics: ServingMetrics, recognize: Optional[Recognize],
             ocr: Optional["OCRService"]) -> "ServingContext":
        """With `recognize` None: lines go to the batcher `models` starts once the model is loaded."""
        models = ModelState(settings, metrics)
        external = recognize is not None
        if recognize is None:
            async def recognize(images):
                return await asyncio.wrap_future(models.batcher.submit(images))
        else:
            metrics.ready.set(1)
        return cls(settings, metrics, models, PixelPool(settings.max_pixels_in_flight), recognize, external, ocr)

    @property
    def ready(self) -> bool:
        return self.external or self.models.ready

    def not_ready(self) -> Optional[str]:
        """Why requests cannot be answered yet, or None."""
        if self.ready:
            return None
        if self.models.load_error is not None:
            return f"the model could not be loaded: {self.models.load_error}"
        return "the model is still loading"

    def pipelines_running(self) -> asyncio.Semaphore:
        """At most batch_workers OCR pipelines at once (made on first use, in the server's event loop)."""
        if self._pipelines_running is None:
            self._pipelines_running = asyncio.Semaphore(self.settings.batch_workers)
        return self._pipelines_running
