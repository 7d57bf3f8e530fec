"""Drawing helpers for result images: the bundled fonts and a caption strip under an image.

A caption is split into runs by the font that covers each character: the font named by HPI_FONT_PATH (or
PaddleX's PADDLE_PDX_LOCAL_FONT_FILE_PATH) first, then the Noto subsets shipped in hpi/fonts (Latin/Greek/
Cyrillic, CJK + Hangul + kana, Arabic, Devanagari, Tamil, Telugu, Kannada, Thai, Georgian, Coptic, maths,
symbols), then fonts found on the system (fc-list, else the usual font folders); which characters a font has is
read from its cmap by fontTools. Spaces, digits, punctuation and combining marks stay in the font of the run they
are in when it has them. The runs share one baseline; right-to-left stretches (Arabic script) are laid out right
to left, shaped by libraqm when Pillow has it. The font and coverage caches are shared by threads.

Drawing never fails on an image the pipeline accepted: a drawing that would be larger than MAX_DRAWN_SIDE or
MAX_DRAWN_PIXELS is made from the image scaled down to fit, keeping its aspect ratio (`fit_for_drawing`).
"""
from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import threading
import unicodedata
from functools import lru_cache
from pathlib import Path
from typing import FrozenSet, List, NamedTuple, Optional, Tuple

import numpy as np

FONT_DIR = Path(__file__).parent / "fonts"
BUNDLED_FONT = FONT_DIR / "NotoSansCJKsc-Regular-subset.otf"
# Shipped fonts in order of preference (README.md in FONT_DIR says where each comes from).
SHIPPED_FONTS = tuple(FONT_DIR / name for name in (
    "NotoSans-Regular-subset.ttf", BUNDLED_FONT.name, "NotoSansArabic-Regular-subset.ttf",
    "NotoSansDevanagari-Regular-subset.ttf", "NotoSansTamil-Regular-subset.ttf", "NotoSansTelugu-Regular-subset.ttf",
    "NotoSansKannada-Regular-subset.ttf", "NotoSansThai-Regular-subset.ttf", "NotoSansGeorgian-Regular-subset.ttf",
    "NotoSansCoptic-Regular-subset.ttf", "NotoSansMath-Regular-subset.ttf", "NotoSansSymbols-Regular-subset.ttf",
    "NotoSansSymbols2-Regular-subset.ttf"))
# PaddleX's variable for a local font that overrides all others; honoured the same way here.
FONT_ENV_VARS = ("HPI_FONT_PATH", "PADDLE_PDX_LOCAL_FONT_FILE_PATH")
MIN_FONT_SIZE = 6
SYSTEM_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts",
                    "/Library/Fonts", "/System/Library/Fonts", "~/Library/Fonts", r"C:\Windows\Fonts")
MAX_SCANNED_SYSTEM_FONTS = 400
# A drawing's largest side: WebP's (JPEG's is 65,535). A 1,000,000 x 16 line asked a 60,000 px caption font of Pillow
# (OSError: invalid argument), a 200,000 x 8 one a 1.8 G pixel canvas (12 GB, DecompressionBombError).
MAX_DRAWN_SIDE = 16383
MAX_DRAWN_PIXELS = 89_478_485  # Pillow's MAX_IMAGE_PIXELS (and hpi's default max_image_pixels)
CAPTION_HEIGHT = 0.12  # caption strip height / width at most: a font of 6% of the width, ascent, descent and pads


class Face(NamedTuple):
    path: str
    index: int = 0


def override_font_path() -> Optional[str]:
    """The font file named by the first of FONT_ENV_VARS that is set to an existing file, or None."""
    for name in FONT_ENV_VARS:
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return value
    return None


def font_path() -> str:
    """The env override font if set (and a file), else the bundled CJK font."""
    return override_font_path() or str(BUNDLED_FONT)


@lru_cache(maxsize=1)
def has_raqm() -> bool:
    from PIL import features

    return bool(features.check("raqm"))


@lru_cache(maxsize=512)
def face_font(face: Face, size: int):
    """The Pillow font of `face` at `size` px, shared by every caller and thread (Pillow holds the GIL while
    FreeType draws with a face)."""
    from PIL import ImageFont

    engine = ImageFont.Layout.RAQM if has_raqm() else ImageFont.Layout.BASIC
    return ImageFont.truetype(face.path, size, index=face.index, layout_engine=engine)


def file_font(path: str, size: int):
    """The Pillow font of the first face of the font file `path` at `size` px."""
    return face_font(Face(str(path)), size)


@lru_cache(maxsize=None)
def font_codes(face: Face) -> FrozenSet[int]:
    """The code points `face` has glyphs for: the keys of its best Unicode cmap subtable, as fontTools picks it
    (empty for a file that is not a TrueType/OpenType font). lazy: only the cmap table is read."""
    from fontTools.ttLib import TTFont

    try:
        with TTFont(face.path, fontNumber=face.index, lazy=True) as font:
            return frozenset(font.getBestCmap() or ())
    except Exception:  # fontTools raises what the broken file leads it to (TTLibError, struct.error, KeyError, ...)
        return frozenset()


# --- system fallback for characters no shipped font has -----------------------------------------------------

# System fonts found so far (tried before searching again) and the files found in SYSTEM_FONT_DIRS, listed once.
# One search at a time: threads drawing at once would list the folders twice and add a face twice.
_system_faces: List[Face] = []
_scanned_files: List[str] = []
_system_search = threading.Lock()


def _fc_list_faces(char: str) -> List[Face]:
    try:
        out = subprocess.run(["fc-list", "-f", "%{file}\t%{index}\t%{style}\n", f":charset={ord(char):x}"],
                             capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    found = []
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3 and parts[0].lower().endswith((".ttf", ".otf", ".ttc", ".otc")):
            index = int(parts[1]) & 0xFFFF if parts[1].isdigit() else 0  # high bits: a named instance
            plain = not any(word in parts[2].lower() for word in ("bold", "italic", "oblique", "light", "thin",
                                                                  "black", "heavy", "condensed", "mono"))
            found.append((not plain, parts[0], Face(parts[0], index)))
    return [face for _, _, face in sorted(found)]


def _font_dir_faces():
    if not _scanned_files:
        dirs = [Path(os.path.expanduser(d)) for d in SYSTEM_FONT_DIRS]
        if sys.platform == "win32" and os.environ.get("WINDIR"):
            dirs.append(Path(os.environ["WINDIR"]) / "Fonts")
        files = sorted(str(p) for d in dirs if d.is_dir() for p in d.rglob("*")
                       if p.suffix.lower() in (".ttf", ".otf", ".ttc", ".otc"))
        _scanned_files.extend(files[:MAX_SCANNED_SYSTEM_FONTS] or [""])
    return (Face(path) for path in _scanned_files if path)


@lru_cache(maxsize=4096)
def system_face_for(char: str) -> Optional[Face]:
    """A font installed on this machine that has `char`, or None."""
    code = ord(char)
    with _system_search:
        for face in _system_faces:
            if code in font_codes(face):
                return face
        candidates = _fc_list_faces(char) if shutil.which("fc-list") else _font_dir_faces()
        for face in candidates:
            if code in font_codes(face) and _scalable(face):
                _system_faces.append(face)
                return face
    return None


def _scalable(face: Face) -> bool:
    """Whether Pillow draws `face` at any size (not so for bitmap-only fonts such as colour emoji)."""
    try:
        face_font(face, 13)
        return True
    except OSError:
        return False


# --- splitting a caption into runs ---------------------------------------------------------------------------

def caption_faces() -> List[Face]:
    """The fonts tried for each character, in order (system fonts come after these)."""
    override = override_font_path()
    return ([Face(override)] if override else []) + [Face(str(path)) for path in SHIPPED_FONTS]


def _sticky(char: str) -> bool:
    """Spaces, digits, punctuation, marks, joiners: characters that stay in the font of the run they are in."""
    return unicodedata.bidirectional(char) not in ("L", "R", "AL") or unicodedata.category(char)[0] == "M"


def face_for(char: str, faces: List[Face]) -> Optional[Face]:
    code = ord(char)
    for face in faces:
        if code in font_codes(face):
            return face
    return system_face_for(char)


class Run(NamedTuple):
    text: str
    face: Face
    rtl: bool


def _rtl_flags(text: str) -> List[bool]:
    """True for the characters of a right-to-left stretch: from a strong right-to-left character to the last
    one before the next strong left-to-right character (what lies between, digits too, goes with them).

    Not the Unicode bidi algorithm (python-bidi, FriBiDi in raqm) over the whole caption: under it the score after
    Arabic text, "مرحبا (0.98)", joins the right-to-left stretch (rule W2 makes its digits Arabic numbers) and is
    drawn at the left of the text; here it stays on the right, as in every other caption. Inside a stretch raqm
    applies that algorithm (digits read left to right)."""
    strong = ["R" if unicodedata.bidirectional(c) in ("R", "AL") else
              "L" if unicodedata.bidirectional(c) == "L" else "" for c in text]
    before, last = [], ""
    for kind in strong:
        last = kind or last
        before.append(last)
    after, last = [], ""
    for kind in reversed(strong):
        last = kind or last
        after.append(last)
    after.reverse()
    return [b == "R" and a == "R" for b, a in zip(before, after)]


def split_runs(text: str, faces: Optional[List[Face]] = None) -> List[Run]:
    """`text` as runs of one font and one direction, in logical order."""
    faces = caption_faces() if faces is None else faces
    runs: List[Run] = []
    chosen: List[Face] = []
    current: Optional[Face] = None
    for char in text:
        if current is not None and _sticky(char) and ord(char) in font_codes(current):
            face = current
        else:
            face = face_for(char, faces) or current or faces[0]
        chosen.append(face)
        current = face
    for char, face, rtl in zip(text, chosen, _rtl_flags(text)):
        if runs and runs[-1].face == face and runs[-1].rtl == rtl:
            runs[-1] = runs[-1]._replace(text=runs[-1].text + char)
        else:
            runs.append(Run(char, face, rtl))
    return runs


def visual_order(runs: List[Run]) -> List[Run]:
    """Runs from left to right: each stretch of right-to-left runs reversed."""
    ordered, stretch = [], []
    for run in runs:
        if run.rtl:
            stretch.append(run)
            continue
        ordered.extend(reversed(stretch))
        stretch = []
        ordered.append(run)
    return ordered + list(reversed(stretch))


# --- sizing and drawing --------------------------------------------------------------------------------------

def _largest_size(measure, width: int) -> int:
    """The largest size from 6% of `width` (as PaddleX starts) down to MIN_FONT_SIZE whose `measure(size)` fits
    `width`: one measurement at the start size, a linear guess, then steps of one."""
    start = max(MIN_FONT_SIZE, int(width * 0.06))
    length = measure(start)
    if length <= width:
        return start
    size = max(MIN_FONT_SIZE, min(start - 1, int(start * width / length)))
    while size < start - 1 and measure(size + 1) <= width:
        size += 1
    while size > MIN_FONT_SIZE and measure(size) > width:
        size -= 1
    return size


def fitting_font(text: str, width: int, path: str):
    """The largest font of `path`, starting at 6% of the width as PaddleX does, in which `text` fits `width`."""
    return file_font(path, _largest_size(lambda size: file_font(path, size).getbbox(text)[2], width))


def drawn_text(run: Run) -> Tuple[str, Optional[str]]:
    """The text to hand Pillow and its direction: raqm lays right-to-left runs out itself; without raqm the
    characters are reversed (glyphs show, unjoined)."""
    if not run.rtl:
        return run.text, ("ltr" if has_raqm() else None)
    return (run.text, "rtl") if has_raqm() else (run.text[::-1], None)


def run_width(run: Run, size: int) -> float:
    text, direction = drawn_text(run)
    return face_font(run.face, size).getlength(text, direction=direction)


class Placed(NamedTuple):
    x: float  # left edge in the strip
    width: float
    run: Run
    font: object  # the PIL font, at the caption's size


def caption_layout(text: str, width: int) -> Tuple[int, List[Placed], int, int]:
    """(font size, runs placed left to right, ink top and bottom relative to the baseline) of a caption."""
    runs = visual_order(split_runs(text))
    size = _largest_size(lambda s: sum(run_width(run, s) for run in runs), width)
    placed, x, top, bottom = [], 0.0, 0, 0
    for run in runs:
        font = face_font(run.face, size)
        run_text, direction = drawn_text(run)
        box = font.getbbox(run_text, direction=direction, anchor="ls")
        top, bottom = min(top, box[1]), max(bottom, box[3])
        placed.append(Placed(x, run_width(run, size), run, font))
        x += placed[-1].width
    return size, placed, top, bottom


def drawing_scale(width: float, height: float) -> float:
    """The factor (at most 1) that brings a width x height drawing within MAX_DRAWN_SIDE and MAX_DRAWN_PIXELS."""
    return min(1.0, MAX_DRAWN_SIDE / max(width, height), math.sqrt(MAX_DRAWN_PIXELS / (width * height)))


def fit_for_drawing(image_bgr: np.ndarray, width: float, height: float) -> Tuple[np.ndarray, float]:
    """The image, scaled down if a drawing of `width` x `height` made from it would exceed MAX_DRAWN_SIDE or
    MAX_DRAWN_PIXELS, and the factor applied (1.0: the image itself): draw what lies on the image scaled by it."""
    scale = drawing_scale(width, height)
    if scale >= 1.0:
        return image_bgr, 1.0
    import cv2

    h, w = image_bgr.shape[:2]
    size = (max(1, int(w * scale)), max(1, int(h * scale)))
    return cv2.resize(np.ascontiguousarray(image_bgr), size, interpolation=cv2.INTER_AREA), scale


def caption_below(image_bgr: np.ndarray, text: str):
    """The image (BGR array) above a white strip with `text` in black, as a PIL RGB image."""
    from PIL import Image, ImageDraw

    h, w = image_bgr.shape[:2]
    image_bgr, _ = fit_for_drawing(image_bgr, w, h + CAPTION_HEIGHT * w)  # bounds the font, and so the strip
    image = Image.fromarray(np.ascontiguousarray(image_bgr[:, :, ::-1])).convert("RGB")
    width, height = image.size
    size, placed, top, bottom = caption_layout(text, width)
    pad = max(1, size // 10)
    baseline = height + pad - top
    canvas = Image.new("RGB", (width, int(baseline + bottom + 2 * pad)), (255, 255, 255))
    canvas.paste(image, (0, 0))
    draw = ImageDraw.Draw(canvas)
    for x, _, run, font in placed:
        run_text, direction = drawn_text(run)
        draw.text((x, baseline), run_text, fill=(0, 0, 0), font=font, anchor="ls", direction=direction)
    scale = drawing_scale(*canvas.size)  # below 1 only by the few pixels of a minimal strip under a tall image
    if scale < 1.0:
        canvas = canvas.resize((max(1, int(canvas.width * scale)), max(1, int(canvas.height * scale))))
    return canvas
