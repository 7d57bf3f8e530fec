"""The request and response models (pydantic, for validation and the OpenAPI docs), built on first use so that
importing hpi.serving needs no pydantic. Field names are camelCase, as PaddleX's serving schemas."""
from __future__ import annotations

import functools
from types import SimpleNamespace

ENDPOINT = "/text-recognition"  # the task's endpoint (POST), PaddleX's name for it


@functools.lru_cache(maxsize=None)
def models() -> SimpleNamespace:
    from typing import List, Literal, Optional, Union

    from pydantic import BaseModel, Field

    class TextRecognitionRequest(BaseModel):
        file: Optional[str] = Field(None, description="One image or PDF: base64 data, or an http(s) URL where the "
                                                      "server fetches URLs (--allow_url_fetch). Either file or files.")
        fileType: Optional[Literal[0, 1]] = Field(None, description="0 PDF, 1 image, null: inferred from the bytes.")
        files: Optional[List[str]] = Field(None, description="Many text-line images (crops) as base64, one line "
                                                             "each, in order. Either file or files.")
        visualize: Optional[bool] = Field(None, description="Also return each line's result image (recImage).")
        logId: Optional[str] = Field(None, description="Echoed in the response; a new UUID when absent.")

    class RecResult(BaseModel):
        recText: str
        recScore: float
        pageIndex: Optional[int] = Field(None, description="The PDF page or TIFF frame (0-based); null for images.")
        recImage: Optional[str] = Field(None, description="Base64 PNG: the line above its text (visualize only).")

    class ImageInfo(BaseModel):
        width: int
        height: int
        type: Literal["image"] = "image"

    class PageInfo(BaseModel):
        width: int
        height: int

    class DocumentInfo(BaseModel):
        numPages: int
        pages: List[PageInfo]
        type: Literal["pdf", "tiff"]

    class TextRecognitionResult(BaseModel):
        recResults: List[RecResult]
        dataInfo: Optional[Union[ImageInfo, DocumentInfo]] = Field(None, description="For `file` requests.")

    class TextRecognitionResponse(BaseModel):
        logId: str
        errorCode: Literal[0] = 0
        errorMsg: Literal["Success"] = "Success"
        result: TextRecognitionResult

    class NoResultResponse(BaseModel):
        logId: str
        errorCode: int
        errorMsg: str

    return SimpleNamespace(TextRecognitionRequest=TextRecognitionRequest, RecResult=RecResult,
                           TextRecognitionResult=TextRecognitionResult,
                           TextRecognitionResponse=TextRecognitionResponse, NoResultResponse=NoResultResponse,
                           ImageInfo=ImageInfo, DocumentInfo=DocumentInfo)
