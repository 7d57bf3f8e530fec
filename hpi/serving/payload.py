"""A request's `file` / `files` -> the images to recognize, through hpi.inputs' own decoding and pixel guard.

`file`: base64 data (a `data:...;base64,` prefix is accepted) or, when the server allows it, an http(s) URL;
`fileType` 0 PDF, 1 image, null: PDF when the bytes start with `%PDF-`, else an image (PaddleX infers it from a
URL's name only). A multi-frame TIFF gives one line per frame. `files`: a list of base64 images (crops), one line
each. A `file` is never opened as a server-side path. Every problem is an InputError (or a ServingError with its
HTTP status) whose message names the field.
"""
from __future__ import annotations

import base64
import binascii
import re
import threading
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Tuple

import numpy as np

from ..errors import InputError
from ..inputs import PDF_SUFFIX, DecodeLimits, InputItem, Origin, iter_data
from ..urls import fetch, is_url
from .envelope import ServingError
from .settings import ServeSettings

FILE_TYPE_PDF, FILE_TYPE_IMAGE = 0, 1
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_DATA_URL = re.compile(r"data:[^,]{0,200};base64,", re.IGNORECASE)
_WHITESPACE = re.compile(rb"\s+")
# What a path or a non-http URL looks like: said in the error, since such a `file` is never read from disk.
_PATH_LIKE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*://|~|\.{1,2}/|[a-zA-Z]:[\\/])|\\|^/[^/]+(?:/[^/]+)*$")


class PixelPool:
    """The decoded pixels all requests hold at once (None: no limit): taken as each image is sized, before it is
    decoded, and given back when its request ends."""

    def __init__(self, limit: Optional[int]):
        self.limit, self.held = limit, 0
        self._lock = threading.Lock()

    def take(self, pixels: int) -> bool:
        with self._lock:
            if self.limit is not None and self.held + pixels > self.limit:
                return False
            self.held += pixels
            return True

    def give_back(self, pixels: int) -> None:
        with self._lock:
            self.held -= pixels


class RequestPixels:
    """One request's decoded pixels: at most `settings.max_request_pixels` (413 beyond), each taken from `pool`
    (503 while the server holds its limit). A context manager: the pixels go back to the pool when it exits."""

    def __init__(self, settings: ServeSettings, pool: PixelPool):
        self.limit, self.pool, self.used = settings.max_request_pixels, pool, 0

    def charge(self, source: str, pixels: int) -> None:
        if self.limit is not None and self.used + pixels > self.limit:
            raise ServingError(413, f"{source} would bring the request's decoded images to {self.used + pixels:,} "
                                    f"pixels, above this server's limit of {self.limit:,} (--max_request_pixels)")
        if not self.pool.take(pixels):
            raise ServingError(503, f"the server holds as many decoded pixels as it allows at once "
                                    f"({self.pool.limit:,}, --max_pixels_in_flight): retry shortly",
                               {"Retry-After": "1"})
        self.used += pixels

    def __enter__(self) -> "RequestPixels":
        return self

    def __exit__(self, *_exc) -> None:
        self.pool.give_back(self.used)
        self.used = 0


@dataclass
class Line:
    image: np.ndarray
    page_index: Optional[int]


@dataclass
class Decoded:
    lines: List[Line]
    data_info: Optional[dict]  # PaddleX's dataInfo, for a `file` request


def decode_request(file: Optional[str], file_type: Optional[int], files: Optional[List[str]],
                   settings: ServeSettings, pixels: Optional[RequestPixels] = None,
                   cancelled: Optional[Callable[[], bool]] = None) -> Decoded:
    """The request's images, each sized before it is decoded and charged to `pixels`; `cancelled()` true stops a
    PDF page rendering (the client went away)."""
    limits = DecodeLimits(settings.max_image_pixels, pixels.charge if pixels is not None else None,
                          settings.pdf_page_timeout_s, cancelled)
    if (file is None) == (files is None):
        raise ServingError(422, "give either `file` (one image or PDF) or `files` (a list of base64 images)")
    if files is not None:
        if not files:
            raise ServingError(422, "`files` is empty")
        _check_count(len(files), settings)
        lines = []
        for index, data in enumerate(files):
            source = f"files[{index}]"
            if is_url(data):
                raise InputError(f"{source} is a URL: `files` takes base64 images only", source=source)
            lines.extend(_decode_base64(data, FILE_TYPE_IMAGE, source, settings, limits, len(lines))[1])
        return Decoded(lines, None)
    if is_url(file):
        if not settings.allow_url_fetch:
            raise InputError("file is a URL, and this server does not fetch URLs (start it with --allow_url_fetch); "
                             "send the file's bytes as base64 instead", source="file")
        data = fetch(file, settings.url_policy, label=f"file: {file}", source="file")
        lines = list(_lines(data, file_type, "file", settings, limits, 0))
    else:
        data, lines = _decode_base64(file, file_type, "file", settings, limits, 0)
    if not lines:
        raise InputError("file holds no pages", source="file")
    return Decoded(lines, _data_info(lines, data, file_type))


def _decode_base64(text: str, file_type: Optional[int], source: str, settings: ServeSettings, limits: DecodeLimits,
                   before: int) -> Tuple[bytes, List[Line]]:
    data = _base64(text, source)
    try:
        return data, list(_lines(data, file_type, source, settings, limits, before))
    except InputError as exc:
        hint = _path_hint(text)
        if not hint:
            raise
        raise InputError(f"{exc}{hint}", source=exc.source) from None


def _check_count(count: int, settings: ServeSettings) -> None:
    if count > settings.max_lines_per_request:
        raise ServingError(413, f"the request holds more than {settings.max_lines_per_request} lines (images, crops "
                                "or PDF pages), the limit of this server (--max_lines_per_request)")


def _base64(text: str, source: str) -> bytes:
    prefix = _DATA_URL.match(text)
    body = text[prefix.end():] if prefix else text
    if not body.strip():
        raise InputError(f"{source} is empty", source=source)
    try:
        raw = _WHITESPACE.sub(b"", body.encode("ascii"))
        raw += b"=" * (-len(raw) % 4)  # missing padding is tolerated
        return base64.b64decode(raw, validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise InputError(f"{source} is not valid base64 data{_path_hint(text)}", source=source) from None


def _path_hint(text: str) -> str:
    if len(text) <= 1024 and _PATH_LIKE.search(text):  # base64 of a real image is longer
        return (": it looks like a path or a URL, and this server never opens its own files (send the file's bytes "
                "as base64, or an http(s) URL where URL fetching is on)")
    return ""


def _lines(data: bytes, file_type: Optional[int], source: str, settings: ServeSettings, limits: DecodeLimits,
           before: int) -> Iterator[Line]:
    is_pdf = data[:5] == b"%PDF-"
    if file_type is None:
        file_type = FILE_TYPE_PDF if is_pdf else FILE_TYPE_IMAGE
    if file_type == FILE_TYPE_PDF:
        suffix = PDF_SUFFIX
    elif is_pdf:
        raise InputError(f"{source} is a PDF where an image was expected (fileType 1, or an entry of `files`): send "
                         "a PDF as `file` with fileType 0 or null", source=source)
    else:
        suffix = ".tiff" if data[:4] in _TIFF_MAGIC else ".png"  # any other image suffix: OpenCV decodes by content
    origin = Origin(source, source)
    count = before
    items: Iterator[InputItem] = iter_data(origin, suffix, lambda: data, limits)
    try:
        for item in items:
            count += 1
            _check_count(count, settings)  # before the next PDF page is rendered
            yield Line(item.load(), item.page_index)
    finally:
        close = getattr(items, "close", None)
        if close:
            close()  # a PDF document is closed once its pages are no longer read


def _data_info(lines: List[Line], data: bytes, file_type: Optional[int]) -> dict:
    sizes = [{"width": int(line.image.shape[1]), "height": int(line.image.shape[0])} for line in lines]
    if all(line.page_index is None for line in lines):
        return {"type": "image", **sizes[0]}
    kind = "pdf" if data[:5] == b"%PDF-" or file_type == FILE_TYPE_PDF else "tiff"
    return {"type": kind, "numPages": len(sizes), "pages": sizes}
