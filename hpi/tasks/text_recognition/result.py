"""The text recognition result, as PaddleX's TextRecResult."""
from __future__ import annotations

from ...results import BaseResult
from ...visualize import caption_below


class TextRecResult(BaseResult):
    """Keys: input_path, page_index, rec_text, rec_score (and the private input_img)."""

    def _to_img(self):
        return caption_below(self["input_img"], f"{self['rec_text']} ({self['rec_score']})")
