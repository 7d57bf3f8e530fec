"""DB (Differentiable Binarization) post-processing, as PaddleX 3.7.2's DBPostProcess.

The probability map is binarized at `thresh` (optionally dilated by a 2x2 kernel); each contour of the mask
(at most `max_candidates`, in OpenCV's order) becomes a box:
- "quad": the contour's minimum-area rectangle (skipped if its short side is under 3 px), scored by the mean
  probability inside it ("fast") or inside the contour ("slow"), kept if the score reaches `box_thresh`,
  expanded by `unclip_ratio` (Clipper round offset by area * ratio / perimeter), and the expansion's
  minimum-area rectangle (skipped under 5 px) scaled to the image; corners as int16, ordered top-left first;
- "poly": the contour simplified by approxPolyDP (epsilon 0.2% of its length), scored "fast", expanded the
  same way, kept as a polygon (skipped if the expansion splits, or its rectangle is under 5 px).
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Dict, List, Optional, Tuple, Union

import cv2
import numpy as np

from ...errors import ModelDirError
from .offset import clipper_vertices, offset_polygon

logger = logging.getLogger(__name__)

MIN_SIZE = 3
SCORE_MODES = ("fast", "slow")
BOX_TYPES = ("quad", "poly")

Boxes = Union[np.ndarray, List[np.ndarray]]


@dataclass(frozen=True)
class DBSettings:
    """PostProcess of inference.yml (per-call thresholds are passed to `DBPostProcess.__call__`)."""

    thresh: float = 0.3
    box_thresh: float = 0.6
    unclip_ratio: float = 2.0
    max_candidates: int = 1000
    use_dilation: bool = False
    score_mode: str = "fast"
    box_type: str = "quad"

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "DBSettings":
        post = config.get("PostProcess") or {}
        if not isinstance(post, dict):
            raise ModelDirError(f"PostProcess of inference.yml must be a mapping, found {post!r}")
        if post.get("name") != "DBPostProcess":
            raise ModelDirError(f"PostProcess.name {post.get('name')!r} of inference.yml is not supported; text "
                                "detection decodes DBPostProcess models")
        settings = cls(thresh=float(post.get("thresh", 0.3)), box_thresh=float(post.get("box_thresh", 0.6)),
                       unclip_ratio=float(post.get("unclip_ratio", 2.0)),
                       max_candidates=int(post.get("max_candidates", 1000)),
                       use_dilation=bool(post.get("use_dilation", False)),
                       score_mode=str(post.get("score_mode", "fast")), box_type=str(post.get("box_type", "quad")))
        if settings.score_mode not in SCORE_MODES:
            raise ModelDirError(f"PostProcess.score_mode {settings.score_mode!r} of inference.yml: expected one of "
                                f"{list(SCORE_MODES)}")
        if settings.box_type not in BOX_TYPES:
            raise ModelDirError(f"PostProcess.box_type {settings.box_type!r} of inference.yml: expected one of "
                                f"{list(BOX_TYPES)}")
        return settings


class DBPostProcess:
    def __init__(self, settings: DBSettings):
        self.settings = settings

    def __call__(self, pred: np.ndarray, src_size: Tuple[int, int], thresh: float, box_thresh: float,
                 unclip_ratio: float) -> Tuple[Boxes, List[float]]:
        """One image's 1xHxW (or HxW) probability map -> (boxes in image pixels, scores)."""
        pred = pred.reshape(pred.shape[-2:])
        segmentation = pred > thresh
        if self.settings.use_dilation:
            mask = cv2.dilate(segmentation.astype(np.uint8), np.array([[1, 1], [1, 1]]))
        else:
            mask = segmentation
        bitmap = mask.astype(np.uint8) * np.uint8(255)  # PaddleX's (mask * 255).astype(np.uint8)
        src_h, src_w = src_size
        if self.settings.box_type == "poly":
            return self._polygons(pred, bitmap, src_w, src_h, box_thresh, unclip_ratio)
        return self._quads(pred, bitmap, src_w, src_h, box_thresh, unclip_ratio)

    def _quads(self, pred, bitmap, dest_width, dest_height, box_thresh, unclip_ratio):
        height, width = bitmap.shape
        # float64 scales, as PaddleX (its image sizes travel in a float64 array)
        width_scale, height_scale = np.float64(dest_width) / width, np.float64(dest_height) / height
        contours = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)[-2]
        boxes, scores = [], []
        for contour in contours[: self.settings.max_candidates]:
            points, _ = mini_box(contour, MIN_SIZE)
            if points is None:
                continue
            if self.settings.score_mode == "fast":
                score = box_score_fast(pred, points)
            else:
                score = box_score_slow(pred, contour)
            if box_thresh > score:
                continue
            expanded = unclip(points, unclip_ratio)
            if len(expanded) == 0:
                continue
            box, _ = mini_box(expanded.reshape(-1, 1, 2), MIN_SIZE + 2)
            if box is None:
                continue
            boxes.append(scale_box(box, width_scale, height_scale, dest_width, dest_height).astype(np.int16))
            scores.append(score)
        return (np.array(boxes, dtype=np.int16) if boxes else np.zeros((0, 4, 2), dtype=np.int16)), scores

    def _polygons(self, pred, bitmap, dest_width, dest_height, box_thresh, unclip_ratio):
        height, width = bitmap.shape
        width_scale, height_scale = np.float64(dest_width) / width, np.float64(dest_height) / height
        contours = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)[-2]
        boxes, scores = [], []
        for contour in contours[: self.settings.max_candidates]:
            epsilon = 0.002 * cv2.arcLength(contour, True)
            points = cv2.approxPolyDP(contour, epsilon, True).reshape((-1, 2))
            if points.shape[0] < 4:
                continue
            score = box_score_fast(pred, points)
            if box_thresh > score:
                continue
            polygons = unclip_polygons(points, unclip_ratio)
            if len(polygons) != 1:
                continue
            box = polygons[0]
            if min(cv2.minAreaRect(box.reshape((-1, 1, 2)).astype(np.int32))[1]) < MIN_SIZE + 2:
                continue
            boxes.append(scale_box(box, width_scale, height_scale, dest_width, dest_height))
            scores.append(score)
        return boxes, scores


def mini_box(contour: np.ndarray, min_side: float = 0.0) -> Tuple[Optional[np.ndarray], float]:
    """The minimum-area rectangle's corners (float32, 4x2: top-left, top-right, bottom-right, bottom-left as
    PaddleX orders them) and its short side; corners are None when the short side is under `min_side`."""
    rect = cv2.minAreaRect(contour)
    short_side = min(rect[1])
    if short_side < min_side:
        return None, short_side
    corners = cv2.boxPoints(rect)
    points = sorted(list(corners), key=lambda p: p[0])
    left = (0, 1) if points[1][1] > points[0][1] else (1, 0)  # (top, bottom) of the two leftmost
    right = (2, 3) if points[3][1] > points[2][1] else (3, 2)
    box = np.array([points[left[0]], points[right[0]], points[right[1]], points[left[1]]])
    return box, short_side


def box_score_fast(bitmap: np.ndarray, box: np.ndarray) -> float:
    """Mean of `bitmap` inside polygon `box` (filled with its corners truncated to integers)."""
    h, w = bitmap.shape[:2]
    box = box.copy()
    xmin = max(0, min(math.floor(box[:, 0].min()), w - 1))
    xmax = max(0, min(math.ceil(box[:, 0].max()), w - 1))
    ymin = max(0, min(math.floor(box[:, 1].min()), h - 1))
    ymax = max(0, min(math.ceil(box[:, 1].max()), h - 1))
    mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), dtype=np.uint8)
    box[:, 0] = box[:, 0] - xmin
    box[:, 1] = box[:, 1] - ymin
    cv2.fillPoly(mask, box.reshape(1, -1, 2).astype(np.int32), 1)
    return cv2.mean(bitmap[ymin: ymax + 1, xmin: xmax + 1], mask)[0]


def box_score_slow(bitmap: np.ndarray, contour: np.ndarray) -> float:
    """Mean of `bitmap` inside the contour itself."""
    h, w = bitmap.shape[:2]
    contour = np.reshape(contour.copy(), (-1, 2))
    xmin = np.clip(np.min(contour[:, 0]), 0, w - 1)
    xmax = np.clip(np.max(contour[:, 0]), 0, w - 1)
    ymin = np.clip(np.min(contour[:, 1]), 0, h - 1)
    ymax = np.clip(np.max(contour[:, 1]), 0, h - 1)
    mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), dtype=np.uint8)
    contour[:, 0] = contour[:, 0] - xmin
    contour[:, 1] = contour[:, 1] - ymin
    cv2.fillPoly(mask, contour.reshape(1, -1, 2).astype(np.int32), 1)
    return cv2.mean(bitmap[ymin: ymax + 1, xmin: xmax + 1], mask)[0]


def unclip_distance(points: np.ndarray, unclip_ratio: float) -> float:
    return cv2.contourArea(points) * unclip_ratio / cv2.arcLength(points, True)


def unclip(points: np.ndarray, unclip_ratio: float) -> np.ndarray:
    """A quad's expansion, as the vertices pyclipper returns for it (N x 2 int32)."""
    return clipper_vertices(offset_polygon(points, unclip_distance(points, unclip_ratio)))


def unclip_polygons(points: np.ndarray, unclip_ratio: float) -> List[np.ndarray]:
    """A polygon's expansion as a list of polygons (a concave one can split), as PaddleX gets it from pyclipper.
    Without pyclipper installed (PaddleX's dependency, not hpi's): hpi's Clipper offset, exact when the expansion
    is convex; for a concave polygon its outline keeps small loops at concave corners that Clipper's union would
    remove (measured: 24 of 210 contours of a receipt identical), with one warning."""
    distance = unclip_distance(points, unclip_ratio)
    try:
        import pyclipper
    except ImportError:
        _warn_without_pyclipper()
        vertices = clipper_vertices(offset_polygon(points, distance)).astype(np.int64)
        return [vertices] if len(vertices) else []
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(points, pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    return [np.array(path) for path in offset.Execute(distance)]


@lru_cache(maxsize=1)
def _warn_without_pyclipper() -> None:
    logger.warning("box_type 'poly' without pyclipper: polygons of concave text regions differ from PaddleX's "
                   "(pip install pyclipper for its exact ones)")


def scale_box(box: np.ndarray, width_scale: float, height_scale: float, dest_width, dest_height) -> np.ndarray:
    """Box corners in map pixels -> image pixels: rounded half to even (Python's round), clamped to the image."""
    box = np.array(box)
    for i in range(box.shape[0]):
        box[i, 0] = max(0, min(round(box[i, 0] * width_scale), dest_width))
        box[i, 1] = max(0, min(round(box[i, 1] * height_scale), dest_height))
    return box
