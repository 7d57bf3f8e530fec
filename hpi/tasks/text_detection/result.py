"""The text detection result, as PaddleX's TextDetResult."""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from ...results import BaseResult
from ...visualize import fit_for_drawing

BOX_COLOR = (0, 0, 255)  # BGR red, 2 px, as PaddleX draws the boxes
BOX_THICKNESS = 2


class TextDetResult(BaseResult):
    """Keys: input_path, page_index, dt_polys (int16 N x 4 x 2 corners for quads; a list of polygons for box_type
    "poly"), dt_scores (floats), and the private input_img (BGR)."""

    def _to_img(self) -> Image.Image:
        return Image.fromarray(draw_polygons(self["input_img"], self["dt_polys"])[:, :, ::-1])


def draw_polygons(image_bgr: np.ndarray, polys) -> np.ndarray:
    """A copy of the image with each polygon outlined (closed), as PaddleX's TextDetResult draws them (scaled down
    when the image is too large to draw, see hpi.visualize)."""
    scaled, scale = fit_for_drawing(image_bgr, image_bgr.shape[1], image_bgr.shape[0])
    canvas = np.ascontiguousarray(scaled).copy()
    for poly in polys:
        points = np.reshape((np.array(poly) * scale).astype(int), [-1, 1, 2]).astype(np.int64)
        cv2.polylines(canvas, [points.astype(np.int32)], True, BOX_COLOR, BOX_THICKNESS)
    return canvas
