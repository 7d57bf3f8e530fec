"""Text-line preprocessing, reproducing PaddleX 3.7.2's to the pixel (a 1 px difference changes the text).

A line of height h and width w is resized to height H=48 and width ceil(H*w/h), capped at
int(H * max(W/H, w/h)) with W=320 (a line wider than 3200 after that is squashed to 3200), scaled to
[-1, 1], and right-padded with zeros to that cap. A batch is then right-padded with zeros to its widest line.
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple

import cv2
import numpy as np

DEFAULT_REC_IMAGE_SHAPE = (3, 48, 320)
MAX_WIDTH = 3200  # wider lines are squashed to exactly this width, as PaddleX does


def target_width(height: int, width: int, rec_image_shape: Sequence[int] = DEFAULT_REC_IMAGE_SHAPE) -> int:
    """The padded width PaddleX gives one line at batch size 1 (int, not ceil: it matters)."""
    _, image_h, image_w = rec_image_shape
    max_wh_ratio = max(image_w / image_h, width / float(height))
    return min(int(image_h * max_wh_ratio), MAX_WIDTH)


def resize_norm(image: np.ndarray, rec_image_shape: Sequence[int] = DEFAULT_REC_IMAGE_SHAPE,
                width_multiple: int = 1) -> np.ndarray:
    """One BGR HxWx3 uint8 line -> float32 3xHxW' in [-1, 1], zero-padded on the right to target_width, or
    further, to the next multiple of `width_multiple` (which changes the model's output slightly)."""
    channels, image_h, _ = rec_image_shape
    h, w = image.shape[:2]
    padded_w = target_width(h, w, rec_image_shape)
    if padded_w == MAX_WIDTH:
        resized_w = MAX_WIDTH
    else:
        resized_w = min(padded_w, int(math.ceil(image_h * (w / float(h)))))
    resized = cv2.resize(image, (resized_w, image_h)).astype(np.float32)
    out = np.zeros((channels, image_h, -(-padded_w // width_multiple) * width_multiple), dtype=np.float32)
    # (x / 255 - 0.5) / 0.5, in the same order of float32 operations as PaddleX
    normalized = resized.transpose((2, 0, 1)) / 255
    normalized -= 0.5
    normalized /= 0.5
    out[:, :, :resized_w] = normalized
    return out


def pad_batch(lines: Sequence[np.ndarray], width: int = 0) -> np.ndarray:
    """Stack CHW lines into NCHW, zero-padding each on the right to the widest (or to `width` if larger)."""
    channels, height = lines[0].shape[:2]
    width = max(width, max(line.shape[2] for line in lines))
    if len(lines) == 1 and lines[0].shape[2] == width:
        return lines[0][np.newaxis]  # a view: one line needs no copy
    batch = np.zeros((len(lines), channels, height, width), dtype=np.float32)
    for index, line in enumerate(lines):
        batch[index, :, :, : line.shape[2]] = line
    return batch


def rec_image_shape_from_config(config: dict) -> Tuple[int, int, int]:
    """PreProcess.transform_ops[*].RecResizeImg.image_shape of inference.yml, else (3, 48, 320)."""
    for op in (config.get("PreProcess") or {}).get("transform_ops") or []:
        if isinstance(op, dict) and "RecResizeImg" in op:
            shape = (op["RecResizeImg"] or {}).get("image_shape")
            if shape and len(shape) == 3:
                return tuple(int(v) for v in shape)
    return DEFAULT_REC_IMAGE_SHAPE
