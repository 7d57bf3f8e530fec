"""Text recognition's workload for reduced precision: real line crops as calibration and validation inputs,
preprocessed exactly as predict() does (each line alone, at its own width), judged by decoded text.

Data is a folder of images (every image in it, recursively), a folder holding a PaddleOCR `labels.txt`, or such a
labels file itself (`relative/path<TAB>text` per line). Labels make the gate use accuracy and 1-NED (PaddleOCR's
recognition metric, spaces ignored); without them the gate uses agreement with the FP32 model's text.
"""
from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .metrics import accuracy, norm_edit_distance
from .labels import read_labels_file
from ...errors import ConfigError
from ...inputs import iter_inputs
from ...runtime.model_dir import ModelDir
from ...runtime.quantization import Metrics, Workload
from .postprocess import CTCDecoder
from .predictor import REDUCED_PRECISION_WIDTH_MULTIPLE
from .preprocess import rec_image_shape_from_config, resize_norm

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
LABELS_FILE = "labels.txt"


def read_lines(data, use_labels: bool = True) -> Tuple[List[str], Optional[List[str]]]:
    """(image paths, labels or None) of a calibration or validation source. A folder gives every image in it when
    `use_labels` is False (calibration needs no labels: unlabelled crops count too)."""
    source = Path(data).expanduser()
    if source.is_file():
        return read_labels_file(source)
    if use_labels and (source / LABELS_FILE).is_file():
        return read_labels_file(source / LABELS_FILE)
    if not source.is_dir():
        raise ConfigError(f"{str(data)!r} is neither a folder of line images nor a labels file")
    paths = sorted(str(p) for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise ConfigError(f"{str(data)!r} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return paths, None


def line_inputs(model_dir: ModelDir, paths: Sequence[str], width_multiple: int = 1) -> List[np.ndarray]:
    """One 1x3xHxW input per line, as predict feeds the model one line (at `width_multiple` as it pads it)."""
    shape = rec_image_shape_from_config(model_dir.config)
    return [resize_norm(item.load(), shape, width_multiple)[None] for item in iter_inputs(list(paths))]


def comparable(text: str) -> str:
    """`ignore_case`: labels from sources that upper-case everything (SROIE receipts) or write full-width
    punctuation compare with the model's text after Unicode NFKC and case folding."""
    return unicodedata.normalize("NFKC", text).casefold()


def recognition_workload(model_dir: ModelDir, calib_data, val_data=None, ignore_case: bool = False) -> Workload:
    calib_paths, _ = read_lines(calib_data, use_labels=False)
    val_paths, labels = read_lines(val_data) if val_data is not None else read_lines(calib_data)
    if labels is not None and ignore_case:
        labels = [comparable(label) for label in labels]
    decoder = CTCDecoder(model_dir.section("PostProcess", "character_dict") or [])

    def texts(outputs: Sequence[np.ndarray]) -> List[str]:
        return [decoder(output)[0][0] for output in outputs]

    def judge(outputs: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> Metrics:
        predicted, expected = texts(outputs), texts(reference)
        agreement = 100 * sum(a == b for a, b in zip(predicted, expected)) / len(predicted)
        if labels is None:
            return Metrics(agreement)
        if ignore_case:
            predicted = [comparable(text) for text in predicted]
        return Metrics(agreement, 100 * accuracy(predicted, labels), 100 * norm_edit_distance(predicted, labels))

    description = {"calibration": str(calib_data), "calibration_items": len(calib_paths),
                   "validation": str(val_data if val_data is not None else calib_data),
                   "validation_items": len(val_paths), "validation_is_calibration": val_data is None,
                   "ignore_case": ignore_case}
    # Calibration and the candidate see lines as predict feeds a reduced-precision model: padded to a multiple of
    # REDUCED_PRECISION_WIDTH_MULTIPLE (few shapes to prepare); FP32 sees them at PaddleX's own widths.
    return Workload(line_inputs(model_dir, calib_paths, REDUCED_PRECISION_WIDTH_MULTIPLE),
                    line_inputs(model_dir, val_paths), judge, labelled=labels is not None, description=description,
                    reduced_validation=line_inputs(model_dir, val_paths, REDUCED_PRECISION_WIDTH_MULTIPLE))
