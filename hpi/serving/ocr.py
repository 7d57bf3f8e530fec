"""What POST /ocr (routes/ocr.py) runs: the OCR pipeline in PaddleX 3.7.2's serving schema
(paddlex/inference/serving/schemas/ocr.py, basic_serving/_pipeline_apps/ocr.py), when `hpi serve --pipeline OCR` runs.

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
# No `from __future__ import annotations` here: pydantic reads the request models' annotations at run time.
import base64
import functools
from types import SimpleNamespace
from typing import Callable, Optional

import cv2
import numpy as np


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


def run_pipeline(pipeline, images, options: dict, visualize: bool) -> list:
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
