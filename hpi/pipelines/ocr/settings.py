"""The OCR pipeline's options with PaddleOCR 3.x's names, their defaults (PaddleX 3.7.2's OCR.yaml) and checks.

The constructor's options are the pipeline's defaults; predict() takes the per-call ones under the same names.
Every check runs before any model is loaded or downloaded, and a bad value is a ConfigError naming it.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Dict, Optional

from ...errors import ConfigError
from ...tasks.text_detection.predictor import OPTION_CHECKS

# PaddleX 3.7.2's OCR.yaml (what PaddleOCR 3.x runs when given nothing)
DEFAULT_DET_MODEL = "PP-OCRv6_medium_det"
DEFAULT_REC_MODEL = "PP-OCRv6_medium_rec"
DEFAULT_TEXTLINE_MODEL = "PP-LCNet_x1_0_textline_ori"
DEFAULT_BATCH_SIZE = 6  # TextLineOrientation.batch_size and TextRecognition.batch_size

# predict()'s text_det_* names -> TextDetection.predict's
DET_PARAMS = {"text_det_limit_side_len": "limit_side_len", "text_det_limit_type": "limit_type",
              "text_det_max_side_limit": "max_side_limit", "text_det_thresh": "thresh",
              "text_det_box_thresh": "box_thresh", "text_det_unclip_ratio": "unclip_ratio"}
UNSUPPORTED_MODULES = ("use_doc_orientation_classify", "use_doc_unwarping")


@dataclass(frozen=True)
class CallSettings:
    """What one predict() call runs with (the constructor's values, then the call's)."""

    use_textline_orientation: bool
    text_det_limit_side_len: int = 64
    text_det_limit_type: str = "min"
    text_det_max_side_limit: int = 4000
    text_det_thresh: float = 0.3
    text_det_box_thresh: float = 0.6
    text_det_unclip_ratio: float = 1.5
    text_rec_score_thresh: float = 0.0

    def det_options(self) -> Dict[str, Any]:
        return {det: getattr(self, name) for name, det in DET_PARAMS.items()}

    def text_det_params(self) -> Dict[str, Any]:
        """PaddleX's text_det_params, in its key order."""
        options = self.det_options()
        return {key: options[key] for key in ("limit_side_len", "limit_type", "thresh", "max_side_limit",
                                              "box_thresh", "unclip_ratio")}

    def updated(self, where: str, **given) -> "CallSettings":
        """These settings with the non-None values of `given`, checked."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(given) - known)
        if unknown:
            raise ConfigError(f"unknown argument(s) {unknown} for {where}; allowed: {sorted(known)}")
        changes = {key: check(key, value, where) for key, value in given.items() if value is not None}
        return replace(self, **changes)


def check(name: str, value: Any, where: str) -> Any:
    if name == "use_textline_orientation":
        ok, allowed = isinstance(value, bool), "True or False"
    elif name == "text_rec_score_thresh":
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value == value
        allowed = "a number (lines scoring below it are dropped)"
    else:
        test, allowed = OPTION_CHECKS[DET_PARAMS[name]]
        ok = test(value)
    if not ok:
        raise ConfigError(f"{where}: bad value {value!r} for {name}: expected {allowed}")
    return value.item() if hasattr(value, "item") else value


def refuse_unsupported(where: str, use_doc_orientation_classify: Optional[bool] = None,
                       use_doc_unwarping: Optional[bool] = None, return_word_box: Optional[bool] = None) -> None:
    """PaddleOCR options hpi accepts only switched off."""
    for name, value in (("use_doc_orientation_classify", use_doc_orientation_classify),
                        ("use_doc_unwarping", use_doc_unwarping)):
        if value is not None and value is not False:
            raise ConfigError(f"{where}: {name}={value!r} is not supported: hpi's OCR pipeline has no document "
                              "orientation or unwarping models (PP-LCNet_x1_0_doc_ori, UVDoc); pass False or "
                              "leave it out, and give upright, flat images")
    if return_word_box is not None and return_word_box is not False:
        raise ConfigError(f"{where}: return_word_box={return_word_box!r} is not supported yet; pass False or "
                          "leave it out")


def check_batch_size(name: str, value: Optional[int]) -> int:
    if value is None:
        return DEFAULT_BATCH_SIZE
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value
