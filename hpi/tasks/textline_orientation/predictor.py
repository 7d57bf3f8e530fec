"""TextLineOrientationClassification: PaddleX's textline_orientation module (an image classifier telling a text
line upright, 0_degree, from upside down, 180_degree) on any backend.

`TextLineOrientationClassification(model_name, model_dir, device, use_hpip, hpi_config, topk=None)
.predict(input, batch_size=1, topk=None)`; results carry class_ids, scores and label_names, best first.
Preprocessing and Topk follow inference.yml as PaddleX 3.7.2 reads it (see preprocess.py). Every input becomes
the same shape, so batching never pads: a batch gives each line the class it gets alone, in both modes.

One difference from PaddleX 3.7.2, on purpose: there every result of a batch carries the whole batch's
class_ids (B x topk, its BasePredictor does not split the array), so its OCR pipeline gives every crop of a
batch the first crop's orientation. Here each result has its own class_ids (topk of them), as its scores and
label_names already are in PaddleX.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

import numpy as np

from ...errors import ConfigError
from ...inputs import InputItem
from ..predictor import Predictor
from .postprocess import Topk
from .preprocess import ClsPreprocess
from .result import TopkResult

DEFAULT_TOPK = 5  # PaddleX's Topk default, when inference.yml names none


def check_topk(topk: Any) -> int:
    if not isinstance(topk, int) or isinstance(topk, bool) or topk < 1:
        raise ConfigError(f"topk must be a positive integer, got {topk!r}")
    return topk


class TextLineOrientationClassification(Predictor):
    task = "TextLineOrientationClassification"
    _topk: Optional[int] = None  # the constructor's topk (from_spec: none given, inference.yml's)

    def __init__(self, model_name: Optional[str] = None, model_dir=None, device: Optional[str] = None,
                 use_hpip: Optional[bool] = None, hpi_config=None, *, topk: Optional[int] = None, **kwargs):
        self._topk = None if topk is None else check_topk(topk)
        super().__init__(model_name, model_dir, device, use_hpip, hpi_config, **kwargs)

    def _setup(self) -> None:
        where = str(self.model_dir.path / "inference.yml")
        self.transform = ClsPreprocess.from_config(self.model_dir.config, where)
        topk_config = self.model_dir.section("PostProcess", "Topk", default={}) or {}
        if self._topk is None:  # the constructor's topk, else inference.yml's (PaddleX's order)
            self._topk = check_topk(int(topk_config.get("topk", DEFAULT_TOPK)))
        self.topk_op = Topk(topk_config.get("label_list"))

    @property
    def labels(self) -> Optional[List[str]]:
        return self.topk_op.labels

    def options(self, topk: Optional[int] = None, **unknown) -> int:
        if unknown:
            raise ConfigError(f"unknown argument(s) {sorted(unknown)} for {self.task}.predict; allowed: topk")
        return self._topk if topk is None else check_topk(topk)

    def preprocess(self, image: np.ndarray, options: Any = None):
        return self.transform(image), None

    def postprocess(self, output: np.ndarray, metas, images, options: int) -> List[tuple]:
        return self.topk_op(output, options)

    def make_result(self, item: InputItem, image: np.ndarray, value: tuple) -> TopkResult:
        class_ids, scores, label_names = value
        return TopkResult(input_path=item.input_path, page_index=item.page_index, input_img=image,
                          class_ids=class_ids, scores=scores, label_names=label_names)

    def classify(self, images: Sequence[np.ndarray], batch_size: int = 1) -> List[int]:
        """The best class id of each BGR image already in memory (a pipeline's crops)."""
        return [class_ids[0] for class_ids, _, _ in self.values(images, batch_size, topk=1)]
