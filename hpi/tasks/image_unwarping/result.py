"""The unwarping result, as PaddleX's DocTrResult: input_path, page_index and doctr_img (the unwarped image, RGB,
as PaddleX keeps it); drawn as that image, and printed and saved to JSON with doctr_img as its pixels (PaddleX's
JSON lists them too; its printout shows "...")."""
from __future__ import annotations

import numpy as np

from ...results import BaseResult
from ...visualize import fit_for_drawing


class DocTrResult(BaseResult):
    """Keys: input_path, page_index, doctr_img (H x W x 3 uint8, RGB); and the private input_img (BGR)."""

    @property
    def str(self):
        return {"res": {**self.json["res"], "doctr_img": "..."}}

    def _to_img(self):
        from PIL import Image

        height, width = self["doctr_img"].shape[:2]
        image, _ = fit_for_drawing(self["doctr_img"], width, height)
        return Image.fromarray(np.ascontiguousarray(image))
