"""Image classification preprocessing as PaddleX 3.7.2's classifier runs it, read from inference.yml.

`PreProcess.transform_ops` lists the steps, applied in this order whatever their order in the file (as PaddleX's
`process`): the BGR image is converted to RGB, then `ResizeImage` (`size: [w, h]`, a plain resize, or
`resize_short: n`, the short side to n with the other rounded), `CropImage` (a centre crop of `size`),
`NormalizeImage` ((x * scale - mean) / std per channel, in float32 as PaddleX computes it) and `ToCHWImage`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import cv2
import numpy as np

from ...errors import ModelDirError
from ..options import preprocess_ops

INTERPOLATIONS = {"NEAREST": cv2.INTER_NEAREST, "LINEAR": cv2.INTER_LINEAR, "BICUBIC": cv2.INTER_CUBIC,
                  "AREA": cv2.INTER_AREA, "LANCZOS4": cv2.INTER_LANCZOS4}
SUPPORTED_OPS = ("ResizeImage", "CropImage", "NormalizeImage", "ToCHWImage")
_FRACTION = re.compile(r"^\s*([0-9.]+)\s*/\s*([0-9.]+)\s*$")  # "1./255." as some exports write scale


@dataclass(frozen=True)
class ClsPreprocess:
    size: Optional[Tuple[int, int]]  # (w, h) of a plain resize, or None
    resize_short: Optional[int]
    interpolation: int
    crop: Optional[Tuple[int, int]]  # (w, h) of a centre crop, or None
    alpha: Tuple[float, float, float]  # scale / std per channel
    beta: Tuple[float, float, float]   # -mean / std per channel

    @classmethod
    def from_config(cls, config: dict, where: str) -> "ClsPreprocess":
        ops = preprocess_ops(config, SUPPORTED_OPS, "image classification", where)
        if "ResizeImage" not in ops or "NormalizeImage" not in ops:
            raise ModelDirError(f"{where}: image classification needs ResizeImage and NormalizeImage in "
                                "PreProcess.transform_ops")
        resize = ops["ResizeImage"]
        if resize.get("backend", "cv2") != "cv2":
            raise ModelDirError(f"{where}: ResizeImage backend {resize.get('backend')!r} is not supported (cv2)")
        interp = str(resize.get("interpolation", "LINEAR")).upper()
        if interp not in INTERPOLATIONS:
            raise ModelDirError(f"{where}: ResizeImage interpolation {interp!r} is not one of "
                                f"{', '.join(INTERPOLATIONS)}")
        size = _pair(resize.get("size"), where, "ResizeImage.size") if resize.get("size") is not None else None
        short = resize.get("resize_short")
        if short is not None and (not isinstance(short, int) or short < 1):
            raise ModelDirError(f"{where}: ResizeImage.resize_short must be a positive integer, got {short!r}")
        if size is None and short is None:
            raise ModelDirError(f"{where}: ResizeImage needs size or resize_short")
        crop = _pair(ops["CropImage"].get("size", 224), where, "CropImage.size") if "CropImage" in ops else None
        smallest = size or (short, short)
        if crop and (crop[0] > smallest[0] or crop[1] > smallest[1]):
            # the resized image is at least `smallest`: a crop that fits it always fits
            raise ModelDirError(f"{where}: CropImage.size {list(crop)} is larger than the resized image")
        norm = ops["NormalizeImage"]
        if norm.get("order", "") not in ("", "hwc") or norm.get("channel_num", 3) != 3:
            raise ModelDirError(f"{where}: NormalizeImage must be 3-channel HWC (order '')")
        scale = _number(norm.get("scale", 1 / 255), where)
        mean = _triple(norm.get("mean", [0.485, 0.456, 0.406]), where, "mean")
        std = _triple(norm.get("std", [0.229, 0.224, 0.225]), where, "std")
        return cls(size=size, resize_short=None if size else short, interpolation=INTERPOLATIONS[interp],
                   crop=crop, alpha=tuple(scale / s for s in std), beta=tuple(-m / s for m, s in zip(mean, std)))

    def input_shape(self) -> Optional[Tuple[int, int, int]]:
        """CHW of every model input, when it does not depend on the image."""
        if self.crop:
            return (3, self.crop[1], self.crop[0])
        return (3, self.size[1], self.size[0]) if self.size else None

    def __call__(self, image_bgr: np.ndarray) -> np.ndarray:
        image = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        image = cv2_resize(image, self._target(image.shape[:2]), self.interpolation)
        if self.crop:
            image = center_crop(image, self.crop)
        channels = list(cv2.split(image))
        for c in range(3):  # PaddleX's Normalize: float32 in place, multiply then add
            channels[c] = channels[c].astype(np.float32)
            channels[c] *= self.alpha[c]
            channels[c] += self.beta[c]
        return cv2.merge(channels).transpose((2, 0, 1))

    def _target(self, hw: Sequence[int]) -> Tuple[int, int]:
        if self.size:
            return self.size
        h, w = hw
        scale = self.resize_short / min(h, w)
        return round(w * scale), round(h * scale)


def cv2_resize(image: np.ndarray, size: Tuple[int, int], interpolation: int) -> np.ndarray:
    if (image.shape[1], image.shape[0]) == tuple(size):
        return image
    return cv2.resize(image, tuple(size), interpolation=interpolation)


def center_crop(image: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """The centre `size` (w, h) of an image at least that large (from_config checks that it always is)."""
    h, w = image.shape[:2]
    cw, ch = size
    x1, y1 = max(0, (w - cw) // 2), max(0, (h - ch) // 2)
    return image[y1:y1 + ch, x1:x1 + cw]


def _pair(value, where: str, key: str) -> Tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, int) and v > 0 for v in value)):
        raise ModelDirError(f"{where}: {key} must be [width, height] in pixels, got {value!r}")
    return int(value[0]), int(value[1])


def _number(value, where: str) -> float:
    if isinstance(value, str):
        match = _FRACTION.match(value)
        if match:
            return float(match.group(1)) / float(match.group(2))
        try:
            return float(value)
        except ValueError:
            raise ModelDirError(f"{where}: NormalizeImage.scale {value!r} is not a number") from None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ModelDirError(f"{where}: NormalizeImage.scale {value!r} is not a number")


def _triple(value, where: str, key: str) -> Tuple[float, float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value] * 3
    if not (isinstance(value, (list, tuple)) and len(value) == 3):
        raise ModelDirError(f"{where}: NormalizeImage.{key} must be 3 numbers, got {value!r}")
    return tuple(float(v) for v in value)
