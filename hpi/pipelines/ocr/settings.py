"""The OCR pipeline's options with PaddleOCR 3.x's names, their defaults (PaddleX 3.7.2's OCR.yaml) and checks;
the constructor's resolved into a Plan, and hpi_config per sub-model.

The constructor's options are the pipeline's defaults; predict() takes the per-call ones under the same names.
Every check runs before any model is loaded or downloaded, and a bad value is a ConfigError naming it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, fields, replace
from typing import Any, Dict, FrozenSet, Optional

from ...errors import ConfigError
from ...runtime.config import HPIConfig, read_hpi_config
from ...runtime.device import Device, parse_device, require_device
from ...runtime.engine_args import PADDLEOCR_ARGS, EngineArgs
from ...runtime.model_spec import ModelSpec, check_for_mode, check_use_hpip
from ...runtime.model_dir import known_models
from ...tasks.text_detection.predictor import OPTION_CHECKS, finite_number
from ..doc_preprocessor.ocr_stage import MODEL_ARGS as DOC_MODEL_ARGS, DocPlan, plan as doc_plan
from ..composed import sub_model
from .langs import check_version, route

# PaddleX 3.7.2's OCR.yaml (what PaddleOCR 3.x runs when given nothing)
DEFAULT_DET_MODEL = "PP-OCRv6_medium_det"
DEFAULT_REC_MODEL = "PP-OCRv6_medium_rec"
DEFAULT_TEXTLINE_MODEL = "PP-LCNet_x1_0_textline_ori"
DEFAULT_BATCH_SIZE = 6  # TextLineOrientation.batch_size and TextRecognition.batch_size

# predict()'s text_det_* names -> TextDetection.predict's
DET_PARAMS = {"text_det_limit_side_len": "limit_side_len", "text_det_limit_type": "limit_type",
              "text_det_max_side_limit": "max_side_limit", "text_det_thresh": "thresh",
              "text_det_box_thresh": "box_thresh", "text_det_unclip_ratio": "unclip_ratio"}
logger = logging.getLogger(__name__)

SUB_MODELS = ("text_detection", "textline_orientation", "text_recognition", "doc_orientation_classify",
              "doc_unwarping")
# PaddleOCR 2.x names PaddleOCR 3.x still accepts (with a warning)
DEPRECATED_NAMES = {"det_model_dir": "text_detection_model_dir", "det_limit_side_len": "text_det_limit_side_len",
                    "det_limit_type": "text_det_limit_type", "det_db_thresh": "text_det_thresh",
                    "det_db_box_thresh": "text_det_box_thresh", "det_db_unclip_ratio": "text_det_unclip_ratio",
                    "rec_model_dir": "text_recognition_model_dir", "rec_batch_num": "text_recognition_batch_size",
                    "use_angle_cls": "use_textline_orientation", "cls_model_dir": "textline_orientation_model_dir",
                    "cls_batch_num": "textline_orientation_batch_size"}
CONSTRUCTOR_NAMES = ("text_detection_model_name", "text_detection_model_dir", "textline_orientation_model_name",
                     "textline_orientation_model_dir", "textline_orientation_batch_size",
                     "text_recognition_model_name", "text_recognition_model_dir", "text_recognition_batch_size",
                     "use_doc_orientation_classify", "use_doc_unwarping", "use_textline_orientation",
                     "text_det_limit_side_len", "text_det_limit_type", "text_det_max_side_limit", "text_det_thresh",
                     "text_det_box_thresh", "text_det_unclip_ratio", "text_rec_score_thresh",
                     "return_word_box") + DOC_MODEL_ARGS
UNSUPPORTED_NAMES = ("text_det_input_shape", "text_rec_input_shape")
RUNTIME_NAMES = ("device", "use_hpip", "enable_hpi", "hpi_config")  # where and how every sub-model runs
ALL_NAMES = CONSTRUCTOR_NAMES + RUNTIME_NAMES + ("lang", "ocr_version") + PADDLEOCR_ARGS + tuple(DEPRECATED_NAMES)


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
    elif name == "text_rec_score_thresh":  # scores are in [0, 1]
        ok = finite_number(value) and 0 <= value <= 1
        allowed = "a number in [0, 1] (lines scoring below it are dropped)"
    else:
        test, allowed = OPTION_CHECKS[DET_PARAMS[name]]
        ok = test(value)
    if not ok:
        raise ConfigError(f"{where}: bad value {value!r} for {name}: expected {allowed}")
    return value.item() if hasattr(value, "item") else value


def refuse_unsupported(where: str, return_word_box: Optional[bool] = None) -> None:
    """PaddleOCR options hpi accepts only switched off."""
    if return_word_box is not None and return_word_box is not False:
        raise ConfigError(f"{where}: return_word_box={return_word_box!r} is not supported yet; pass False or "
                          "leave it out")


def check_batch_size(name: str, value: Optional[int]) -> int:
    if value is None:
        return DEFAULT_BATCH_SIZE
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    return value


@dataclass
class Plan:
    """The constructor's arguments, checked and resolved, before any model is loaded."""

    defaults: CallSettings
    textline_batch_size: int
    rec_batch_size: int
    use_hpip: Optional[bool]
    device: Device
    hpi_configs: dict  # sub-model -> its hpi_config as given, with what engine, cpu_threads, ... set
    configs: Dict[str, HPIConfig]  # the same, parsed and checked
    models: dict  # sub-model -> {"model_name", "model_dir"}; textline_orientation only when loaded
    doc: DocPlan  # the document preprocessor (PaddleOCR 3.7's rules, doc_preprocessor/ocr_stage.py)
    # the steps whose model the pipeline chose itself (the caller named none and set no flag for it): a default
    # model no source has is then substituted, or the step turned off, with a warning
    by_default: FrozenSet[str] = frozenset()

    @classmethod
    def of(cls, given: dict, extra: dict) -> "Plan":
        """`given`: the constructor's named arguments (missing ones are None); `extra`: its **kwargs."""
        given = {**dict.fromkeys(CONSTRUCTOR_NAMES + RUNTIME_NAMES), **given}
        extra = dict(extra)
        lang, ocr_version = extra.pop("lang", None), extra.pop("ocr_version", None)
        for old, new in DEPRECATED_NAMES.items():
            if old in extra:
                if given.get(new) is not None:
                    raise ConfigError(f"`{old}` and `{new}` are mutually exclusive")
                logger.warning("OCR(%s=...) is PaddleOCR 2.x's name: use %s", old, new)
                given[new] = extra.pop(old)
        for name in UNSUPPORTED_NAMES:
            if extra.get(name) is not None:
                raise ConfigError(f"OCR: {name} is not supported: give the models by name or directory "
                                  "(text_detection_model_dir, text_recognition_model_dir, ...)")
            extra.pop(name, None)
        if extra.get("paddlex_config") is not None:
            raise ConfigError("OCR: paddlex_config is not supported: hpi reads no PaddleX pipeline YAML; give its "
                              "settings as arguments (text_detection_model_dir=..., text_det_thresh=..., ...)")
        extra.pop("paddlex_config", None)
        engine_args = {name: extra.pop(name) for name in PADDLEOCR_ARGS if name in extra}
        if extra:
            raise ConfigError(f"unknown argument(s) {sorted(extra)} for OCR; allowed: {sorted(ALL_NAMES)}")
        refuse_unsupported("OCR", given["return_word_box"])
        use_hpip = check_use_hpip(given["use_hpip"], given.get("enable_hpi"))  # None: each model's edge default
        engine = EngineArgs.take("OCR", engine_args, use_hpip=use_hpip, device=given["device"])
        named = {kind for kind in ("text_detection", "text_recognition", "textline_orientation")
                 if given[f"{kind}_model_name"] is not None or given[f"{kind}_model_dir"] is not None}
        orientation_given = "textline_orientation" in named
        text_models_given = bool(named & {"text_detection", "text_recognition"})
        by_default = {"text_detection", "text_recognition"} - named
        if given["use_textline_orientation"] is None and not orientation_given:
            by_default.add("textline_orientation")
        if (given["use_doc_orientation_classify"] is None and given["use_doc_unwarping"] is None
                and all(given[name] is None for name in DOC_MODEL_ARGS)):
            by_default.add("doc_preprocessor")
        use_orientation = given["use_textline_orientation"]
        if use_orientation is None:  # PaddleOCR's default set when nothing is given; else only with a model
            use_orientation = orientation_given or not text_models_given
        defaults = CallSettings(use_textline_orientation=False).updated(
            "OCR", use_textline_orientation=use_orientation, text_rec_score_thresh=given["text_rec_score_thresh"],
            **{name: given[name] for name in DET_PARAMS})
        det_name, rec_name = _routed(text_models_given, lang, ocr_version)
        device = require_device(parse_device(engine.device))
        hpi_configs = {name: engine.apply("OCR", config) for name, config in
                       per_model_configs(given["hpi_config"]).items()}
        configs = {name: check_for_mode(HPIConfig.from_user(config), engine.use_hpip)
                   for name, config in hpi_configs.items()}  # each checked, those of models left out too
        models = {"text_detection": _model(given, "text_detection", det_name),
                  "text_recognition": _model(given, "text_recognition", rec_name)}
        if defaults.use_textline_orientation or orientation_given:
            models["textline_orientation"] = _model(given, "textline_orientation", DEFAULT_TEXTLINE_MODEL)
        return cls(defaults=defaults,
                   textline_batch_size=check_batch_size("textline_orientation_batch_size",
                                                        given["textline_orientation_batch_size"]),
                   rec_batch_size=check_batch_size("text_recognition_batch_size",
                                                   given["text_recognition_batch_size"]),
                   use_hpip=engine.use_hpip, device=device, hpi_configs=hpi_configs, configs=configs,
                   models=models, doc=doc_plan(given, text_models_given), by_default=frozenset(by_default))

    def spec(self, model: str) -> ModelSpec:
        """The ModelSpec of a sub-model (its folder read now)."""
        return ModelSpec.of(**self.models[model], device=self.device, use_hpip=self.use_hpip,
                            hpi_config=self.configs[model], where="OCR")

    def doc_preprocessor(self):
        """The document preprocessor of this plan, loaded (None when off)."""
        return self.doc.build(device=self.device, use_hpip=self.use_hpip, configs=self.configs)


def _routed(text_models_given: bool, lang: Optional[str], ocr_version: Optional[str]) -> "tuple[str, str]":
    """The detection and recognition models for lang / ocr_version, as PaddleOCR 3.7 routes them (langs.py);
    when either model is named or given by directory, lang and ocr_version are ignored with a warning."""
    check_version(ocr_version)
    if not text_models_given:
        return route(lang, ocr_version, known_models())
    if lang is not None or ocr_version is not None:
        logger.warning("OCR: lang and ocr_version are ignored: the models are named or given by directory "
                       "(as PaddleOCR)")
    return DEFAULT_DET_MODEL, DEFAULT_REC_MODEL


def per_model_configs(hpi_config) -> dict:
    """hpi_config for each sub-model: one config (a dict or YAML path) for all, or a dict keyed by
    text_detection / textline_orientation / text_recognition / doc_orientation_classify / doc_unwarping (a
    sub-model left out gets the defaults), as PaddleX's pipeline config sets hpi_config per SubModule."""
    mapping = read_hpi_config(hpi_config)
    if isinstance(mapping, dict) and mapping and set(mapping) <= set(SUB_MODELS):
        return {name: mapping.get(name) for name in SUB_MODELS}
    return {name: mapping for name in SUB_MODELS}


def _model(given: dict, prefix: str, default_name: str) -> dict:
    return sub_model(given[f"{prefix}_model_name"], given[f"{prefix}_model_dir"], default_name)
