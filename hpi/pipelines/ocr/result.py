"""The OCR result, as PaddleX 3.7.2's OCRResult: its keys and JSON, and its drawing.

The drawing (`img["ocr_res_img"]`, saved as `<stem>_ocr_res_img.<ext>`) is PaddleX's two panels side by side:
left, the image with every kept box filled in a colour of its own and blended 50% over it; right, a white page
with each text drawn into its box (perspective-warped onto the box, the font 80% of the box height or smaller
to fit the width; tall narrow boxes get the characters one under another) and the box outlined in its colour.
Colours come from random.Random(0) as in PaddleX. Texts use hpi's fonts, character by character (see
hpi/visualize.py), where PaddleX uses one font per model. The left panel is the image detection saw: the document
preprocessor's output when it ran, whose own drawing is then `img["preprocessed_img"]` too (PaddleX's).
"""
from __future__ import annotations

import math
import random
from typing import Dict

import cv2
import numpy as np
from PIL import Image, ImageDraw

from ...results import BaseResult
from ...visualize import drawn_text, face_font, fit_for_drawing, run_width, split_runs, visual_order

IMAGE_KEY = "ocr_res_img"
VERTICAL_MIN_HEIGHT = 30  # a box taller than this and than twice its width gets vertical text
MIN_VERTICAL_FONT = 10


class OCRResult(BaseResult):
    """Keys, in PaddleX's order: input_path, page_index, model_settings, doc_preprocessor_res (a
    DocPreprocessorResult, when model_settings.use_doc_preprocessor), dt_polys, text_det_params, text_type,
    textline_orientation_angles (when the image had boxes), text_rec_score_thresh, return_word_box, rec_texts,
    rec_scores, rec_polys, rec_boxes; and the private input_img (BGR: the image detection saw)."""

    def _public(self) -> Dict[str, object]:
        data = super()._public()
        if "doc_preprocessor_res" in data:  # its JSON (input_path, page_index, model_settings, angle), as PaddleX
            data["doc_preprocessor_res"] = data["doc_preprocessor_res"]._public()
        return data

    @property
    def str(self) -> Dict[str, dict]:
        """PaddleX's `.str`: the JSON's keys, polygons, boxes, scores and angles as numpy arrays (what
        print(format_json=False) shows, as PaddleOCR's CLI prints a result)."""
        data = dict(self.json["res"])
        for key in ("dt_polys", "textline_orientation_angles", "rec_scores", "rec_polys", "rec_boxes"):
            if key in self:
                data[key] = np.array(self[key])
        return {"res": data}

    @property
    def img(self) -> Dict[str, Image.Image]:
        images = {IMAGE_KEY: self._to_img()}
        if "doc_preprocessor_res" in self:
            images.update(self["doc_preprocessor_res"].img)
        return images

    def _to_img(self) -> Image.Image:
        return draw_ocr(self["input_img"], self["rec_polys"], self["rec_texts"])


def draw_ocr(image_bgr: np.ndarray, polys, texts) -> Image.Image:
    h, w = image_bgr.shape[:2]
    image_bgr, scale = fit_for_drawing(image_bgr, 2 * w, h)  # two panels side by side
    polys = [np.asarray(poly) * scale for poly in polys] if scale < 1 else polys
    h, w = image_bgr.shape[:2]
    rgb = cv2.cvtColor(np.ascontiguousarray(image_bgr), cv2.COLOR_BGR2RGB)
    left = Image.fromarray(rgb)
    right = np.full((h, w, 3), 255, dtype=np.uint8)
    rng = random.Random(0)
    draw_left = ImageDraw.Draw(left)
    for poly, text in zip(polys, texts):
        color = (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255))
        box = np.array(poly)
        draw_left.polygon([(int(x), int(y)) for x, y in box.tolist()], fill=color)
        panel = text_in_box((w, h), box, text)
        if panel is None:  # a box too small for any font: PaddleX skips its text and outline too
            continue
        cv2.polylines(panel, [np.array(box, np.int32).reshape((-1, 1, 2))], True, color, 1)
        right = cv2.bitwise_and(right, panel)
    left = Image.blend(Image.fromarray(rgb), left, 0.5)
    canvas = Image.new("RGB", (w * 2, h), (255, 255, 255))
    canvas.paste(left, (0, 0, w, h))
    canvas.paste(Image.fromarray(right), (w, 0, w * 2, h))
    return canvas


def text_in_box(image_size, box: np.ndarray, text: str):
    """A white image of `image_size` (w, h) with `text` warped into the quadrilateral `box` (PaddleX's
    draw_box_txt_fine), or None when the box is too small to hold a font."""
    box_h = int(math.sqrt(float(box[0][0] - box[3][0]) ** 2 + float(box[0][1] - box[3][1]) ** 2))
    box_w = int(math.sqrt(float(box[0][0] - box[1][0]) ** 2 + float(box[0][1] - box[1][1]) ** 2))
    if box_w < 1 or box_h < 1:
        return None
    tile = Image.new("RGB", (box_w, box_h), (255, 255, 255))
    if text:
        vertical = box_h > 2 * box_w and box_h > VERTICAL_MIN_HEIGHT
        if not (draw_vertical(tile, text) if vertical else draw_horizontal(tile, text)):
            return None
    source = np.float32([[0, 0], [box_w, 0], [box_w, box_h], [0, box_h]])
    matrix = cv2.getPerspectiveTransform(source, np.array(box, dtype=np.float32))
    return cv2.warpPerspective(np.array(tile, dtype=np.uint8), matrix, tuple(image_size), flags=cv2.INTER_NEAREST,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(255, 255, 255))


def draw_horizontal(tile: Image.Image, text: str) -> bool:
    """PaddleX's create_font: 80% of the height, shrunk in proportion when the text is wider than the tile."""
    width, height = tile.size
    runs = visual_order(split_runs(text))
    size = int(height * 0.8)
    if size < 1:
        return False
    length = sum(run_width(run, size) for run in runs)
    if length > width:
        size = int(size * width / length)
        if size < 1:
            return False
    draw = ImageDraw.Draw(tile)
    ascent = max(face_font(run.face, size).getmetrics()[0] for run in runs)
    x = 0.0
    for run in runs:  # one baseline for every font, the tallest ascender at the top as PaddleX's (0, 0)
        run_text, direction = drawn_text(run)
        draw.text((x, ascent), run_text, fill=(0, 0, 0), font=face_font(run.face, size), anchor="ls",
                  direction=direction)
        x += run_width(run, size)
    return True


def draw_vertical(tile: Image.Image, text: str, scale: float = 1.2, spacing: int = 2) -> bool:
    """PaddleX's create_font_vertical and draw_vertical_text: one character under another."""
    width, height = tile.size
    faces = [run.face for run in split_runs(text) for _ in run.text]
    size = max(int(height / max(len(text), 1) * 0.8 * scale), MIN_VERTICAL_FONT)
    widest = max(face_font(face, size).getlength(char) for face, char in zip(faces, text))
    if widest > width:
        size = max(int(size * width / widest), MIN_VERTICAL_FONT)
    draw = ImageDraw.Draw(tile)
    y = 0
    for face, char in zip(faces, text):
        font = face_font(face, size)
        draw.text((0, y), char, font=font, fill=(0, 0, 0))
        top, bottom = font.getbbox(char)[1], font.getbbox(char)[3]
        y += bottom - top + spacing
    return True
