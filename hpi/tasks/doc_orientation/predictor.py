"""DocImgOrientationClassification: PaddleX's doc_text_orientation module (PP-LCNet_x1_0_doc_ori: is a whole page
upright, or turned by 90, 180 or 270 degrees) on any backend.

PaddleX 3.7.2 runs it with its image classification predictor, as the text-line orientation module: the
preprocessing and Topk of inference.yml (resize_short 256, centre crop 224, ImageNet mean/std; labels "0", "90",
"180", "270"), so this is TextLineOrientationClassification under another name. A label k says the page's
content is turned k degrees clockwise: the document preprocessor turns it back by k degrees counter-clockwise.
"""
from __future__ import annotations

from typing import List, Sequence

import numpy as np

from ...errors import ModelDirError
from ..textline_orientation import TextLineOrientationClassification

DOC_ORI_LABELS = ("0", "90", "180", "270")


class DocImgOrientationClassification(TextLineOrientationClassification):
    task = "DocImgOrientationClassification"

    def _setup(self) -> None:
        super()._setup()
        labels = self.labels
        if labels is None or not all(_is_angle(label) for label in labels):
            raise ModelDirError(f"{self.model_dir.path / 'inference.yml'}: PostProcess.Topk.label_list {labels!r} "
                                f"must name angles in degrees ({', '.join(DOC_ORI_LABELS)}) for document "
                                "orientation")

    def angles(self, images: Sequence[np.ndarray], batch_size: int = 1) -> List[int]:
        """The angle of each BGR page (its best label, as PaddleX's pipeline reads it: int(label_names[0]))."""
        return [int(label_names[0]) for _, _, label_names in self.values(images, batch_size, topk=1)]


def _is_angle(label) -> bool:
    try:
        return 0 <= int(label) < 360
    except (TypeError, ValueError):
        return False
