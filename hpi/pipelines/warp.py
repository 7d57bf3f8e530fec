"""PaddleX's image warps (pipelines/components/common/warp_image.py), shared by the OCR pipeline's crops and the
document preprocessor's pages, and the size OpenCV's warps stop at."""
from __future__ import annotations

import cv2
import numpy as np

MAX_WARP_SIDE = 32766  # OpenCV's remap asserts every side of its source and output is below SHRT_MAX (32,767)


def rotate_image(image: np.ndarray, angle: int) -> np.ndarray:
    """PaddleX's rotate_image: `angle` degrees counter-clockwise about the centre, onto a canvas that holds the
    turned image (cv2.warpAffine, INTER_CUBIC, black outside). For the right angles the classifier gives, every
    pixel lands on a pixel, one pixel off cv2.rotate's (PaddleX turns about (w/2, h/2), not the centre pixel):
    90 degrees moves it down one row, 180 down and right, 270 right one column, a black row/column coming in.
    Images too large for OpenCV's warps (a side of 32,767 px or more) are turned that way with cv2.rotate: the
    same pixels (tests/pipelines/doc_preprocessor)."""
    if angle < 0 or angle >= 360:
        raise ValueError("`angle` should be in range [0, 360)")
    if angle < 1e-7:
        return image
    h, w = image.shape[:2]
    if max(h, w) > MAX_WARP_SIDE and angle in (90, 180, 270):
        return turn_right_angle(image, angle)
    mat = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    cos, sin = np.abs(mat[0, 0]), np.abs(mat[0, 1])
    new_w, new_h = int((h * sin) + (w * cos)), int((h * cos) + (w * sin))
    mat[0, 2] += (new_w - w) / 2
    mat[1, 2] += (new_h - h) / 2
    return cv2.warpAffine(image, mat, (new_w, new_h), flags=cv2.INTER_CUBIC)


def turn_right_angle(image: np.ndarray, angle: int) -> np.ndarray:
    """rotate_image's pixels for 90, 180 or 270 degrees without a warp (see rotate_image)."""
    turned = cv2.rotate(image, {90: cv2.ROTATE_90_COUNTERCLOCKWISE, 180: cv2.ROTATE_180,
                                270: cv2.ROTATE_90_CLOCKWISE}[angle])
    dy, dx = {90: (1, 0), 180: (1, 1), 270: (0, 1)}[angle]
    shifted = np.zeros_like(turned)
    shifted[dy:, dx:] = turned[:turned.shape[0] - dy, :turned.shape[1] - dx]
    return shifted
