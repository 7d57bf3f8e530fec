"""hpi's log, and the frameworks' own logs kept to it.

Every module logs to its own logger, `logging.getLogger(__name__)`: all are children of the package's logger "hpi"
(ROOT here), so setting that one (`logging.getLogger("hpi")`) or the CLI's `--log_level` controls them all. The
frameworks log on their own (ONNX Runtime and Paddle from C++, straight to stderr); they are set from hpi's level
when they are first used: at DEBUG they show their warnings, at INFO and WARNING only their errors, at ERROR
nothing but fatal errors. Python warnings raised while a framework imports (Paddle's "No ccache found") are
captured into hpi's log at DEBUG.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from typing import Iterator

ROOT = logging.getLogger(__package__)  # "hpi": its level and handlers govern every module's logger
logger = logging.getLogger(__name__)


def framework_level() -> int:
    """The lowest level a framework's own messages should have to be shown, from hpi's effective level."""
    level = ROOT.getEffectiveLevel()
    if level <= logging.DEBUG:
        return logging.WARNING
    if level <= logging.WARNING:
        return logging.ERROR
    return logging.CRITICAL


def onnxruntime_severity() -> int:
    """ONNX Runtime's log_severity_level: 2 warning, 3 error, 4 fatal."""
    return {logging.WARNING: 2, logging.ERROR: 3}.get(framework_level(), 4)


def openvino_log_level() -> str:
    return {logging.WARNING: "LOG_WARNING", logging.ERROR: "LOG_ERROR"}.get(framework_level(), "LOG_NONE")


def glog_min_level() -> str:
    """GLOG_minloglevel for Paddle (read once, when Paddle is imported): 1 warning, 2 error, 3 fatal."""
    return {logging.WARNING: "1", logging.ERROR: "2"}.get(framework_level(), "3")


@contextlib.contextmanager
def framework_import(module: str) -> Iterator[None]:
    """Around a framework's first import: its log level set from hpi's (where the user has not set it), and
    the Python warnings it raises captured into hpi's logger."""
    if module.split(".")[0] == "paddle":
        os.environ.setdefault("GLOG_minloglevel", glog_min_level())
    with captured_warnings(f"importing {module}"):
        yield
    if module == "onnxruntime" and "onnxruntime" in sys.modules:
        sys.modules["onnxruntime"].set_default_logger_severity(onnxruntime_severity())
    if module == "nncf":  # its INFO lines name every node it leaves unquantized (hundreds)
        logging.getLogger("nncf").setLevel(framework_level())


@contextlib.contextmanager
def captured_warnings(during: str, level: int = logging.DEBUG) -> Iterator[None]:
    """Python warnings raised by a framework in the block go to hpi's logger, not to stderr. (The warnings
    filter is process-wide: a warning another thread raises meanwhile is captured too, and logged the same way.)"""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        logger.log(level, "%s while %s: %s", warning.category.__name__, during, warning.message)


def configure_cli(level: str) -> None:
    """The CLI's handler: hpi's lines on the current stderr, at `level` (replacing the handler of an earlier
    call in the same process, which may point at a stderr that is gone)."""
    for old in [h for h in ROOT.handlers if getattr(h, "hpi_cli", False)]:
        ROOT.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.hpi_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("[%(asctime)s] hpi %(levelname)s: %(message)s", "%Y/%m/%d %H:%M:%S"))
    ROOT.addHandler(handler)
    ROOT.setLevel(level)
    ROOT.propagate = False
