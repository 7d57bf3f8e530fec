"""PaddleX-style result objects: a dict per input that prints, saves to JSON and draws.

Typed data stays inside the pipeline; this is the edge where it becomes PaddleX's dict result.
"""
from __future__ import annotations

import io
import json
import mimetypes
import random
import sys
import time
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np

from ._fs import atomic_write

# Keys kept internal: never printed nor saved to JSON.
_PRIVATE_KEYS = ("input_img", "vis_font")


def _plain(value: Any) -> Any:
    """numpy scalars/arrays, Paths and tuples -> JSON-ready Python values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return value.as_posix()
    return value


def is_image_name(path) -> bool:
    """Whether a file name's suffix is an image format's (a save path naming a file, not a folder)."""
    return (mimetypes.guess_type(str(path))[0] or "").startswith("image/")


def write_image(image, target: Path) -> None:
    """A PIL image written to `target` (atomically) in the format its suffix names, PNG without one."""
    buffer = io.BytesIO()
    image.save(buffer, format={".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}.get(
        target.suffix.lower(), target.suffix.lstrip(".").upper() or "PNG"))
    atomic_write(target, buffer.getvalue())


class UniqueNames:
    """The file stems of one call's results: two inputs with the same name in different folders (or an image
    `a_0.png` beside page 0 of `a.pdf`) would overwrite each other's saved files, so a stem already taken gets
    the first free `_1`, `_2`... suffix. The first keeps PaddleX's name."""

    def __init__(self):
        self._taken: set = set()

    def assign(self, result: "BaseResult") -> None:
        stem = candidate = result._input_stem()
        suffix = 0
        while candidate in self._taken:
            suffix += 1
            candidate = f"{stem}_{suffix}"
        self._taken.add(candidate)
        result.__dict__["_save_stem"] = candidate


class BaseResult(dict):
    """A dict with `.json`, `.img`, `print()`, `save_to_json()` and `save_to_img()`."""

    def _public(self) -> Dict[str, Any]:
        return {k: v for k, v in self.items() if k not in _PRIVATE_KEYS}

    @property
    def json(self) -> Dict[str, Any]:
        return {"res": _plain(self._public())}

    @property
    def str(self) -> Dict[str, Any]:
        return self.json

    @property
    def img(self) -> Dict[str, Any]:
        return {"res": self._to_img()}

    def _to_img(self):
        raise NotImplementedError

    def print(self, format_json: bool = True, indent: int = 4, ensure_ascii: bool = False, *,
              json_format: Optional[bool] = None, file=None) -> None:
        """Print the result; `json_format` is PaddleX's spelling of `format_json`."""
        if json_format is not None:
            format_json = json_format
        if format_json:
            text = json.dumps(self.json, indent=indent, ensure_ascii=ensure_ascii)
        else:  # PaddleX's print: `.str` with numpy arrays cut to their first and last items
            with np.printoptions(threshold=1, edgeitems=1):
                text = repr(self.str)
        print(text, file=file or sys.stdout, flush=True)

    def _input_stem(self) -> str:
        """File stem for saved outputs: the input's name, `_<page>` for a page; a unique name for arrays. Within
        one predict call, a stem already taken gets `_1`, `_2`... (see UniqueNames)."""
        if "_save_stem" in self.__dict__:
            return self.__dict__["_save_stem"]
        input_path = self.get("input_path")
        if input_path is None:
            if "_generated_stem" not in self.__dict__:
                self.__dict__["_generated_stem"] = f"{int(time.time())}_{random.randint(1000, 9999)}"
            stem = self.__dict__["_generated_stem"]
        else:
            stem = Path(str(input_path).split("?")[0]).stem
        if self.get("page_index") is not None:
            stem = f"{stem}_{self['page_index']}"
        return stem

    def save_to_json(self, save_path, indent: int = 4, ensure_ascii: bool = False) -> Path:
        """Save to `save_path` if it names a .json file, else to `<save_path>/<stem>_res.json`."""
        target = Path(save_path)
        if mimetypes.guess_type(str(target))[0] != "application/json":
            target = target / f"{self._input_stem()}_res.json"
        text = json.dumps(self.json["res"], indent=indent, ensure_ascii=ensure_ascii)
        atomic_write(target, text.encode("utf-8"))
        return target

    def save_to_img(self, save_path) -> Path:
        """Save to `save_path` if it names an image file (`_to_img()`'s drawing only), else each drawing of `img`
        to `<save_path>/<stem>_<key>.<input suffix|png>` (PaddleX's names: `_res` for a model's result); the first
        drawing's path."""
        target = Path(save_path)
        if is_image_name(target):
            write_image(self._to_img(), target)
            return target
        suffix = Path(str(self.get("input_path") or "")).suffix.lower()
        if not is_image_name("x" + suffix):
            suffix = ".png"
        paths = []
        for key, image in self.img.items():
            paths.append(target / f"{self._input_stem()}_{key}{suffix}")
            write_image(image, paths[-1])
        return paths[0]

    def save_all(self, save_path) -> None:
        self.save_to_json(save_path)
        self.save_to_img(save_path)
