"""Everything predict() accepts, turned into a stream of BGR images with where each came from.

Accepted: numpy arrays (BGR as PaddleX assumes; gray and 4-channel converted), image paths, http(s) URLs,
directories (recursive, sorted, image files only), PDF and multi-page TIFF files (one item per page, with
`page_index`), and lists of any of these. Expansion is lazy, so predict_iter streams a large folder.
"""
from __future__ import annotations

import logging
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import cv2
import numpy as np

from ._deps import require
from .errors import InputError

logger = logging.getLogger(__name__)

# PaddleX's list (OpenCV's readable formats); TIFF goes through Pillow for its pages.
IMAGE_SUFFIXES = (".bmp", ".dib", ".jpeg", ".jpg", ".png", ".webp", ".pbm", ".pgm", ".ppm", ".pnm", ".sr", ".ras",
                  ".tif", ".tiff")
PDF_SUFFIX = ".pdf"
URL_TIMEOUT_S = 30
PDF_RENDER_SCALE = 2.0  # PaddleX renders PDF pages at 2x (144 dpi)


@dataclass
class InputItem:
    """One image to recognize; `load` reads it when the pipeline gets to it."""

    input_path: Optional[str]
    page_index: Optional[int]
    load: Callable[[], np.ndarray]


def iter_inputs(inputs) -> Iterator[InputItem]:
    """Expand `inputs` (one input or a list/tuple of them) in order."""
    if isinstance(inputs, (list, tuple)):
        for entry in inputs:
            yield from iter_inputs(entry)
    elif isinstance(inputs, np.ndarray):
        array = inputs
        yield InputItem(None, None, lambda: to_bgr(array, "numpy input"))
    elif isinstance(inputs, (str, Path)):
        yield from _iter_path(str(inputs))
    else:
        raise InputError(f"unsupported input of type {type(inputs).__name__}: give a numpy array, a path, a URL, "
                         "a directory, or a list of these")


def to_bgr(image: np.ndarray, source: str) -> np.ndarray:
    """HxW gray, HxWx1, HxWx3 (BGR) or HxWx4 (BGRA) uint8 -> HxWx3 BGR uint8."""
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise InputError(f"{source}: empty image")
    if image.dtype != np.uint8:
        if np.issubdtype(image.dtype, np.floating) and image.max(initial=0) <= 1.0:
            raise InputError(f"{source}: expected uint8 pixels (0-255), got {image.dtype} scaled to [0, 1]")
        image = np.clip(image, 0, 255).astype(np.uint8)
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    raise InputError(f"{source}: expected an HxW, HxWx1, HxWx3 or HxWx4 image, got shape {image.shape}")


def _iter_path(source: str) -> Iterator[InputItem]:
    if source.startswith(("http://", "https://")):
        yield from _iter_url(source)
        return
    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted(str(p) for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES + (PDF_SUFFIX,))
        if not files:
            raise InputError(f"input directory {source!r} holds no image or PDF files")
        for file in files:
            yield from _iter_file(file, Path(file))
        return
    if not path.exists():
        raise InputError(f"input {source!r} does not exist")
    yield from _iter_file(source, path)


def _iter_file(source: str, path: Path) -> Iterator[InputItem]:
    suffix = path.suffix.lower()
    if suffix == PDF_SUFFIX:
        yield from _iter_pdf(source, path.read_bytes)
    elif suffix in (".tif", ".tiff"):
        yield from _iter_tiff(source, path.read_bytes)
    elif suffix in IMAGE_SUFFIXES:
        yield InputItem(source, None, lambda: decode_image(path.read_bytes(), source))
    else:
        raise InputError(f"input {source!r} is not a supported file type "
                         f"({', '.join(IMAGE_SUFFIXES + (PDF_SUFFIX,))})")


def decode_image(data: bytes, source: str) -> np.ndarray:
    # As PaddleX: always 3-channel BGR (gray replicated, alpha dropped, 16-bit reduced), EXIF orientation applied.
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InputError(f"input {source!r} could not be decoded as an image")
    return image


def _iter_tiff(source: str, read: Callable[[], bytes]) -> Iterator[InputItem]:
    """Every frame of a TIFF, with page_index (0 for a single-frame file too, as PaddleX)."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        tiff = Image.open(io.BytesIO(read()))
        frames = getattr(tiff, "n_frames", 1)
    except (UnidentifiedImageError, OSError) as exc:
        raise InputError(f"input {source!r} could not be decoded as a TIFF image: {exc}") from exc
    for index in range(frames):
        tiff.seek(index)
        rgb = np.asarray(tiff.convert("RGB"))
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        yield InputItem(source, index, lambda bgr=bgr: bgr)


def _iter_pdf(source: str, read: Callable[[], bytes]) -> Iterator[InputItem]:
    pdfium = require("pypdfium2")
    try:
        document = pdfium.PdfDocument(read())
        document.init_forms()  # render form fields too, as PaddleX does
    except Exception as exc:  # pypdfium2 raises its own PdfiumError
        raise InputError(f"input {source!r} could not be opened as a PDF: {exc}") from exc
    try:
        for index in range(len(document)):
            image = document[index].render(scale=PDF_RENDER_SCALE).to_numpy()
            # pdfium renders BGR(A) byte order by default, which is what the pipeline wants
            yield InputItem(source, index, lambda image=image, index=index: to_bgr(image, f"{source} page {index}"))
    finally:
        document.close()


def _iter_url(url: str) -> Iterator[InputItem]:
    data = fetch_url(url)
    suffix = Path(urllib.parse.urlparse(url).path).suffix.lower()
    if suffix == PDF_SUFFIX:
        yield from _iter_pdf(url, lambda: data)
    elif suffix in (".tif", ".tiff"):
        yield from _iter_tiff(url, lambda: data)
    else:
        yield InputItem(url, None, lambda: decode_image(data, url))


def fetch_url(url: str, timeout: float = URL_TIMEOUT_S) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.read()
    except Exception as exc:  # URLError, HTTPError, timeouts
        raise InputError(f"input {url!r} could not be downloaded: {exc}") from exc

