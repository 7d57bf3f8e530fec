"""`create_app(...)`: the FastAPI application of `hpi serve`.

    POST /text-recognition   recognize `file` (an image or PDF) or `files` (crops); PaddleX's envelope
    POST /ocr                the OCR pipeline (only when served with one: `hpi serve --pipeline OCR`; ocr.py)
    GET  /health             liveness: 200 while the process serves
    GET  /ready              readiness: 503 until the model is loaded, then 200
    GET  /metrics            Prometheus text
    GET  /                   a page to try it; /docs and /openapi.json: the API

The endpoints live in routes/, one router per family, and take what they share (settings, metrics, model, pixel
pool, OCR pipeline: one ServingContext, context.py) through FastAPI dependencies (routes/deps.py). Here: the
context made, the model's life tied to the server's (lifespan), errors turned into the envelope, the routers and
middleware added. fastapi is imported when an app is made, never when hpi.serving is imported.
"""
from __future__ import annotations

import contextlib
import logging
from typing import Callable, Optional

from .._deps import require
from .context import Recognize, ServingContext
from .envelope import ServingError, failure, log_id_of, new_log_id
from .metrics import ServingMetrics
from .middleware import BODY_KEY, BodyLimitMiddleware, MetricsMiddleware
from .schemas import ENDPOINT
from .settings import ServeSettings

logger = logging.getLogger("hpi.serving")

ENDPOINTS = ("/", "/health", "/ready", "/metrics", ENDPOINT, "/ocr", "/docs", "/openapi.json")


def create_app(model=None, *, load_model: Optional[Callable[[], object]] = None,
               recognize: Optional[Recognize] = None, settings: Optional[ServeSettings] = None,
               metrics: Optional[ServingMetrics] = None,
               on_load_error: Optional[Callable[[BaseException], None]] = None, ocr=None):
    """A FastAPI app serving `model` (a TextRecognition, shared by every request; the caller closes it), or the
    model `load_model()` returns, loaded in the background once the server starts (closed at shutdown), both
    batched across requests by a Batcher; or lines recognized by `recognize(images)`, a coroutine function giving
    one result per image in order (a TextRecResult, or that image's InputError): the caller's own model and
    batching (a Ray Serve replica's), ready at once. `metrics`: what /metrics shows (a new ServingMetrics if None).
    `ocr`: an ocr.OCRService whose pipeline POST /ocr runs: with load_model=ocr.load_recognizer the server loads
    it and closes it at shutdown; with model=pipeline.text_rec_model the caller's pipeline stays open."""
    if sum(given is not None for given in (model, load_model, recognize)) != 1:
        raise ValueError("give one of model, load_model or recognize")
    fastapi = require("fastapi")
    from .routes import health, ocr as ocr_routes, page, text_recognition

    settings = settings or ServeSettings()
    context = ServingContext.make(settings, ServingMetrics() if metrics is None else metrics, recognize, ocr)
    page.index_page(ocr=ocr is not None)  # a page that lost its marker fails here, not on the first visit
    app = fastapi.FastAPI(title="hpi text recognition", version=_version(),
                          lifespan=_lifespan(context, model, load_model, on_load_error),
                          description="PaddleX-style serving of text recognition, with cross-request batching.")
    app.state.context = context  # what the routers' dependencies hand out
    app.state.settings, app.state.pixels = settings, context.pixels  # read by tests and their helpers
    _add_error_handlers(app)
    app.include_router(text_recognition.router())
    if ocr is not None:
        app.include_router(ocr_routes.router())
    app.include_router(health.router())
    app.include_router(page.router())
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, describe_limit=lambda size: (
        f"the request body is {size:,}+ bytes, above the limit of {settings.max_body_bytes:,} bytes (--max_body_mb)"))
    app.add_middleware(MetricsMiddleware, metrics=context.metrics, endpoints=ENDPOINTS)  # outermost: counts 413s too
    return app


def _lifespan(context: ServingContext, model, load_model, on_load_error):
    """The model's life: started (or loaded in the background) when the server starts; when it stops taking
    requests, the batcher drained and what the server loaded itself closed. A replica's own model: nothing to do."""
    from starlette.concurrency import run_in_threadpool

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        if context.external:
            yield
            return
        models = context.models
        models.open()
        if model is not None:
            models.start(model)
        else:
            models.load_in_background(load_model, on_load_error)
        try:
            yield
        finally:  # the server takes no more requests: drain the batcher
            await run_in_threadpool(models.stop)
            if context.ocr is not None and load_model is not None:  # a pipeline the server loaded itself
                await run_in_threadpool(context.ocr.close)

    return lifespan


def _add_error_handlers(app) -> None:
    """Every error in PaddleX's envelope, with the request's logId."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    def envelope(request, status: int, message: str, headers=None):
        log_id = getattr(request.state, "log_id", None) or log_id_of(request.scope.get(BODY_KEY)) or new_log_id()
        return JSONResponse(failure(log_id, status, message), status_code=status, headers=headers)

    async def serving_error(request, exc: ServingError):
        return envelope(request, exc.status, exc.message, exc.headers)

    async def invalid_request(request, exc: RequestValidationError):
        return envelope(request, 422, "invalid request: " + "; ".join(_describe(e) for e in exc.errors()))

    async def http_error(request, exc: HTTPException):
        return envelope(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    async def unexpected(request, exc: Exception):
        logger.error("unexpected error on %s", request.url.path, exc_info=exc)
        return envelope(request, 500, "internal server error (logged on the server with this logId)")

    for error, handler in ((ServingError, serving_error), (RequestValidationError, invalid_request),
                           (HTTPException, http_error), (Exception, unexpected)):
        app.add_exception_handler(error, handler)


def _describe(error: dict) -> str:
    """'files[2]: Input should be a valid string' from a pydantic error (its loc starts with 'body')."""
    if error.get("type") == "json_invalid":
        return f"the body is not valid JSON ({error.get('ctx', {}).get('error', 'JSON decode error')})"
    location = ""
    for part in error.get("loc", ())[1:]:
        location += f"[{part}]" if isinstance(part, int) else f"{'.' if location else ''}{part}"
    return f"{location or 'body'}: {error.get('msg', 'invalid')}"


def _version() -> str:
    from .. import __version__

    return __version__
