"""Everything predict() accepts, turned into a stream of BGR images with where each came from.

Accepted: numpy arrays (BGR as PaddleX assumes; gray and 4-channel converted), image paths, http(s) URLs,
directories (recursive, sorted, image files only), PDF and multi-page TIFF files (one item per page, with
`page_index`), and lists of any of these. Expansion is lazy, so predict_iter streams a large folder. PDF pages
are rendered in separate processes, each page within a time and a memory limit (pdf_render.py).

A problem with one input never stops the expansion: it becomes an item whose `load()` raises `InputError`, with
`source` naming that input, so the caller decides, in input order, whether to skip it or to stop. `load()` raises
only `InputError` for what is wrong with an input (OpenCV, Pillow, pdfium and OS errors are turned into one).
"""
from __future__ import annotations

import io
import math
import os
import re
import stat
import struct
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional, Tuple

import cv2
import numpy as np

from ._deps import require
from .errors import ConfigError, InputError
from .urls import fetch, is_url, library_policy

# PaddleX's list (OpenCV's readable formats); TIFF goes through Pillow for its pages.
IMAGE_SUFFIXES = (".bmp", ".dib", ".jpeg", ".jpg", ".png", ".webp", ".pbm", ".pgm", ".ppm", ".pnm", ".sr", ".ras",
                  ".tif", ".tiff")
TIFF_SUFFIXES = (".tif", ".tiff")
PDF_SUFFIX = ".pdf"
_SUFFIXES = IMAGE_SUFFIXES + (PDF_SUFFIX,)
URL_TIMEOUT_S = 30
PDF_RENDER_SCALE = 2.0  # PaddleX renders PDF pages at 2x (144 dpi)
# An input file larger than this is refused before it is read (the largest image the pixel limit admits, 89.5
# million pixels, is about 270 MB as an uncompressed 3-channel file)
MAX_INPUT_FILE_BYTES = 1 << 30

# The largest image (width x height, checked from the file header before decoding) an input may have: a guard
# against decompression bombs, where a few KB of PNG declare 20000x20000 pixels and decode to 1.2 GB. Pillow's own
# default (PIL.Image.MAX_IMAGE_PIXELS, 89.5 MP, 256 MiB as BGR): far above any text line or page scan (an A4 page
# at 600 dpi is 35 MP), and TIFF frames, which Pillow decodes, meet this limit before Pillow's warning. Change it
# with predict's `max_image_pixels` or the environment variable below; 0 means no limit.
DEFAULT_MAX_IMAGE_PIXELS = 1024 * 1024 * 1024 // 4 // 3
MAX_IMAGE_PIXELS_ENV = "HPI_MAX_IMAGE_PIXELS"
_ACCEPTED = "give a numpy array, a path, a URL, a directory, or a list of these"


@dataclass(frozen=True)
class DecodeLimits:
    """What reading inputs may cost, checked before it is paid. `max_image_pixels`: per image or page (None: no
    limit). `charge(source, pixels)`: called with each image's size before it is decoded (a server's budget for a
    request and for all requests at once); it raises to refuse the image. `pdf_page_timeout_s`: how long a PDF page
    may render (None: pdf_render's default). `cancelled()`: true once the caller gave up; a page rendering stops."""

    max_image_pixels: Optional[int] = None
    charge: Optional[Callable[[str, int], None]] = None
    pdf_page_timeout_s: Optional[float] = None
    cancelled: Optional[Callable[[], bool]] = None

    @property
    def sized_first(self) -> bool:
        """Whether an image's size must be known before it is decoded."""
        return self.max_image_pixels is not None or self.charge is not None


@dataclass
class InputItem:
    """One image to recognize; `load` reads it when the pipeline gets to it, and raises InputError naming
    `source` (the path or URL as given, "input[3]" for the array at index 3 of the list, "<path> page <n>")."""

    input_path: Optional[str]
    page_index: Optional[int]
    load: Callable[[], np.ndarray]
    source: str


def iter_inputs(inputs, max_image_pixels: Optional[int] = None) -> Iterator[InputItem]:
    """Expand `inputs` (one input or a list/tuple of them) in order, lazily. `max_image_pixels`: None for
    $HPI_MAX_IMAGE_PIXELS or else DEFAULT_MAX_IMAGE_PIXELS, 0 for no limit; a bad value raises ConfigError now."""
    return _expand(inputs, (), DecodeLimits(resolve_max_image_pixels(max_image_pixels)))


def resolve_max_image_pixels(value: Optional[int] = None) -> Optional[int]:
    """The pixel limit in force (None: no limit), from the argument, else the environment, else the default."""
    what, given = "max_image_pixels", value
    if value is None:
        given = os.environ.get(MAX_IMAGE_PIXELS_ENV, "")
        if not given.strip():
            return DEFAULT_MAX_IMAGE_PIXELS
        what = f"environment variable {MAX_IMAGE_PIXELS_ENV}"
        try:
            value = int(given)  # surrounding spaces and 100_000_000 allowed
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ConfigError(f"{what} must be a whole number of pixels (0 for no limit), got {given!r}")
    return int(value) or None


@dataclass(frozen=True)
class Origin:
    """Where an image came from: `source` for InputItem and InputError, `label` for messages."""

    source: str
    label: str
    input_path: Optional[str] = None
    page_index: Optional[int] = None

    @staticmethod
    def of_entry(position: Tuple[int, ...]) -> "Origin":
        name = "input" + "".join(f"[{index}]" for index in position)
        return Origin(name, name)

    @staticmethod
    def of_path(path: str, page: Optional[int] = None) -> "Origin":
        source = path if page is None else f"{path} page {page}"
        return Origin(source, f"input '{source}'", path, page)  # not !r: a Windows path would read doubled

    def error(self, problem: str, cause: Optional[BaseException] = None) -> InputError:
        error = InputError(f"{self.label} {problem}", source=self.source)
        error.__cause__ = cause
        return error

    def item(self, load: Callable[[], np.ndarray]) -> InputItem:
        return InputItem(self.input_path, self.page_index, load, self.source)

    def failed(self, error: InputError) -> InputItem:
        """An item whose load() raises `error` (a fresh copy each time, so tracebacks do not pile up)."""
        def load() -> np.ndarray:
            raise InputError(str(error), source=error.source) from error.__cause__
        return self.item(load)

    def check_pixels(self, width: int, height: int, limits: "DecodeLimits") -> None:
        limit = limits.max_image_pixels
        if limit is not None and width * height > limit:
            raise self.error(f"is {width}x{height} = {width * height:,} pixels, above the limit of {limit:,} "
                             f"(max_image_pixels, or the environment variable {MAX_IMAGE_PIXELS_ENV}; 0 = no limit)")
        if limits.charge is not None:
            limits.charge(self.source, width * height)


def _expand(entry, position: Tuple[int, ...], limits: DecodeLimits) -> Iterator[InputItem]:
    if isinstance(entry, (list, tuple)):
        for index, sub in enumerate(entry):
            yield from _expand(sub, position + (index,), limits)
    elif isinstance(entry, np.ndarray):
        origin = Origin.of_entry(position)
        yield origin.item(lambda: to_bgr(entry, origin, limits))
    elif isinstance(entry, (str, Path)):
        yield from _iter_path(str(entry), limits)
    else:
        origin = Origin.of_entry(position)
        yield origin.failed(origin.error(f"has unsupported type {type(entry).__name__}: {_ACCEPTED}"))


def to_bgr(image: np.ndarray, origin: Origin, limits: DecodeLimits) -> np.ndarray:
    """HxW gray, HxWx1, HxWx3 (BGR) or HxWx4 (BGRA) of uint8 or other real numbers -> HxWx3 BGR uint8."""
    if image.size == 0:
        raise origin.error(f"is an empty image (shape {image.shape})")
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))):
        raise origin.error(f"has shape {image.shape}: expected an HxW, HxWx1, HxWx3 or HxWx4 image")
    origin.check_pixels(image.shape[1], image.shape[0], limits)
    return _to_bgr_unchecked(image, origin)


def _to_bgr_unchecked(image: np.ndarray, origin: Origin) -> np.ndarray:
    if image.dtype != np.uint8:
        if image.dtype.kind not in "uif":
            raise origin.error(f"has unsupported pixel type {image.dtype}: expected uint8 (or another integer or "
                               "float type, clipped to 0-255)")
        if image.dtype.kind == "f":
            if not np.isfinite(image).all():
                raise origin.error(f"holds NaN or infinite pixels ({image.dtype})")
            if image.max(initial=0) <= 1.0:
                raise origin.error(f"has {image.dtype} pixels scaled to [0, 1]: expected uint8 pixels (0-255)")
        image = np.clip(image, 0, 255).astype(np.uint8)
    try:
        if image.ndim == 2 or image.shape[2] == 1:
            return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
        if image.shape[2] == 4:
            return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    except cv2.error as exc:
        raise origin.error(f"could not be converted to BGR: {exc}") from exc
    return image


def _iter_path(source: str, limits: DecodeLimits) -> Iterator[InputItem]:
    origin = Origin.of_path(source)
    if is_url(source):
        yield from _iter_url(origin, limits)
        return
    try:
        path = Path(source).expanduser()
        if path.is_dir():
            # a FIFO or device named like an image is listed too, and refused by name when read, not skipped silently
            files = sorted(str(p) for p in path.rglob("*") if p.suffix.lower() in _SUFFIXES and not p.is_dir())
        elif not path.exists():
            yield origin.failed(origin.error("does not exist"))
            return
        else:
            files = None
    except (OSError, RuntimeError) as exc:  # RuntimeError: expanduser without a home directory
        yield origin.failed(origin.error(f"could not be listed: {exc}", exc))
        return
    if files is None:
        yield from _iter_file(origin, path, limits)
    elif not files:
        yield origin.failed(origin.error("is a directory that holds no image or PDF files"))
    else:
        for file in files:
            yield from _iter_file(Origin.of_path(file), Path(file), limits)


def _iter_file(origin: Origin, path: Path, limits: DecodeLimits) -> Iterator[InputItem]:
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        yield origin.failed(origin.error(f"is not a supported file type ({', '.join(_SUFFIXES)})"))
        return

    def read() -> bytes:
        try:
            return read_regular_file(path, origin)
        except OSError as exc:
            raise origin.error(f"could not be read: {exc}") from exc

    yield from iter_data(origin, suffix, read, limits)


def read_regular_file(path: Path, origin: "Origin") -> bytes:
    """The bytes of a regular file of at most MAX_INPUT_FILE_BYTES. A FIFO, device or socket is refused: a FIFO
    blocked the reader forever, a link to /dev/zero read until memory ran out. Opened without blocking (a FIFO
    with no writer would wait in open), then checked on the open file, so a swap after a check cannot slip by."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(descriptor, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise origin.error("is not a regular file (a FIFO, device or socket): only files are read")
        if info.st_size > MAX_INPUT_FILE_BYTES:
            raise origin.error(f"is {info.st_size:,} bytes, above the {MAX_INPUT_FILE_BYTES:,}-byte limit on an "
                               "input file")
        data = file.read(MAX_INPUT_FILE_BYTES + 1)  # a file growing while it is read stops at the limit
    if len(data) > MAX_INPUT_FILE_BYTES:
        raise origin.error(f"grew above the {MAX_INPUT_FILE_BYTES:,}-byte limit on an input file while it was read")
    return data


def iter_data(origin: Origin, suffix: str, read: Callable[[], bytes], limits: DecodeLimits) -> Iterator[InputItem]:
    """A file or a download: one image, read when loaded, or a document, read now (its page count decides how
    many items follow) and each page rendered now too, after its size is checked; the document is closed once
    expansion is past its last page."""
    pages = _pdf_pages if suffix == PDF_SUFFIX else _tiff_pages if suffix in TIFF_SUFFIXES else None
    if pages is None:
        yield origin.item(lambda: decode_image(read(), origin, limits))
        return
    try:
        data = read()
        if not data:
            raise origin.error("is empty (0 bytes)")
    except InputError as exc:
        yield origin.failed(exc)
        return
    yield from pages(origin, data, limits)


def decode_image(data: bytes, origin: Origin, limits: DecodeLimits) -> np.ndarray:
    """As PaddleX: always 3-channel BGR (gray replicated, alpha dropped, 16-bit reduced), EXIF orientation applied;
    the size is checked from the header before decoding (ours for PNG, JPEG, BMP, WebP, PNM/PAM/PFM, Sun raster;
    Pillow's for other formats it reads; a format neither can size is refused), else after it (a JPEG whose
    height comes after its frame header)."""
    if not data:
        raise origin.error("is empty (0 bytes)")
    size = image_size(data)
    if size is None and limits.sized_first and not _sized_by_header(data):
        size = _size_from_pillow(data, origin)  # another format OpenCV would decode whole first (JPEG 2000...)
    if size is not None:
        origin.check_pixels(*size, limits)
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    except cv2.error as exc:  # e.g. above OpenCV's own CV_IO_MAX_IMAGE_PIXELS
        raise origin.error(f"could not be decoded as an image: {exc}") from exc
    if image is None:
        raise origin.error(f"could not be decoded as an image ({len(data):,} bytes, not a readable image format)")
    if size is None:
        origin.check_pixels(image.shape[1], image.shape[0], limits)
    return image


_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT, JPG, DAC)
_PNM_HEADER = re.compile(rb"P[1-6](?:\s+|#[^\n]*\n)+(\d+)(?:\s+|#[^\n]*\n)+(\d+)")
_PAM_FIELD = re.compile(rb"^(WIDTH|HEIGHT)\s+(\d+)\s*$", re.MULTILINE)
_PFM_HEADER = re.compile(rb"P[Ff]\s+(\d+)\s+(\d+)\s")
# Signatures of the formats image_size reads: a header of theirs that does not parse is left to decoding (a JPEG
# whose height comes later, in a DNL marker); any other format has its size read by Pillow first, or is refused.
_SIGNATURES = (b"\x89PNG", b"\xff\xd8", b"BM", b"\x59\xa6\x6a\x95")
_NETPBM_SIGNATURE = re.compile(rb"P[1-7Ff]")  # PNM, PAM, PFM


def _sized_by_header(data: bytes) -> bool:
    return data.startswith(_SIGNATURES) or (data[:4] == b"RIFF" and data[8:12] == b"WEBP") or \
        bool(_NETPBM_SIGNATURE.match(data))


def _size_from_pillow(data: bytes, origin: "Origin") -> Tuple[int, int]:
    """(width, height) of an image in another format, from its header as Pillow reads it (TIFF, JPEG 2000, GIF...),
    before anything decodes it. A format Pillow cannot size (Radiance HDR, OpenEXR) is refused: OpenCV decoded those
    whole before any size check (a 1 KB JPEG 2000 of 16384 x 16384 cost 1.8 GB and 11 s)."""
    from PIL import Image, UnidentifiedImageError

    # Errors without their cause: its traceback would hold the reading frames, and with them a predictor's whole
    # window of images, for as long as the error lives (the soak's bad inputs grew memory so)
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Image.DecompressionBombError as exc:
        problem = f"is above Pillow's own pixel limit, read from its header: {exc}"
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        problem = (f"could not be decoded as an image ({len(data):,} bytes, not a format whose size is read from its "
                   "header before decoding: PNG, JPEG, BMP, WebP, PNM/PAM/PFM, Sun raster, TIFF, or another Pillow "
                   "sizes, such as JPEG 2000)")
    raise origin.error(problem)


def image_size(data: bytes) -> Optional[Tuple[int, int]]:
    """(width, height) read from the header of a PNG, JPEG, BMP, WebP, PNM, PAM, PFM or Sun raster image, without
    decoding it; None for another format or a header that does not parse."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if data[:2] == b"\xff\xd8":
            return _jpeg_size(data)
        if data[:2] == b"BM":
            if struct.unpack("<I", data[14:18])[0] == 12:  # OS/2 BITMAPCOREHEADER
                return struct.unpack("<HH", data[18:22])
            width, height = struct.unpack("<ii", data[18:26])  # height < 0: stored top-down
            return abs(width), abs(height)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            chunk = data[12:16]
            if chunk == b"VP8 ":  # lossy
                width, height = struct.unpack("<HH", data[26:30])
                return width & 0x3FFF, height & 0x3FFF
            if chunk == b"VP8L":  # lossless: 14 bits each of width - 1, height - 1
                bits = struct.unpack("<I", data[21:25])[0]
                return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
            if chunk == b"VP8X":  # extended: 24 bits each of canvas width - 1, height - 1
                return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
            return None
        if data[:4] == b"\x59\xa6\x6a\x95":  # Sun raster
            return struct.unpack(">II", data[4:12])
        match = _PNM_HEADER.match(data, 0, 1024)
        if match:
            return int(match.group(1)), int(match.group(2))
        match = _PFM_HEADER.match(data, 0, 1024)
        if match:
            return int(match.group(1)), int(match.group(2))
        if data[:3] == b"P7\n":
            fields = dict(_PAM_FIELD.findall(data[:1024].split(b"ENDHDR")[0]))
            if b"WIDTH" in fields and b"HEIGHT" in fields:
                return int(fields[b"WIDTH"]), int(fields[b"HEIGHT"])
    except struct.error:  # too short
        pass
    return None


def _jpeg_size(data: bytes) -> Optional[Tuple[int, int]]:
    index = 2
    while index + 9 <= len(data) and data[index] == 0xFF:
        marker = data[index + 1]
        if marker == 0xFF:  # fill byte
            index += 1
        elif marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[index + 5:index + 9])
            return (width, height) if height else None  # height 0: defined later by a DNL marker
        elif marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header before it
            return None
        elif marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            index += 2
        else:
            index += 2 + struct.unpack(">H", data[index + 2:index + 4])[0]
    return None


# -- documents: one item per page ---------------------------------------------------------------------------------

def _page_item(origin: Origin, index: int, render: Callable[[Origin], np.ndarray]) -> InputItem:
    page = Origin.of_path(origin.source, index)
    try:
        image = render(page)
    except InputError as exc:
        return page.failed(exc)
    return page.item(lambda: image)


def _tiff_pages(origin: Origin, data: bytes, limits: DecodeLimits) -> Iterator[InputItem]:
    """Every frame of a TIFF (page_index 0 for a single-frame file too, as PaddleX), decoded by Pillow as
    PaddleX does. A file with a TIFF suffix that holds another format is one image, decoded by OpenCV."""
    if data[:4] not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        yield origin.item(lambda: decode_image(data, origin, limits))
        return
    from PIL import TiffImagePlugin

    try:
        # The plugin class reads the header only, without Image.open's own decompression-bomb check, so that this
        # module's limit is checked first (Pillow checks again when a frame loads: see _tiff_frame).
        tiff = TiffImagePlugin.TiffImageFile(io.BytesIO(data))
        frames = getattr(tiff, "n_frames", 1)
    except Exception as exc:  # Pillow raises SyntaxError, OSError, struct.error, ... for a broken file
        yield origin.failed(origin.error(f"could not be decoded as a TIFF image: {exc}", exc))
        return
    for index in range(frames):
        yield _page_item(origin, index, lambda page: _tiff_frame(tiff, index, page, limits))


def _tiff_frame(tiff, index: int, page: Origin, limits: DecodeLimits) -> np.ndarray:
    from PIL import Image

    try:
        tiff.seek(index)
        page.check_pixels(*tiff.size, limits)
        rgb = np.asarray(tiff.convert("RGB"))
    except InputError:
        raise
    except Image.DecompressionBombError as exc:
        # Pillow checks a frame again as it loads it: its limit (PIL.Image.MAX_IMAGE_PIXELS, the default limit here
        # too) can refuse a TIFF frame only if this one was raised above it, or Pillow's lowered.
        raise page.error("is above Pillow's own limit, which also applies to TIFF frames (raise "
                         f"PIL.Image.MAX_IMAGE_PIXELS too): {exc}") from exc
    except Exception as exc:
        raise page.error(f"could not be decoded as a TIFF frame: {exc}") from exc
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _pdf_pages(origin: Origin, data: bytes, limits: DecodeLimits) -> Iterator[InputItem]:
    require("pypdfium2")  # here, for its error naming the extra; it runs in the render process
    from .pdf_render import PdfDocument, RenderError

    try:
        document = PdfDocument(data, limits.pdf_page_timeout_s, limits.cancelled)
    except RenderError as exc:
        yield origin.failed(origin.error(f"could not be opened as a PDF: {exc}"))
        return
    try:
        for index in range(document.pages):
            yield _page_item(origin, index, lambda page: _pdf_page(document, index, page, limits))
    finally:
        document.close()


def _pdf_page(document, index: int, page: Origin, limits: DecodeLimits) -> np.ndarray:
    from .pdf_render import RenderError

    try:
        width, height = document.page_size(index)  # points; rendered as ceil(points x scale) pixels
        page.check_pixels(math.ceil(width * PDF_RENDER_SCALE), math.ceil(height * PDF_RENDER_SCALE), limits)
        image = document.render(index, PDF_RENDER_SCALE, limits.max_image_pixels, limits.pdf_page_timeout_s,
                                limits.cancelled)
    except RenderError as exc:
        raise page.error(f"could not be rendered: {exc}") from None
    return _to_bgr_unchecked(image, page)  # pdfium renders BGR byte order, what the pipeline wants


# -- URLs ---------------------------------------------------------------------------------------------------------

def _iter_url(origin: Origin, limits: DecodeLimits) -> Iterator[InputItem]:
    """By the URL path's suffix: a PDF or TIFF is downloaded now, one image when loaded (in the reading thread)."""
    url = origin.source
    suffix = Path(urllib.parse.urlparse(url).path).suffix.lower()
    yield from iter_data(origin, suffix, lambda: fetch_url(url), limits)


def fetch_url(url: str, timeout: float = URL_TIMEOUT_S) -> bytes:
    """The body of `url` under the library's URL policy (hpi/urls.py): at most an input file's limit
    (MAX_INPUT_FILE_BYTES, checked on Content-Length and while reading: an endless body was read until memory ran
    out), each read within `timeout`."""
    return fetch(url, library_policy(max_bytes=MAX_INPUT_FILE_BYTES, timeout_s=timeout),
                 label=Origin.of_path(url).label, source=url)
