"""`create_app(...)`: the FastAPI application of `hpi serve`.

    POST /text-recognition   recognize `file` (an image or PDF) or `files` (crops); PaddleX's envelope
    POST /ocr                the OCR pipeline (only when served with one: `hpi serve --pipeline OCR`; ocr.py)
    GET  /health             liveness: 200 while the process serves
    GET  /ready              readiness: 503 until the model is loaded, then 200
    GET  /metrics            Prometheus text
    GET  /                   a page to try it; /docs and /openapi.json: the API

fastapi is imported when an app is made, never when hpi.serving is imported.
"""
# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations at run time.
import asyncio
import base64
import contextlib
import io
import logging
from importlib import resources
from typing import Awaitable, Callable, List, Optional

import numpy as np

from .._deps import require
from ..errors import InputError, MissingDependencyError
from .batcher import Closed, LineResult, QueueFull
from .envelope import ServingError, client_log_id, failure, log_id_of, new_log_id, success
from .metrics import CONTENT_TYPE, ServingMetrics
from .middleware import BODY_KEY, BodyLimitMiddleware, MetricsMiddleware, client_gone
from .payload import Line, PixelPool, RequestPixels, decode_request
from .schemas import models
from .settings import ServeSettings
from .state import ModelState

logger = logging.getLogger("hpi.serving")

Recognize = Callable[[List[np.ndarray]], Awaitable[List[LineResult]]]

ENDPOINT = "/text-recognition"
ENDPOINTS = ("/", "/health", "/ready", "/metrics", ENDPOINT, "/ocr", "/docs", "/openapi.json")
# The page makes no request but to this server, and loads nothing from elsewhere.
PAGE_CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
            "connect-src 'self'; base-uri 'none'; form-action 'none'")


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
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException

    settings = settings or ServeSettings()
    metrics = ServingMetrics() if metrics is None else metrics
    state = ModelState(settings, metrics)
    if recognize is None:
        async def recognize(images: List[np.ndarray]) -> List[LineResult]:
            return await asyncio.wrap_future(state.batcher.submit(images))
    else:
        metrics.ready.set(1)
    external = model is None and load_model is None

    def ready() -> bool:
        return external or state.ready
    schemas = models()
    page = index_page(ocr=ocr is not None)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        if external:
            yield
            return
        state.open()
        if model is not None:
            state.start(model)
        else:
            state.load_in_background(load_model, on_load_error)
        try:
            yield
        finally:  # the server takes no more requests: drain the batcher
            await run_in_threadpool(state.stop)
            if ocr is not None and load_model is not None:  # a pipeline the server loaded itself
                await run_in_threadpool(ocr.close)

    app = fastapi.FastAPI(title="hpi text recognition", version=_version(), lifespan=lifespan,
                          description="PaddleX-style serving of text recognition, with cross-request batching.")
    app.state.hpi = state
    app.state.metrics = metrics
    app.state.settings = settings
    app.state.pixels = PixelPool(settings.max_pixels_in_flight)
    errors = {code: {"model": schemas.NoResultResponse} for code in (413, 422, 500, 503)}

    def envelope(request, status: int, message: str, headers=None):
        log_id = getattr(request.state, "log_id", None) or log_id_of(request.scope.get(BODY_KEY)) or new_log_id()
        return JSONResponse(failure(log_id, status, message), status_code=status, headers=headers)

    @app.exception_handler(ServingError)
    async def serving_error(request, exc: ServingError):
        return envelope(request, exc.status, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request, exc: RequestValidationError):
        return envelope(request, 422, "invalid request: " + "; ".join(_describe(e) for e in exc.errors()))

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):
        return envelope(request, exc.status_code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request, exc: Exception):
        logger.error("unexpected error on %s", request.url.path, exc_info=exc)
        return envelope(request, 500, "internal server error (logged on the server with this logId)")

    @app.post(ENDPOINT, operation_id="textRecognition", response_model=schemas.TextRecognitionResponse,
              responses=errors)
    async def text_recognition(body: schemas.TextRecognitionRequest, request: fastapi.Request):
        log_id = request.state.log_id = client_log_id(body.logId) or new_log_id()
        if not ready():
            raise ServingError(503, _not_ready(state), {"Retry-After": "1"})
        if state.batcher is not None and state.batcher.queued_lines >= settings.max_queue_lines:
            # refused before its images are decoded, not after
            raise ServingError(503, f"{state.batcher.queued_lines} lines are waiting for the model, the queue limit of "
                                    f"{settings.max_queue_lines} lines (--max_queue_lines); retry later",
                               {"Retry-After": "1"})
        with RequestPixels(settings, app.state.pixels) as pixels:
            return await recognize_request(body, request, log_id, pixels)

    async def recognize_request(body, request, log_id: str, pixels: RequestPixels):
        try:
            async with client_gone(request.receive) as gone:
                decoded = await run_in_threadpool(decode_request, body.file, body.fileType, body.files, settings,
                                                  pixels, gone.is_set)
            results = await recognize([line.image for line in decoded.lines])
            entries = [_entry(line, result, index) for index, (line, result) in enumerate(zip(decoded.lines, results))]
            if body.visualize:
                images = await run_in_threadpool(lambda: [_png_base64(result.img["res"]) for result in results])
                for entry, image in zip(entries, images):
                    entry["recImage"] = image
        except ServingError:
            raise
        except InputError as exc:
            raise ServingError(422, str(exc)) from None
        except MissingDependencyError as exc:
            raise ServingError(501, str(exc)) from None
        except (QueueFull, Closed) as exc:
            raise ServingError(503, str(exc), {"Retry-After": "1"}) from None
        except Exception as exc:
            logger.error("request %s failed", log_id, exc_info=exc)
            raise ServingError(500, "internal server error while recognizing (logged on the server with this "
                                    "logId)") from None
        metrics.lines_recognized.inc(len(entries))
        result = {"recResults": entries}
        if decoded.data_info is not None:
            result["dataInfo"] = decoded.data_info
        return JSONResponse(success(log_id, result))

    if ocr is not None:
        from .ocr import mount_ocr

        mount_ocr(app, ocr, settings, metrics, lambda: None if ready() else _not_ready(state))

    @app.get("/health", operation_id="checkHealth", response_model=schemas.NoResultResponse)
    async def health():
        return success(new_log_id(), None, "Healthy")

    @app.get("/ready", operation_id="checkReady", response_model=schemas.NoResultResponse,
             responses={503: {"model": schemas.NoResultResponse}})
    async def readiness():
        if ready():
            return success(new_log_id(), None, "Ready")
        return JSONResponse(failure(new_log_id(), 503, _not_ready(state)), status_code=503)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus():
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @app.get("/", include_in_schema=False)
    async def index():
        return HTMLResponse(page, headers={"Content-Security-Policy": PAGE_CSP})

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, describe_limit=lambda size: (
        f"the request body is {size:,}+ bytes, above the limit of {settings.max_body_bytes:,} bytes (--max_body_mb)"))
    app.add_middleware(MetricsMiddleware, metrics=metrics, endpoints=ENDPOINTS)  # outermost: counts 413s too
    return app


def index_page(ocr: bool) -> str:
    """The page at `/`, told what this server serves (its body's data-serves: the endpoints it may post to, as
    relative paths): with /ocr it sends photos there and draws their boxes and texts."""
    page = resources.files("hpi.serving").joinpath("index.html").read_text(encoding="utf-8")
    default = f'<body data-serves="{ENDPOINT.lstrip("/")}">'
    if page.count(default) != 1:
        raise RuntimeError(f"hpi/serving/index.html lost its {default}")
    return page.replace(default, default[:-2] + ' ocr">') if ocr else page


def _entry(line: Line, result, index: int) -> dict:
    if isinstance(result, InputError):
        raise InputError(f"line {index}: {result}")
    return {"recText": result["rec_text"], "recScore": float(result["rec_score"]), "pageIndex": line.page_index}


def _png_base64(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _not_ready(state: ModelState) -> str:
    if state.load_error is not None:
        return f"the model could not be loaded: {state.load_error}"
    return "the model is still loading"


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
