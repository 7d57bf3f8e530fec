"""Lazy imports of optional frameworks, with errors that say which extra to install."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

from ._logging import framework_import
from .errors import MissingDependencyError

# module name -> (pip extra of hpi-runtime, the pip package that provides it); the backends' frameworks are facts of
# their classes (`framework`, `extra`, `package`), read from the registry (_extra_of)
_EXTRAS = {
    "paddle2onnx": ("paddle", "paddle2onnx"),
    "cuda": ("gpu", "cuda-python"),
    "pypdfium2": ("pdf", "pypdfium2"),
    "ray": ("ray", "'ray[data,serve]'"),
    "fastapi": ("serve", "fastapi"),
    "nncf": ("quantize", "nncf"),
    "uvicorn": ("serve", "uvicorn"),
}


def install_hint(extra: str, packages: str) -> str:
    """How to install an extra: hpi-runtime is not on PyPI, so from an hpi checkout, or the packages themselves."""
    return f'pip install ".[{extra}]" in an hpi checkout (or: pip install {packages})'


def require(module: str) -> ModuleType:
    """Import `module` or raise MissingDependencyError naming the pip extra that installs it."""
    loaded = sys.modules.get(module)
    # A module another thread is still importing is in sys.modules half-initialised: import_module waits for it
    if loaded is not None and not getattr(getattr(loaded, "__spec__", None), "_initializing", False):
        return loaded
    try:
        with framework_import(module):
            return importlib.import_module(module)
    except ImportError as exc:
        extra, package = _extra_of(module.split(".")[0])
        hint = install_hint(extra, package) if extra else f"pip install {package}"
        raise MissingDependencyError(f"{module!r} is required here but cannot be imported ({exc}). "
                                     f"Install it with: {hint}") from exc


def _extra_of(top_module: str) -> "tuple[str | None, str]":
    """(pip extra, pip package) that install `top_module`; (None, the module) when hpi has no extra for it."""
    if top_module in _EXTRAS:
        return _EXTRAS[top_module]
    from .runtime.backends import BACKENDS  # only to word an error: the registry imports no framework

    for backend in BACKENDS.values():
        if backend.framework == top_module:
            return backend.extra, backend.package
    return None, top_module


def is_installed(module: str) -> bool:
    """True if `module` is installed, without importing it (a broken install is found when a backend loads)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
