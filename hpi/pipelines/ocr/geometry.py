"""Box sorting, cropping and rotation of the OCR pipeline, with PaddleX 3.7.2's arithmetic (same OpenCV calls,
same dtypes: a crop 1 px wider reads differently).

- `sort_quad_boxes`: by the top-left corner (y, then x); then a box moves before its predecessor while their
  top-left y differ by less than 10 px and it lies further left (PaddleX's SortQuadBoxes).
- `sort_poly_boxes`: by the smallest y of each polygon (SortPolyBoxes).
- `Cropper.crop`: cv2.minAreaRect of the int32 polygon, its corners ordered top-left, top-right, bottom-right,
  bottom-left, a perspective warp (INTER_CUBIC, BORDER_REPLICATE) to int(longest opposite edges), turned 90
  degrees counter-clockwise when height / width >= 1.5 (CropByPolys.get_minarea_rect_crop).
- `Cropper.rotate_180`: cv2.warpAffine about the centre with INTER_CUBIC (PaddleX's rotate_image), not a flip:
  the source of output pixel x is w - x, so the first row and column blend in black.
OpenCV 4.13+ computes minAreaRect and boxPoints, and 5.0 bicubic warps, differently from the 4.10 PaddleX pins:
hpi pins 4.10 too (pyproject), and tests/pipelines/ocr/test_ocr_opencv.py checks the installed OpenCV against
4.10's recorded outputs.
- `points_to_boxes`: [left, top, right, bottom] of each polygon (convert_points_to_boxes).
OpenCV's warps take images and outputs below 32,767 pixels a side (SHRT_MAX), where PaddleX fails with a raw
cv2.error: from a larger image each line is warped from the part of the image around it (an image below that size
is warped whole, as PaddleX does, so the arithmetic stays its own), and a line that long is a LineTooLong.
"""
from __future__ import annotations

from typing import List, Sequence

import cv2
import numpy as np

from ..warp import MAX_WARP_SIDE, rotate_image

SAME_LINE_PX = 10  # top-left corners closer than this in y count as one line when sorting
_WARP_MARGIN = 4  # pixels around a line's rectangle that bicubic interpolation may read


class LineTooLong(ValueError):
    """A detected text line longer than OpenCV can warp."""


def sort_quad_boxes(polys: Sequence[np.ndarray]) -> List[np.ndarray]:
    boxes = sorted(np.array(polys), key=lambda box: (box[0][1], box[0][0]))
    for i in range(len(boxes) - 1):
        for j in range(i, -1, -1):
            if abs(boxes[j + 1][0][1] - boxes[j][0][1]) < SAME_LINE_PX and boxes[j + 1][0][0] < boxes[j][0][0]:
                boxes[j], boxes[j + 1] = boxes[j + 1], boxes[j]
            else:
                break
    return boxes


def sort_poly_boxes(polys: Sequence[np.ndarray]) -> List[np.ndarray]:
    if len(polys) == 0:
        return list(polys)
    rank = np.argsort(np.array([min(poly[:, 1]) for poly in polys]))
    return [polys[index] for index in rank]


def ordered_min_area_rect(poly: np.ndarray) -> np.ndarray:
    """The corners of the polygon's minimum-area rectangle, float32, clockwise from the top-left."""
    rect = cv2.minAreaRect(np.array(poly).astype(np.int32))
    points = sorted(list(cv2.boxPoints(rect)), key=lambda p: p[0])
    a, d = (0, 1) if points[1][1] > points[0][1] else (1, 0)
    b, c = (2, 3) if points[3][1] > points[2][1] else (3, 2)
    return np.array([points[a], points[b], points[c], points[d]])


class Cropper:
    """Crops and turns text lines as PaddleX does."""

    def crop(self, image: np.ndarray, poly: np.ndarray) -> np.ndarray:
        """PaddleX's get_minarea_rect_crop: the polygon's minimum-area rectangle warped upright."""
        corners = ordered_min_area_rect(poly)
        width = int(max(np.linalg.norm(corners[0] - corners[1]), np.linalg.norm(corners[2] - corners[3])))
        height = int(max(np.linalg.norm(corners[0] - corners[3]), np.linalg.norm(corners[1] - corners[2])))
        if max(width, height) > MAX_WARP_SIDE:
            raise LineTooLong(f"holds a text line of {width} x {height} pixels, longer than OpenCV crops "
                              f"({MAX_WARP_SIDE:,} pixels a side at most)")
        if max(image.shape[:2]) > MAX_WARP_SIDE:
            image, corners = _around(image, corners)
        target = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
        matrix = cv2.getPerspectiveTransform(corners, target)
        crop = cv2.warpPerspective(image, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE,
                                   flags=cv2.INTER_CUBIC)
        crop_h, crop_w = crop.shape[:2]
        if crop_h * 1.0 / crop_w >= 1.5:
            crop = np.rot90(crop)
        return crop

    def rotate_180(self, image: np.ndarray) -> np.ndarray:
        """PaddleX's rotate_image(image, 180): an affine warp about (w/2, h/2), black outside the image."""
        return rotate_image(image, 180)


def _around(image: np.ndarray, corners: np.ndarray):
    """The part of `image` around `corners` (with the margin interpolation reads; BORDER_REPLICATE only at the
    image's own edges, as before) and the corners in its coordinates."""
    h, w = image.shape[:2]
    left, top = np.maximum(np.floor(corners.min(axis=0)).astype(int) - _WARP_MARGIN, 0)
    right, bottom = np.ceil(corners.max(axis=0)).astype(int) + _WARP_MARGIN + 1
    return image[top:min(bottom, h), left:min(right, w)], (corners - np.float32([left, top])).astype(corners.dtype)


def points_to_boxes(polys: Sequence[np.ndarray]) -> np.ndarray:
    if len(polys) == 0:
        return np.array([])
    points = np.array(polys)
    return np.array([points[:, :, 0].min(axis=1), points[:, :, 1].min(axis=1),
                     points[:, :, 0].max(axis=1), points[:, :, 1].max(axis=1)]).T
