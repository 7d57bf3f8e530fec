"""POST /ocr: the OCR pipeline in PaddleX 3.7.2's serving schema (paddlex/inference/serving/schemas/ocr.py,
basic_serving/_pipeline_apps/ocr.py), mounted when `hpi serve --pipeline OCR` runs.

Request: `file` (base64 image or PDF, or an http(s) URL where the server fetches URLs), `fileType` (0 PDF,
1 image, null: from the bytes), the pipeline's per-call options in camelCase (useTextlineOrientation,
textDetLimitSideLen, textDetLimitType, textDetThresh, textDetBoxThresh, textDetUnclipRatio, textRecScoreThresh,
useDocOrientationClassify, useDocUnwarping; returnWordBox only as false or null), `visualize` (null: true, as
PaddleX's server default) and `logId`. Result: `ocrResults`, one per image or page, each `prunedResult` (the
result's JSON without input_path and page_index, at every level), `ocrImage`, `docPreprocessingImage` (the
document preprocessor's drawing, when it ran; else null) and `inputImage` (JPEG base64, at most 2000x2000, when
visualizing) and `dataInfo`. The limits,
URL rules and errors are those of /text-recognition (payload.py): the server never opens its own files.
"""
# No `from __future__ import annotations` here: FastAPI reads the endpoint's annotations at run time.
import asyncio
import base64
import functools
import logging
from types import SimpleNamespace
from typing import Callable, Optional

import cv2
import numpy as np

from ..errors import ConfigError, InputError, MissingDependencyError
from .envelope import ServingError, client_log_id, new_log_id, success
from .middleware import client_gone
from .payload import RequestPixels, decode_request
from .settings import ServeSettings

logger = logging.getLogger("hpi.serving")

OCR_ENDPOINT = "/ocr"
MAX_OUTPUT_IMAGE_SIZE = (2000, 2000)  # PaddleX's DEFAULT_MAX_OUTPUT_IMG_SIZE
REQUEST_OPTIONS = {"useDocOrientationClassify": "use_doc_orientation_classify", "useDocUnwarping": "use_doc_unwarping",
                   "useTextlineOrientation": "use_textline_orientation", "textDetLimitSideLen": "text_det_limit_side_len",
                   "textDetLimitType": "text_det_limit_type", "textDetThresh": "text_det_thresh",
                   "textDetBoxThresh": "text_det_box_thresh", "textDetUnclipRatio": "text_det_unclip_ratio",
                   "textRecScoreThresh": "text_rec_score_thresh", "returnWordBox": "return_word_box"}


class OCRService:
    """The pipeline a server runs: `load_recognizer()` loads it (in the server's background loader) and hands
    its recognizer to /text-recognition's batcher; /ocr runs the whole pipeline."""

    def __init__(self, load: Optional[Callable[[], object]] = None, pipeline=None):
        self._load, self.pipeline = load, pipeline

    def load_recognizer(self):
        self.pipeline = self._load()
        return self.pipeline.text_rec_model

    def close(self) -> None:
        if self.pipeline is not None:
            self.pipeline.close()


@functools.lru_cache(maxsize=None)
def ocr_models() -> SimpleNamespace:
    from typing import List, Literal, Optional as Opt, Union

    from pydantic import BaseModel, Field

    from .schemas import models

    shared = models()

    class OCRRequest(BaseModel):
        file: str = Field(description="One image or PDF: base64 data, or an http(s) URL where the server fetches "
                                      "URLs (--allow_url_fetch).")
        fileType: Opt[Literal[0, 1]] = Field(None, description="0 PDF, 1 image, null: inferred from the bytes.")
        useDocOrientationClassify: Opt[bool] = None
        useDocUnwarping: Opt[bool] = None
        useTextlineOrientation: Opt[bool] = None
        textDetLimitSideLen: Opt[int] = None
        textDetLimitType: Opt[str] = None
        textDetThresh: Opt[float] = None
        textDetBoxThresh: Opt[float] = None
        textDetUnclipRatio: Opt[float] = None
        textRecScoreThresh: Opt[float] = None
        returnWordBox: Opt[bool] = Field(None, description="false or null only.")
        visualize: Opt[bool] = Field(None, description="Return ocrImage, docPreprocessingImage and inputImage "
                                                       "(null: true).")
        logId: Opt[str] = None

    class OCRResultEntry(BaseModel):
        prunedResult: dict
        ocrImage: Opt[str] = None
        docPreprocessingImage: Opt[str] = None
        inputImage: Opt[str] = None

    class OCRInferResult(BaseModel):
        ocrResults: List[OCRResultEntry]
        dataInfo: Union[shared.ImageInfo, shared.DocumentInfo]

    class OCRResponse(BaseModel):
        logId: str
        errorCode: Literal[0] = 0
        errorMsg: Literal["Success"] = "Success"
        result: OCRInferResult

    return SimpleNamespace(OCRRequest=OCRRequest, OCRResponse=OCRResponse)


def mount_ocr(app, service: OCRService, settings: ServeSettings, metrics, not_ready: Callable[[], Optional[str]]):
    """Add POST /ocr to `app`. `not_ready()`: why the server cannot answer yet, or None."""
    import fastapi
    from fastapi.responses import JSONResponse
    from starlette.concurrency import run_in_threadpool

    schemas = ocr_models()
    errors = {code: {"model": schemas_no_result()} for code in (413, 422, 500, 501, 503)}
    gate = {}  # the semaphore bounding pipelines at once, made in the server's event loop on first use

    @app.post(OCR_ENDPOINT, operation_id="ocr", response_model=schemas.OCRResponse, responses=errors)
    async def ocr(body: schemas.OCRRequest, request: fastapi.Request):
        log_id = request.state.log_id = client_log_id(body.logId) or new_log_id()
        reason = not_ready()
        if reason is not None or service.pipeline is None:
            raise ServingError(503, reason or "the OCR pipeline is still loading", {"Retry-After": "1"})
        options = {name: getattr(body, field) for field, name in REQUEST_OPTIONS.items()
                   if getattr(body, field) is not None}
        visualize = body.visualize is not False
        try:
            with RequestPixels(settings, app.state.pixels) as pixels:
                async with client_gone(request.receive) as gone:
                    decoded = await run_in_threadpool(decode_request, body.file, body.fileType, None, settings, pixels,
                                                      gone.is_set)
                images = [line.image for line in decoded.lines]
                running = gate.setdefault("running", asyncio.Semaphore(settings.batch_workers))
                async with running:  # at most batch_workers pipelines at once; later requests wait their turn
                    entries = await run_in_threadpool(_run, service.pipeline, images, options, visualize)
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
        metrics.lines_recognized.inc(sum(len(e["prunedResult"].get("rec_texts", [])) for e in entries))
        return JSONResponse(success(log_id, {"ocrResults": entries, "dataInfo": decoded.data_info}))


def schemas_no_result():
    from .schemas import models

    return models().NoResultResponse


def _run(pipeline, images, options: dict, visualize: bool) -> list:
    entries = []
    for image, result in zip(images, pipeline.predict(images, max_image_pixels=0, **options)):
        entry = {"prunedResult": prune(result.json["res"]), "ocrImage": None, "docPreprocessingImage": None,
                 "inputImage": None}
        if visualize:
            drawings = result.img
            entry["ocrImage"] = jpeg_base64(bgr(drawings["ocr_res_img"]))
            if "preprocessed_img" in drawings:
                entry["docPreprocessingImage"] = jpeg_base64(bgr(drawings["preprocessed_img"]))
            entry["inputImage"] = jpeg_base64(image)
        entries.append(entry)
    return entries


def bgr(drawing) -> np.ndarray:
    return np.asarray(drawing.convert("RGB"))[:, :, ::-1]


def prune(value):
    """PaddleX's prune_result: input_path and page_index removed at every level."""
    if isinstance(value, dict):
        return {k: prune(v) for k, v in value.items() if k not in ("input_path", "page_index")}
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


def jpeg_base64(image_bgr: np.ndarray, max_size=MAX_OUTPUT_IMAGE_SIZE) -> str:
    """A JPEG, shrunk as PaddleX's postprocess_image does when larger than max_size (max_h, max_w)."""
    h, w = image_bgr.shape[:2]
    if w > max_size[1] or h > max_size[0]:
        factor = max_size[0] / w if w / h > max_size[0] / max_size[1] else max_size[1] / h
        image_bgr = cv2.resize(image_bgr, (int(factor * w), int(factor * h)))
    ok, data = cv2.imencode(".jpg", np.ascontiguousarray(image_bgr))
    if not ok:
        raise RuntimeError("could not encode a result image as JPEG")
    return base64.b64encode(data.tobytes()).decode("ascii")
