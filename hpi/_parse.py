"""Values given as text (command lines, `serve run` arguments, config files) parsed one way everywhere."""
from __future__ import annotations

import argparse


def str2bool(value) -> bool:
    """'true'/'yes'/'t'/'y'/'1' and their negatives, any case; anything else is an ArgumentTypeError (argparse
    reports it as a usage error)."""
    lowered = str(value).strip().lower()
    if lowered in ("true", "yes", "t", "y", "1"):
        return True
    if lowered in ("false", "no", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected a boolean (True/False), got {value!r}")
