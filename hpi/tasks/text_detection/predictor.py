"""TextDetection: PaddleX's text detection module API on any backend."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...errors import ModelDirError
from ...inputs import InputItem
from ...runtime.tuning import TuningWorkload
from ..options import checked_options
from ..predictor import Predictor, predict_workload
from .postprocess import DBPostProcess, DBSettings
from .preprocess import DEFAULT_MAX_SIDE_LIMIT, LIMIT_TYPES, DetPreprocess
from .result import TextDetResult

TUNING_PAGES = 8  # rendered pages `auto_config='tune'` times the backends on


@dataclass(frozen=True)
class DetOptions:
    """predict()'s keyword arguments, resolved against the model's defaults."""

    limit_side_len: int
    limit_type: str
    max_side_limit: int
    thresh: float
    box_thresh: float
    unclip_ratio: float


# pixels: twice PaddleX's default max_side_limit of 4000. Memory grows with the input's pixels: PP-OCRv4_mobile_det
# on a 4000 x 4000 input peaked at 2.9 GB here, so ~12 GB at 8192; 16384 ran a 23 GB machine out of memory.
MAX_SIDE = 8192
# Past PaddleX's models' 1.4-2.0 a box grows over the whole image well before 100; the offset's round corners take
# about pi * sqrt(2 * distance) points each, so a ratio of 1e15 ran out of memory and 1e30 divided by zero.
MAX_UNCLIP_RATIO = 100


def _side(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 < value <= MAX_SIDE


def finite_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and bool(np.isfinite(value))


# predict() argument -> (check, what is allowed): the one place these options are checked, for TextDetection and
# the OCR pipeline (library, CLI and server alike). Zero is refused where PaddleX would silently use the default
# instead (it tests `value or default`).
OPTION_CHECKS: Dict[str, Tuple[Callable[[Any], bool], str]] = {
    "limit_side_len": (_side, f"an integer from 1 to {MAX_SIDE} (pixels)"),
    "limit_type": (lambda v: v in LIMIT_TYPES, f"one of {list(LIMIT_TYPES)}"),
    "max_side_limit": (_side, f"an integer from 1 to {MAX_SIDE} (pixels)"),
    "thresh": (lambda v: finite_number(v) and 0 < v < 1, "a number in (0, 1): the pixel probability threshold"),
    "box_thresh": (lambda v: finite_number(v) and 0 < v <= 1, "a number in (0, 1]: the box score threshold"),
    "unclip_ratio": (lambda v: finite_number(v) and 0 < v <= MAX_UNCLIP_RATIO,
                     f"a number in (0, {MAX_UNCLIP_RATIO}]: how far boxes are expanded"),
}


class TextDetection(Predictor):
    """`TextDetection(model_name, model_dir, device, use_hpip, hpi_config).predict(input, batch_size,
    limit_side_len, limit_type, thresh, box_thresh, unclip_ratio, max_side_limit)`.

    Each argument left None takes the model's default as PaddleX 3.7.2 derives it (see preprocess.py and
    `defaults`). Batching never changes an output: a batch only ever holds images of equal input shape (PaddleX
    stacks a batch and fails on unequal shapes)."""

    task = "TextDetection"
    collate_pads = False

    def _setup(self) -> None:
        self.db_settings = DBSettings.from_config(self.model_dir.config)
        self.preprocessor = DetPreprocess.from_config(self.model_dir.config, self.model_name)
        self.db = DBPostProcess(self.db_settings)
        for key, value in self.defaults.items():  # a model's own values meet the ranges a caller's must
            check, allowed = OPTION_CHECKS[key]
            if not check(value):
                raise ModelDirError(f"{self.model_dir.path / 'inference.yml'}: {key} {value!r} is out of range: "
                                    f"expected {allowed}")

    @property
    def defaults(self) -> Dict[str, Any]:
        """What predict() uses for each argument left None, for this model."""
        return {"limit_side_len": self.preprocessor.limit_side_len, "limit_type": self.preprocessor.limit_type,
                "max_side_limit": DEFAULT_MAX_SIDE_LIMIT, "thresh": self.db_settings.thresh,
                "box_thresh": self.db_settings.box_thresh, "unclip_ratio": self.db_settings.unclip_ratio}

    def options(self, **overrides) -> DetOptions:
        return DetOptions(**checked_options(self.task, overrides, self.defaults, OPTION_CHECKS))

    def preprocess(self, image: np.ndarray, options: DetOptions) -> Tuple[np.ndarray, Tuple[int, int]]:
        """One BGR image -> (3xHxW model input, the image's (h, w))."""
        return self.preprocessor(image, options.limit_side_len, options.limit_type, options.max_side_limit)

    def postprocess(self, output: np.ndarray, metas: Sequence[Tuple[int, int]], images,
                    options: DetOptions) -> List[tuple]:
        return [self.db(pred, size, options.thresh, options.box_thresh, options.unclip_ratio)
                for pred, size in zip(output, metas)]

    def make_result(self, item: InputItem, image: np.ndarray, value: tuple) -> TextDetResult:
        polys, scores = value
        return TextDetResult(input_path=item.input_path, page_index=item.page_index, input_img=image,
                             dt_polys=polys, dt_scores=scores)

    def detect(self, images: Sequence[np.ndarray], batch_size: int = 1, **options) -> List[tuple]:
        """(dt_polys, dt_scores) of BGR images already in memory, as predict gives them."""
        return self.values(images, batch_size, **options)

    def tuning_workload(self) -> TuningWorkload:
        return detection_tuning_workload(self.model_dir)


def detection_tuning_workload(model_dir, pages: int = TUNING_PAGES, images=None) -> TuningWorkload:
    """`images` (the user's photos), else `pages` rendered pages at the sizes photos and scans have (pages.py),
    through predict's own path with the model's defaults; a candidate agrees on a page when its DB boxes are
    identical."""
    from .pages import render_pages

    images = list(images) if images is not None else render_pages(pages)
    blank = np.full((200, 3000, 3), 235, dtype=np.uint8)  # setup on a shape none of the pages has
    workload = predict_workload(TextDetection, model_dir, images, warmup=blank,
                                key=lambda value: tuple(np.asarray(value[0]).reshape(-1).tolist()))
    return replace(workload, unit="image", reduced="text detection has no accuracy gate for reduced precision yet")
