"""TextRecognition: PaddleX's text recognition module API on any backend."""
from __future__ import annotations

from typing import Any, List, Sequence

import numpy as np

from ...errors import ModelDirError
from ...inputs import InputItem
from ...runtime.tuning import TuningWorkload
from ..predictor import Predictor, predict_workload
from .postprocess import CTCDecoder
from .preprocess import pad_batch, rec_image_shape_from_config, resize_norm
from .result import TextRecResult

# Reduced precision is judged by accuracy, not by identical text (bf16 already changes some), so there each line
# is padded to a multiple of this many pixels: the runtime then meets few distinct shapes, and OpenVINO prepares
# each new shape once (~30 ms). Measured, PP-OCRv4_mobile_rec bf16, 400 lines, first pass: 136 lines/s at 64 px,
# 115 to 131 at 32 px, 83 unpadded; accuracy 92.75% in each case. FP32 never pads beyond PaddleX's own width.
REDUCED_PRECISION_WIDTH_MULTIPLE = 64
REDUCED_PRECISIONS = ("bf16", "fp16", "int8")
TUNING_LINES = 64  # rendered lines `auto_config='tune'` times the backends on


class TextRecognition(Predictor):
    """`TextRecognition(model_name, model_dir, device, use_hpip, hpi_config).predict(input, batch_size)`.

    Normal mode batches exactly as PaddleX: consecutive lines, padded to the widest. High-performance mode
    groups lines of equal padded width within a window, so batching leaves each line's text alone (padding
    changes the model's output: its neck mixes the whole sequence)."""

    task = "TextRecognition"
    collate_pads = True
    output = "top1"  # CTC decoding reads the best class and its probability per step

    def _setup(self) -> None:
        post = self.model_dir.section("PostProcess", default={}) or {}
        if post.get("name", "CTCLabelDecode") != "CTCLabelDecode":
            raise ModelDirError(f"PostProcess.name {post.get('name')!r} in {str(self.model_dir.path)!r} is not "
                                "supported; text recognition decodes CTCLabelDecode models")
        self.decoder = CTCDecoder(post.get("character_dict") or list("0123456789abcdefghijklmnopqrstuvwxyz"))
        self.rec_image_shape = rec_image_shape_from_config(self.model_dir.config)
        self._width_multiple = 1
        self._top1 = False

    def _loaded(self) -> None:
        if self.use_hpip and self._backend.config.get("precision") in REDUCED_PRECISIONS:
            self._width_multiple = REDUCED_PRECISION_WIDTH_MULTIPLE
        self._top1 = self._backend.config.get("output") == "top1"

    def tuning_workload(self) -> TuningWorkload:
        return recognition_tuning_workload(self.model_dir)

    def preprocess(self, image: np.ndarray, options: Any = None):
        """One BGR line -> the model's 3xHxW input (PaddleX's, padded further only in reduced precision)."""
        return resize_norm(image, self.rec_image_shape, self._width_multiple), None

    def collate(self, inputs: Sequence[np.ndarray]) -> np.ndarray:
        return pad_batch(inputs)

    def postprocess(self, output: np.ndarray, metas, images, options) -> List[tuple]:
        return self.decoder.decode_top1(output) if self._top1 else self.decoder(output)

    def make_result(self, item: InputItem, image: np.ndarray, value: tuple) -> TextRecResult:
        text, score = value
        return TextRecResult(input_path=item.input_path, page_index=item.page_index, input_img=image,
                             rec_text=text, rec_score=score)

    def recognize(self, lines: Sequence[np.ndarray], batch_size: int = 1) -> List[tuple]:
        """(text, score) of BGR line images already in memory, batched as predict batches them."""
        return self.values(lines, batch_size)


def recognition_tuning_workload(model_dir, lines: int = TUNING_LINES) -> TuningWorkload:
    """Rendered text lines (bundled font; the widths of real lines) through predict's own path; a candidate
    agrees on a line when its text does."""
    from .textlines import render_lines

    images = [image for image, _ in render_lines(lines, seed=0)]
    blank = np.full((10, 1000, 3), 255, dtype=np.uint8)  # setup on 48x3200 (squashed): wider than any rendered line
    return predict_workload(TextRecognition, model_dir, images, warmup=blank, key=lambda value: value[0])
