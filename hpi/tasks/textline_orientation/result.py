"""The classification result, as PaddleX's TopkResult: class_ids, scores, label_names; drawn as PaddleX draws it
(the best label and score in a red box at the top left, the font as large as fits between 2% and 5% of the
width)."""
from __future__ import annotations

import numpy as np

from ...results import BaseResult
from ...visualize import file_font, fit_for_drawing, font_path

BOX_COLOR = (255, 0, 0)  # PaddleX's colormap[0], RGB
TEXT_COLOR = (255, 255, 255)  # its font colour for that entry


class TopkResult(BaseResult):
    """Keys: input_path, page_index, class_ids, scores, label_names (and the private input_img, BGR)."""

    def _to_img(self):
        from PIL import Image, ImageDraw

        labels = self.get("label_names") or self["class_ids"]
        label = f"{labels[0]} {self['scores'][0]:.2f}"
        height, width = self["input_img"].shape[:2]
        image_bgr, _ = fit_for_drawing(self["input_img"], width, height)
        image = Image.fromarray(np.ascontiguousarray(image_bgr[:, :, ::-1]))
        draw = ImageDraw.Draw(image)
        width = image.size[0]
        largest, smallest = max(1, int(width * 0.05)), max(1, int(width * 0.02))
        font = file_font(font_path(), smallest)
        for size in range(largest, smallest - 1, -1):
            candidate = file_font(font_path(), size)
            left, top, right, bottom = draw.textbbox((0, 0), label, candidate)
            if right - left <= width:
                font = candidate
                break
        left, top, right, bottom = draw.textbbox((0, 0), label, font)
        draw.rectangle([(3, 3), (3 + right - left + 3, 3 + bottom - top + 6)], fill=BOX_COLOR)
        draw.text((6, 3), label, fill=TEXT_COLOR, font=font)
        return image
