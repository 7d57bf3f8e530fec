"""The document preprocessor's result, as PaddleX 3.7.2's DocPreprocessorResult: input_path, page_index,
model_settings and angle in its JSON; input_img, rot_img and output_img (BGR) kept for drawing and for the
pipelines that go on from output_img. Drawn as PaddleX draws it (`img["preprocessed_img"]`): the three images
side by side on white, each captioned below ("Original Image", "Rotated Image (<orientation on>, <angle>)",
"Unwarping Image (<unwarping on>)")."""
from __future__ import annotations

from typing import Any, Dict

import numpy as np

from ...results import BaseResult, is_image_name
from ...visualize import file_font, fit_for_drawing, font_path

IMAGE_KEY = "preprocessed_img"
JSON_KEYS = ("input_path", "page_index", "model_settings", "angle")
CAPTION_HEIGHT = 25


class DocPreprocessorResult(BaseResult):
    def _public(self) -> Dict[str, Any]:
        return {key: self[key] for key in JSON_KEYS}

    @property
    def img(self) -> Dict[str, Any]:
        return {IMAGE_KEY: self._to_img()}

    def _to_img(self):
        from PIL import Image, ImageDraw

        images = [self["input_img"], self["rot_img"], self["output_img"]]
        width = sum(image.shape[1] for image in images)
        height = max(image.shape[0] for image in images) + CAPTION_HEIGHT
        # a drawing too large to save: the three images scaled down alike
        images = [fit_for_drawing(image, width, height)[0] for image in images]
        h = max(image.shape[0] for image in images)
        canvas = Image.new("RGB", (sum(image.shape[1] for image in images), h + CAPTION_HEIGHT), (255, 255, 255))
        settings = self["model_settings"]
        captions = ["Original Image", f"Rotated Image ({settings['use_doc_orientation_classify']}, {self['angle']})",
                    f"Unwarping Image ({settings['use_doc_unwarping']})"]
        draw = ImageDraw.Draw(canvas)
        x = 0
        for image, caption in zip(images, captions):
            canvas.paste(Image.fromarray(np.ascontiguousarray(image[:, :, ::-1])), (x, 0))
            draw.text((10 + x, h + 2), caption, fill=(0, 0, 0), font=_caption_font(caption, image.shape[1], draw))
            x += image.shape[1]
        return canvas

    def save_to_img(self, save_path):
        """Save to `save_path` if it names an image file, else to `<save_path>/<stem>_preprocessed_img.png`."""
        from pathlib import Path

        target = Path(save_path)
        if not is_image_name(target):
            target = target / f"{self._input_stem()}_{IMAGE_KEY}.png"
        return super().save_to_img(target)


def _caption_font(text: str, width: int, draw):
    """PaddleX's create_font(text, (width, 20)): 80% of 20 px, shrunk in proportion when wider than its image."""
    size = int(20 * 0.8)
    font = file_font(font_path(), size)
    length = draw.textlength(text, font=font)
    if length > width:
        font = file_font(font_path(), max(1, int(size * width / length)))
    return font
