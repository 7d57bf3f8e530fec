"""What a task reads of its caller and its model dir, checked the same way for every task: predict's keyword
options (`checked_options`) and inference.yml's preprocessing ops (`preprocess_ops`)."""
from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Sequence

import numpy as np

from ..errors import ConfigError, ModelDirError


def checked_options(task: str, given: Mapping[str, Any], defaults: Mapping[str, Any],
                    checks: Mapping[str, "tuple[Callable[[Any], bool], str]"]) -> Dict[str, Any]:
    """`defaults` updated with the non-None values of `given` (numpy scalars as Python numbers), each passing its
    check; an unknown key or a bad value raises ConfigError naming it and what it allows."""
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ConfigError(f"unknown argument(s) {unknown} for {task}.predict; allowed: {sorted(defaults)}")
    merged = dict(defaults)
    for key, value in given.items():
        if value is None:
            continue
        check, allowed = checks[key]
        if not check(value):
            raise ConfigError(f"{task}.predict: bad value {value!r} for {key}: expected {allowed}")
        merged[key] = value.item() if isinstance(value, np.generic) else value
    return merged


def preprocess_ops(config: Mapping[str, Any], supported: Sequence[str], task: str, where: str) -> Dict[str, dict]:
    """inference.yml's PreProcess.transform_ops as {op name: its arguments}; an entry that is not a one-key mapping
    or an op `task` does not support raises ModelDirError naming it (`where`: the file)."""
    ops: Dict[str, dict] = {}
    for entry in (config.get("PreProcess") or {}).get("transform_ops") or []:
        if not isinstance(entry, dict) or len(entry) != 1:
            raise ModelDirError(f"{where}: PreProcess.transform_ops entry {entry!r} is not a one-key mapping")
        (name, args), = entry.items()
        if name not in supported:
            raise ModelDirError(f"{where}: PreProcess op {name!r} is not supported by {task} "
                                f"(supported: {', '.join(supported)})")
        ops[name] = args or {}
    return ops
