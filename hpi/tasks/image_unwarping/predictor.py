"""TextImageUnwarping: PaddleX's image_unwarping module (UVDoc: flatten a photographed, curved or folded page) on
any backend.

PaddleX 3.7.2's UVDoc exports its whole forward in the model (paddlex/inference/models/image_unwarping/modeling/
uvdoc.py): the image resized to 712x488 (bilinear, align_corners), the network, its 2 x 45 x 31 grid resized back
to the image's size (bilinear, align_corners) and grid_sample over the image (bilinear, align_corners, zeros
outside). So its predictor (WarpRunnerPredictor) only scales the BGR image to [0, 1] in float32 (Normalize with
mean 0, std 1, scale 1/255), feeds it as N x 3 x H x W, and turns the output back into 8-bit pixels: x 255 in
float32, truncated to uint8 (numpy's astype). The result's doctr_img is RGB (DocTrPostProcess reverses the
channels of the BGR output), as in PaddleX; `unwarp` gives BGR, as PaddleX's document preprocessor uses it.

Every image keeps its own size, so batches hold images of one size only (PaddleX's ToBatch stacks a batch and
fails on mixed sizes): batching never changes an output.
"""
from __future__ import annotations

from typing import Any, List, Sequence

import cv2
import numpy as np

from ...errors import ModelDirError
from ...inputs import InputItem
from ..predictor import Predictor
from .result import DocTrResult

SCALE = np.float32(1.0 / 255)  # PaddleX's Normalize(mean=0.0, std=1.0, scale=1/255): alpha = scale / std
OUTPUT_SCALE = np.float32(255.0)  # DocTrPostProcess's default scale


class TextImageUnwarping(Predictor):
    task = "TextImageUnwarping"

    def _setup(self) -> None:
        if (self.model_dir.config.get("PreProcess") or {}).get("transform_ops"):
            raise ModelDirError(f"{self.model_dir.path / 'inference.yml'}: an image unwarping model takes no "
                                "PreProcess (PaddleX's UVDoc scales the image to [0, 1] and resizes in the model)")

    def preprocess(self, image: np.ndarray, options: Any = None):
        channels = list(cv2.split(image))
        for c in range(len(channels)):  # as PaddleX's Normalize: float32, multiply, add 0
            channels[c] = channels[c].astype(np.float32)
            channels[c] *= SCALE
            channels[c] += np.float32(0.0)
        return cv2.merge(channels).transpose((2, 0, 1)), image.shape[:2]

    def postprocess(self, output: np.ndarray, metas: Sequence[tuple], images, options: Any) -> List[np.ndarray]:
        if output.ndim != 4 or output.shape[1] != 3:
            raise ModelDirError(f"an image unwarping model must give N x 3 x H x W, got shape {output.shape}")
        unwarped = []
        for row, (height, width) in zip(output, metas):
            if row.shape[1:] != (height, width):
                raise ModelDirError(f"an image unwarping model gave a {row.shape[2]}x{row.shape[1]} image for a "
                                    f"{width}x{height} input: PaddleX's UVDoc returns the image at its own size")
            image = row.transpose(1, 2, 0).astype(np.float32)  # a copy: the batch's output stays as it was
            image *= OUTPUT_SCALE
            unwarped.append(image.astype(np.uint8))  # BGR, truncated as numpy's astype does
        return unwarped

    def make_result(self, item: InputItem, image: np.ndarray, value: np.ndarray) -> DocTrResult:
        return DocTrResult(input_path=item.input_path, page_index=item.page_index, input_img=image,
                           doctr_img=np.ascontiguousarray(value[:, :, ::-1]))

    def unwarp(self, images: Sequence[np.ndarray], batch_size: int = 1) -> List[np.ndarray]:
        """Each BGR image already in memory, unwarped (BGR)."""
        return self.values(images, batch_size)
