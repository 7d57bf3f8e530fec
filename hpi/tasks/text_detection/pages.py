"""Pages to time text detection on: rendered at the sizes photos and scans have when they reach predict, or the
user's own photos read from a folder."""
from __future__ import annotations

from itertools import cycle
from typing import List, Optional

import cv2
import numpy as np

from ...errors import ConfigError, InputError
from ...inputs import iter_inputs

# (height, width): phone photos (12 MP, both ways round), A4 scans at 300 and 200 dpi, a 1080p screenshot, a photo
# as messaging apps send it, a long receipt, a small photo.
PAGE_SIZES = ((4032, 3024), (3024, 4032), (3508, 2480), (2339, 1654), (1080, 1920), (1600, 1200), (2000, 800),
              (720, 1280))
PAPER = 235


def render_pages(count: int, seed: int = 0) -> List[np.ndarray]:
    """`count` BGR pages of rendered text lines (bundled font) at PAGE_SIZES in turn, text scaled with the page
    (lines 40-80 px high on a 1,000 px short side, twice that on a 12 MP photo), deterministic from `seed`."""
    from ..text_recognition.textlines import render_lines

    rng = np.random.default_rng(seed)
    lines = cycle([image for image, _ in render_lines(48, seed=seed)])
    pages = []
    for index in range(count):
        height, width = PAGE_SIZES[index % len(PAGE_SIZES)]
        scale = max(1.0, min(height, width) / 1500)
        page = np.full((height, width, 3), PAPER, dtype=np.uint8)
        y = int(rng.integers(10, 60))
        for line in lines:
            line = cv2.resize(line, None, fx=scale, fy=scale) if scale > 1 else line
            h, w = line.shape[:2]
            if y + h > height - 10:
                break
            w = min(w, width - 20)
            x = int(rng.integers(10, max(11, width - w - 10)))
            page[y:y + h, x:x + w] = line[:, :w]
            y += h + int(rng.integers(4, 30) * scale)
        pages.append(page)
    return pages


def read_photos(folder, count: Optional[int] = None) -> List[np.ndarray]:
    """The images (and PDF pages) in `folder`, in name order, the first `count` of them; a ConfigError when there
    are none or one cannot be read."""
    images = []
    try:
        for item in iter_inputs(str(folder)):
            images.append(item.load())
            if count is not None and len(images) == count:
                break
    except InputError as exc:
        raise ConfigError(f"--val_data: {exc}") from None
    if not images:
        raise ConfigError(f"--val_data {str(folder)!r} holds no images to time text detection on")
    return images
