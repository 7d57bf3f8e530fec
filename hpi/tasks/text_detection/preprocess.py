"""Text detection preprocessing, reproducing PaddleX 3.7.2's (DetResizeForTest, NormalizeImage, ToCHWImage).

An image is read in the channel order of `DecodeImage.img_mode` (BGR for PaddleOCR's models; RGB when
inference.yml has no DecodeImage, as PaddleX), padded with zeros to at least 32 x 32 when h + w < 64, resized
so that its limited side meets `limit_side_len` (limit_type "max": the long side at most, "min": the short
side at least, "resize_long": the long side exactly), scaled down further when a side would exceed
`max_side_limit`, each side rounded to a multiple of 32 (at least 32), then normalized per channel as
float32(x) * float32(scale / std) + float32(-mean / std) and laid out CHW.

The defaults come from the model, as PaddleX derives them: `limit_side_len` is DetResizeForTest.resize_long of
inference.yml, else 960 for the PP-OCRv3/v4/v5/v6 det models and 736 for others; `limit_type` is "max" for
those models and "min" for others (DetResizeForTest.limit_side_len and .limit_type of inference.yml are not
read: PaddleX ignores them too); `max_side_limit` is 4000.
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

import cv2
import numpy as np

from ...errors import ModelDirError
from ..options import preprocess_ops

logger = logging.getLogger(__name__)

# PaddleX 3.7.2's _TEXT_DET_MAX_LIMIT_MODELS: these default to limit_type "max" and limit_side_len 960.
MAX_LIMIT_MODELS = frozenset({
    "PP-OCRv5_server_det", "PP-OCRv5_mobile_det", "PP-OCRv4_server_det", "PP-OCRv4_mobile_det",
    "PP-OCRv3_server_det", "PP-OCRv3_mobile_det", "PP-OCRv6_medium_det", "PP-OCRv6_small_det",
    "PP-OCRv6_tiny_det",
})
LIMIT_TYPES = ("min", "max", "resize_long")
DEFAULT_MAX_SIDE_LIMIT = 4000
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The preprocessing ops of PaddleOCR det exports; those after DecodeImage that PaddleX skips at inference.
KNOWN_OPS = ("DecodeImage", "DetLabelEncode", "DetResizeForTest", "NormalizeImage", "ToCHWImage", "KeepKeys")


@dataclass(frozen=True)
class DetPreprocess:
    """What inference.yml's PreProcess says, resolved as PaddleX resolves it for a model name."""

    rgb: bool  # read as RGB (DecodeImage.img_mode RGB, or no DecodeImage at all); else BGR
    limit_side_len: int
    limit_type: str
    image_shape: Optional[Tuple[int, int]]  # DetResizeForTest.image_shape: a fixed size (limits ignored)
    keep_ratio: bool  # with image_shape: width from the aspect ratio, rounded up to a multiple of 32
    alpha: np.ndarray  # float32 per channel: scale / std
    beta: np.ndarray  # float32 per channel: -mean / std

    @classmethod
    def from_config(cls, config: Dict[str, Any], model_name: Optional[str]) -> "DetPreprocess":
        ops = preprocess_ops(config, KNOWN_OPS, "text detection", "inference.yml")
        decode = ops.get("DecodeImage")
        if decode is not None and decode.get("channel_first", False):
            raise ModelDirError("DecodeImage.channel_first: true in inference.yml is not supported")
        img_mode = str(decode.get("img_mode", "BGR")).upper() if decode is not None else "RGB"
        if img_mode not in ("BGR", "RGB"):
            raise ModelDirError(f"DecodeImage.img_mode {img_mode!r} of inference.yml is not supported: BGR or RGB")

        resize = ops.get("DetResizeForTest", {})
        max_limit = model_name in MAX_LIMIT_MODELS
        limit_side_len = resize.get("resize_long", 960 if max_limit else 736)
        image_shape = resize.get("image_shape")
        if image_shape is not None:
            if not (isinstance(image_shape, (list, tuple)) and len(image_shape) == 2):
                raise ModelDirError(f"DetResizeForTest.image_shape {image_shape!r} must be [height, width]")
            image_shape = (int(image_shape[0]), int(image_shape[1]))

        normalize = ops.get("NormalizeImage", {})
        if str(normalize.get("order", "hwc") or "hwc").lower() != "hwc":
            raise ModelDirError(f"NormalizeImage.order {normalize.get('order')!r} of inference.yml is not "
                                "supported: hwc")
        scale = parse_scale(normalize.get("scale", 1 / 255))
        mean = normalize.get("mean") or IMAGENET_MEAN
        std = normalize.get("std") or IMAGENET_STD
        if len(mean) != 3 or len(std) != 3:
            raise ModelDirError(f"NormalizeImage mean {mean!r} and std {std!r} need 3 values each")
        # Python doubles first, then float32: the numbers PaddleX's in-place float32 operations use
        alpha = np.array([scale / float(s) for s in std], dtype=np.float32)
        beta = np.array([-float(m) / float(s) for m, s in zip(mean, std)], dtype=np.float32)
        return cls(rgb=img_mode == "RGB", limit_side_len=int(limit_side_len),
                   limit_type="max" if max_limit else "min", image_shape=image_shape,
                   keep_ratio=bool(resize.get("keep_ratio", False)), alpha=alpha, beta=beta)

    def __call__(self, image: np.ndarray, limit_side_len: int, limit_type: str,
                 max_side_limit: int) -> Tuple[np.ndarray, Tuple[int, int]]:
        """One BGR HxWx3 uint8 image -> (float32 3xH'xW' model input, (h, w) of the image)."""
        if self.rgb:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        src_h, src_w = image.shape[:2]
        if src_h + src_w < 64:
            image = pad_to_32(image)
        if self.image_shape is not None:
            image = resize_fixed(image, self.image_shape, self.keep_ratio)
        else:
            image = resize_limited(image, limit_side_len, limit_type, max_side_limit)
        return normalize_chw(image, self.alpha, self.beta), (src_h, src_w)


def parse_scale(value: Any) -> float:
    """NormalizeImage.scale: a number or a quotient written as text ("1./255."), which PaddleX evaluates;
    parsed here as data."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = re.fullmatch(r"\s*([0-9.eE+-]+)\s*(?:/\s*([0-9.eE+-]+)\s*)?", str(value))
    try:
        if match:
            return float(match.group(1)) / (float(match.group(2)) if match.group(2) else 1.0)
    except (ValueError, ZeroDivisionError):
        pass
    raise ModelDirError(f"NormalizeImage.scale {value!r} of inference.yml is not a number or a quotient")


def pad_to_32(image: np.ndarray) -> np.ndarray:
    """Zero padding (bottom and right) to at least 32 x 32, as PaddleX does for images with h + w < 64."""
    h, w, c = image.shape
    padded = np.zeros((max(32, h), max(32, w), c), np.uint8)
    padded[:h, :w, :] = image
    return padded


def limited_size(h: int, w: int, limit_side_len: int, limit_type: str, max_side_limit: int) -> Tuple[int, int]:
    """(height, width) PaddleX's DetResizeForTest (resize type 0) gives an h x w image."""
    if limit_type == "max":
        ratio = float(limit_side_len) / max(h, w) if max(h, w) > limit_side_len else 1.0
    elif limit_type == "min":
        ratio = float(limit_side_len) / min(h, w) if min(h, w) < limit_side_len else 1.0
    elif limit_type == "resize_long":
        ratio = float(limit_side_len) / max(h, w)
    else:
        raise ValueError(f"limit_type {limit_type!r}")
    resize_h, resize_w = int(h * ratio), int(w * ratio)
    if max(resize_h, resize_w) > max_side_limit:
        logger.warning("resized image size (%dx%d) exceeds max_side_limit %d: resizing to fit within it",
                       resize_w, resize_h, max_side_limit)
        ratio = float(max_side_limit) / max(resize_h, resize_w)
        resize_h, resize_w = int(resize_h * ratio), int(resize_w * ratio)
    # Python's round (half to even), as PaddleX
    return max(int(round(resize_h / 32) * 32), 32), max(int(round(resize_w / 32) * 32), 32)


def resize_limited(image: np.ndarray, limit_side_len: int, limit_type: str, max_side_limit: int) -> np.ndarray:
    h, w = image.shape[:2]
    resize_h, resize_w = limited_size(h, w, limit_side_len, limit_type, max_side_limit)
    if (resize_h, resize_w) == (h, w):
        return image
    return cv2.resize(image, (resize_w, resize_h))


def resize_fixed(image: np.ndarray, image_shape: Sequence[int], keep_ratio: bool) -> np.ndarray:
    """DetResizeForTest with image_shape (resize type 1)."""
    resize_h, resize_w = image_shape
    h, w = image.shape[:2]
    if keep_ratio:
        resize_w = math.ceil(w * resize_h / h / 32) * 32
    if (resize_h, resize_w) == (h, w):
        return image
    return cv2.resize(image, (int(resize_w), int(resize_h)))


def normalize_chw(image: np.ndarray, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """HxWx3 -> float32 3xHxW, float32(x) * alpha[c] + beta[c] rounded as PaddleX's float32 steps. For uint8
    pixels through a 256-entry table per channel: the same numbers, computed once."""
    channels = image.shape[2]
    out = np.empty((channels,) + image.shape[:2], dtype=np.float32)
    if image.dtype == np.uint8:
        table = np.arange(256, dtype=np.float32)[:, None] * alpha + beta  # (256, C), float32 steps
        for c in range(channels):
            np.take(table[:, c], image[:, :, c], out=out[c])
        return out
    for c in range(channels):
        plane = image[:, :, c].astype(np.float32)
        plane *= alpha[c]
        plane += beta[c]
        out[c] = plane
    return out
