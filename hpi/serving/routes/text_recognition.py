"""POST /text-recognition: recognize `file` (an image or PDF) or `files` (crops), in PaddleX's envelope; the lines
of concurrent requests are batched by the context's `recognize`."""
# No `from __future__ import annotations` here: FastAPI reads the endpoint's annotations at run time.
import base64
import io
import logging

from ...errors import InputError, MissingDependencyError
from ..batcher import Closed, QueueFull
from ..context import ServingContext
from ..envelope import ServingError, client_log_id, new_log_id, success
from ..middleware import client_gone
from ..payload import Line, RequestPixels, decode_request
from ..schemas import ENDPOINT, models
from .deps import dependencies

logger = logging.getLogger("hpi.serving")


def router():
    from fastapi import APIRouter, Request

    deps, schemas, router = dependencies(), models(), APIRouter()

    @router.post(ENDPOINT, operation_id="textRecognition", response_model=schemas.TextRecognitionResponse,
                 responses={code: {"model": schemas.NoResultResponse} for code in (413, 422, 500, 503)})
    async def text_recognition(body: schemas.TextRecognitionRequest, request: Request, context: deps.Context):
        log_id = request.state.log_id = client_log_id(body.logId) or new_log_id()
        check_admission(context)
        with RequestPixels(context.settings, context.pixels) as pixels:
            return await recognize(body, request, context, log_id, pixels)

    return router


def check_admission(context: ServingContext) -> None:
    """503 while the model is not ready, or while the lines waiting for it are at the queue limit (a request is
    refused before its images are decoded, not after)."""
    reason = context.not_ready()
    if reason is not None:
        raise ServingError(503, reason, {"Retry-After": "1"})
    settings, batcher = context.settings, context.models.batcher
    if batcher is not None and batcher.queued_lines >= settings.max_queue_lines:
        raise ServingError(503, f"{batcher.queued_lines} lines are waiting for the model, the queue limit of "
                                f"{settings.max_queue_lines} lines (--max_queue_lines); retry later",
                           {"Retry-After": "1"})


async def recognize(body, request, context: ServingContext, log_id: str, pixels: RequestPixels):
    """The request's lines decoded (in a thread), recognized, and answered in the envelope."""
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    try:
        async with client_gone(request.receive) as gone:
            decoded = await run_in_threadpool(decode_request, body.file, body.fileType, body.files, context.settings,
                                              pixels, gone.is_set)
        results = await context.recognize([line.image for line in decoded.lines])
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
    context.metrics.lines_recognized.inc(len(entries))
    result = {"recResults": entries}
    if decoded.data_info is not None:
        result["dataInfo"] = decoded.data_info
    return JSONResponse(success(log_id, result))


def _entry(line: Line, result, index: int) -> dict:
    if isinstance(result, InputError):
        raise InputError(f"line {index}: {result}")
    return {"recText": result["rec_text"], "recScore": float(result["rec_score"]), "pageIndex": line.page_index}


def _png_base64(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
