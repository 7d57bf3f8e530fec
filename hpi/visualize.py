"""Drawing helpers for result images: the bundled CJK font and a caption strip under an image."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

import numpy as np

BUNDLED_FONT = Path(__file__).parent / "fonts" / "NotoSansCJKsc-Regular-subset.otf"
# PaddleX's variable for a local font that overrides all others; honoured the same way here.
FONT_ENV_VARS = ("HPI_FONT_PATH", "PADDLE_PDX_LOCAL_FONT_FILE_PATH")
MIN_FONT_SIZE = 6


def font_path() -> str:
    for name in FONT_ENV_VARS:
        value = os.environ.get(name)
        if value and Path(value).is_file():
            return value
    return str(BUNDLED_FONT)


@lru_cache(maxsize=64)
def _font(path: str, size: int):
    from PIL import ImageFont

    return ImageFont.truetype(path, size)


def fitting_font(text: str, width: int, path: str):
    """The largest font, starting at 6% of the width as PaddleX does, in which `text` fits `width`."""
    size = max(MIN_FONT_SIZE, int(width * 0.06))
    font = _font(path, size)
    while size > MIN_FONT_SIZE and font.getbbox(text)[2] > width:
        size -= 1
        font = _font(path, size)
    return font


def caption_below(image_bgr: np.ndarray, text: str):
    """The image (BGR array) above a white strip with `text` in black, as a PIL RGB image."""
    from PIL import Image, ImageDraw

    image = Image.fromarray(np.ascontiguousarray(image_bgr[:, :, ::-1])).convert("RGB")
    width, height = image.size
    font = fitting_font(text, width, font_path())
    row_height = font.getbbox(text)[3]
    canvas = Image.new("RGB", (width, height + int(row_height * 1.2)), (255, 255, 255))
    canvas.paste(image, (0, 0))
    ImageDraw.Draw(canvas).text((0, height), text, fill=(0, 0, 0), font=font)
    return canvas
