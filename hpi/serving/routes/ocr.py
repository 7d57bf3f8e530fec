"""POST /ocr: the OCR pipeline in PaddleX 3.7.2's serving schema (hpi/serving/ocr.py), in an app made with one
(`hpi serve --pipeline OCR`)."""
# No `from __future__ import annotations` here: FastAPI reads the endpoint's annotations at run time.
import logging

from ...errors import ConfigError, InputError, MissingDependencyError
from ..context import ServingContext
from ..envelope import ServingError, client_log_id, new_log_id, success
from ..middleware import client_gone
from ..ocr import OCR_ENDPOINT, REQUEST_OPTIONS, ocr_models, run_pipeline
from ..payload import RequestPixels, decode_request
from ..schemas import models
from .deps import dependencies

logger = logging.getLogger("hpi.serving")


def router():
    from fastapi import APIRouter, Request

    deps, schemas, router = dependencies(), ocr_models(), APIRouter()

    @router.post(OCR_ENDPOINT, operation_id="ocr", response_model=schemas.OCRResponse,
                 responses={code: {"model": models().NoResultResponse} for code in (413, 422, 500, 501, 503)})
    async def ocr(body: schemas.OCRRequest, request: Request, context: deps.Context):
        log_id = request.state.log_id = client_log_id(body.logId) or new_log_id()
        reason = context.not_ready()
        if reason is not None or context.ocr.pipeline is None:
            raise ServingError(503, reason or "the OCR pipeline is still loading", {"Retry-After": "1"})
        return await run_ocr(body, request, context, log_id)

    return router


async def run_ocr(body, request, context: ServingContext, log_id: str):
    """The request's pages decoded (in a thread) and run through the pipeline, at most batch_workers pipelines at
    once (later requests wait their turn)."""
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    options = {name: getattr(body, field) for field, name in REQUEST_OPTIONS.items()
               if getattr(body, field) is not None}
    visualize = body.visualize is not False
    try:
        with RequestPixels(context.settings, context.pixels) as pixels:
            async with client_gone(request.receive) as gone:
                decoded = await run_in_threadpool(decode_request, body.file, body.fileType, None, context.settings,
                                                  pixels, gone.is_set)
            images = [line.image for line in decoded.lines]
            async with context.pipelines_running():
                entries = await run_in_threadpool(run_pipeline, context.ocr.pipeline, images, options, visualize)
            del images, decoded.lines[:]  # the pixels go back to the pool: their images must go too
    except ServingError:
        raise
    except (InputError, ConfigError) as exc:
        raise ServingError(422, str(exc)) from None
    except MissingDependencyError as exc:
        raise ServingError(501, str(exc)) from None
    except Exception as exc:
        logger.error("request %s failed", log_id, exc_info=exc)
        raise ServingError(500, "internal server error in the OCR pipeline (logged on the server with this "
                                "logId)") from None
    context.metrics.lines_recognized.inc(sum(len(e["prunedResult"].get("rec_texts", [])) for e in entries))
    return JSONResponse(success(log_id, {"ocrResults": entries, "dataInfo": decoded.data_info}))
