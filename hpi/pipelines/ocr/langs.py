"""`lang` and `ocr_version`: the detection and recognition models PaddleOCR 3.7 picks for them
(paddleocr/_pipelines/ocr.py `_get_ocr_model_names`, paddleocr/_utils/langs.py), kept to the models hpi's catalog
(configs/models.yaml) knows: a pick outside it is a ConfigError naming what hpi has for that language.

PaddleOCR routes only when no detection or recognition model is named or given by directory; otherwise `lang` and
`ocr_version` are ignored with a warning, as here.
"""
from __future__ import annotations

import logging
from typing import Dict, List, Optional, Tuple

from ...errors import ConfigError

logger = logging.getLogger(__name__)

OCR_VERSIONS = ("PP-OCRv3", "PP-OCRv4", "PP-OCRv5", "PP-OCRv6")

LATIN_LANGS = frozenset({
    "af", "az", "bs", "cs", "cy", "da", "de", "es", "et", "fr", "ga", "hr", "hu", "id", "is", "it", "ku", "la", "lt",
    "lv", "mi", "ms", "mt", "nl", "no", "oc", "pi", "pl", "pt", "ro", "rs_latin", "sk", "sl", "sq", "sv", "sw", "tl",
    "tr", "uz", "vi", "french", "german", "fi", "eu", "gl", "lb", "rm", "ca", "qu"})
ARABIC_LANGS = frozenset({"ar", "fa", "ug", "ur", "ps", "ku", "sd", "bal"})
ESLAV_LANGS = frozenset({"ru", "be", "uk"})
CYRILLIC_LANGS = frozenset({
    "ru", "rs_cyrillic", "be", "bg", "uk", "mn", "abq", "ady", "kbd", "ava", "dar", "inh", "che", "lbe", "lez", "tab",
    "kk", "ky", "tg", "mk", "tt", "cv", "ba", "mhr", "mo", "udm", "kv", "os", "bua", "xal", "tyv", "sah", "kaa"})
DEVANAGARI_LANGS = frozenset({"hi", "mr", "ne", "bh", "mai", "ang", "bho", "mah", "sck", "new", "gom", "sa", "bgc"})
V3_OWN_LANGS = ("ch", "en", "korean", "japan", "chinese_cht", "te", "ka", "ta")  # PaddleOCR's SPECIFIC_LANGS
V6_LANGS = frozenset({"ch", "chinese_cht", "en", "japan"}) | (LATIN_LANGS - {"pi"})
V5_LANGS = (frozenset({"korean", "th", "el", "te", "ta"}) | ESLAV_LANGS | ARABIC_LANGS | CYRILLIC_LANGS
            | DEVANAGARI_LANGS | (LATIN_LANGS - V6_LANGS))
ALL_LANGS = frozenset(V3_OWN_LANGS) | V6_LANGS | V5_LANGS
# PP-OCRv5's recognizer per script, in PaddleOCR's order of tests (ku is Latin before Arabic, ru eslav before Cyrillic)
V5_SCRIPTS = (("latin", LATIN_LANGS), ("eslav", ESLAV_LANGS), ("arabic", ARABIC_LANGS),
              ("cyrillic", CYRILLIC_LANGS), ("devanagari", DEVANAGARI_LANGS))
V3_SCRIPTS = (("latin", LATIN_LANGS), ("arabic", ARABIC_LANGS), ("cyrillic", CYRILLIC_LANGS),
              ("devanagari", DEVANAGARI_LANGS))


def default_version(lang: str) -> Optional[str]:
    """The version PaddleOCR 3.7 takes for `lang` when ocr_version is None; None for a language it does not know."""
    if lang in V6_LANGS:
        return "PP-OCRv6"
    if lang in V5_LANGS:
        return "PP-OCRv5"
    return "PP-OCRv3" if lang == "ka" else None


def _script(lang: str, scripts) -> Optional[str]:
    return next((name for name, langs in scripts if lang in langs), None)


def paddleocr_models(lang: Optional[str], ocr_version: Optional[str]) -> Optional[Tuple[str, str]]:
    """(detection, recognition) model names PaddleOCR 3.7 runs for lang / ocr_version; None where it has none."""
    if lang is None and ocr_version is None:
        return "PP-OCRv6_medium_det", "PP-OCRv6_medium_rec"
    lang = "ch" if lang is None else lang
    version = ocr_version or default_version(lang)
    if version == "PP-OCRv6":
        return ("PP-OCRv6_medium_det", "PP-OCRv6_medium_rec") if lang in V6_LANGS else None
    if version == "PP-OCRv5":
        if lang in ("ch", "chinese_cht", "japan"):
            rec = "PP-OCRv5_server_rec"
        elif lang == "en":
            rec = "en_PP-OCRv5_mobile_rec"
        else:
            script = _script(lang, V5_SCRIPTS) or (lang if lang in ("korean", "th", "el", "te", "ta") else None)
            rec = f"{script}_PP-OCRv5_mobile_rec" if script else None
        return ("PP-OCRv5_server_det", rec) if rec else None
    if version == "PP-OCRv4":
        recs = {"ch": "PP-OCRv4_mobile_rec", "en": "en_PP-OCRv4_mobile_rec"}
        return ("PP-OCRv4_mobile_det", recs[lang]) if lang in recs else None
    if version == "PP-OCRv3":
        script = _script(lang, V3_SCRIPTS) or (lang if lang in V3_OWN_LANGS else None)
        if script is None:
            return None
        return "PP-OCRv3_mobile_det", "PP-OCRv3_mobile_rec" if script == "ch" else f"{script}_PP-OCRv3_mobile_rec"
    return None


def check_version(ocr_version: Optional[str]) -> None:
    if ocr_version is not None and ocr_version not in OCR_VERSIONS:
        raise ConfigError(f"OCR: invalid ocr_version {ocr_version!r}; supported: {list(OCR_VERSIONS)} (PaddleOCR 3.7's)")


def route(lang: Optional[str], ocr_version: Optional[str], known: Dict[str, dict]) -> Tuple[str, str]:
    """(detection, recognition) for lang / ocr_version, both in `known` (the catalog), else a ConfigError naming
    the versions hpi has for this language, or the languages it has for this version."""
    check_version(ocr_version)
    if lang is not None and not isinstance(lang, str):
        raise ConfigError(f"OCR: lang must be a language code such as 'en', 'ch' or 'fr', got {lang!r}")
    picked = paddleocr_models(lang, ocr_version)
    asked = f"lang={lang!r}, ocr_version={ocr_version!r}"
    if picked is None:
        langs = sorted(available_langs(ocr_version, known)) if ocr_version else []
        hint = (f"languages hpi has for {ocr_version}: {', '.join(langs)}" if ocr_version else
                "PaddleOCR 3.7's language codes: ch, en, japan, korean, chinese_cht, fr, de, ru, ar, hi, ...")
        raise ConfigError(f"OCR({asked}): PaddleOCR 3.7 has no models for this ({hint})")
    missing = [name for name in picked if name not in known]
    if missing:
        versions = [v for v in OCR_VERSIONS if _in_catalog(paddleocr_models(lang or "ch", v), known)]
        have = (f"versions hpi has for lang={lang or 'ch'!r}: {', '.join(versions)}" if versions
                else f"hpi has no model for lang={lang or 'ch'!r}")
        raise ConfigError(f"OCR({asked}): PaddleOCR 3.7 runs {' + '.join(picked)}, and hpi's catalog "
                          f"(configs/models.yaml) has no {' or '.join(missing)}; {have}. Or give the models: "
                          "text_detection_model_dir=..., text_recognition_model_dir=...")
    return picked


def _in_catalog(picked: Optional[Tuple[str, str]], known: Dict[str, dict]) -> bool:
    return picked is not None and all(name in known for name in picked)


def available_langs(ocr_version: str, known: Dict[str, dict]) -> List[str]:
    """The language codes hpi routes for `ocr_version` (both models in the catalog)."""
    return [lang for lang in ALL_LANGS if _in_catalog(paddleocr_models(lang, ocr_version), known)]
