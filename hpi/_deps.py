"""Lazy imports of optional frameworks, with errors that say which extra to install."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType
from typing import Optional

from ._logging import framework_import
from .errors import MissingDependencyError

# module name -> (pip extra of hpi-runtime, the pip package that provides it). A backend's framework is a fact of its
# class (`framework`, `extra`, `package`): it imports it with `import_framework()`, which passes them here.
QUANTIZE_EXTRA = "quantize"  # what `hpi quantize` needs: nncf, openvino, onnxruntime, onnx
_EXTRAS = {
    "paddle2onnx": ("paddle", "paddle2onnx"),
    "cuda": ("gpu", "cuda-python"),
    "pypdfium2": ("pdf", "pypdfium2"),
    "ray": ("ray", "'ray[data,serve]'"),
    "fastapi": ("serve", "fastapi"),
    "nncf": (QUANTIZE_EXTRA, "nncf"),
    "uvicorn": ("serve", "uvicorn"),
}


def install_hint(extra: str, packages: str) -> str:
    """How to install an extra: hpi-runtime is not on PyPI, so from an hpi checkout, or the packages themselves."""
    return f'pip install ".[{extra}]" in an hpi checkout (or: pip install {packages})'


def require(module: str, extra: Optional[str] = None, package: Optional[str] = None) -> ModuleType:
    """Import `module` or raise MissingDependencyError naming the pip extra that installs it: `extra` (and its
    `package`, default the top-level module) where the caller knows it, else the table above."""
    loaded = sys.modules.get(module)
    # A module another thread is still importing is in sys.modules half-initialised: import_module waits for it
    if loaded is not None and not getattr(getattr(loaded, "__spec__", None), "_initializing", False):
        return loaded
    try:
        with framework_import(module):
            return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        extra, package = (extra, package or top) if extra else _EXTRAS.get(top, (None, module))
        hint = install_hint(extra, package) if extra else f"pip install {package}"
        raise MissingDependencyError(f"{module!r} is required here but cannot be imported ({exc}). "
                                     f"Install it with: {hint}") from exc


def is_installed(module: str) -> bool:
    """True if `module` is installed, without importing it (a broken install is found when a backend loads)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
