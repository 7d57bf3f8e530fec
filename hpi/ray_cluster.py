"""Joining a Ray cluster, or starting a local one: what `hpi batch --ray` and `hpi serve --ray` share (below both, so
neither imports the other). ray itself is the caller's (imported by it through require)."""
from __future__ import annotations

import logging
from typing import Optional

from .errors import BackendError
from .runtime.device import cpu_quota

logger = logging.getLogger(__name__)


def connect(ray, address: Optional[str]) -> bool:
    """Join the cluster at `address`, or start a local one of this process's CPUs (a new one, even if a cluster
    runs on this machine), unless this process is already connected. True when started (or joined) here: the
    caller then shuts it down."""
    if ray.is_initialized():
        if address:
            logger.warning("Ray is already initialized in this process: using that cluster, not %s", address)
        return False
    init = {"include_dashboard": False, "logging_level": logging.WARNING}
    try:
        if address:
            ray.init(address=address, **init)
        else:
            ray.init(address="local", num_cpus=cpu_quota(), **init)
    except Exception as exc:  # ConnectionError (no cluster there), RuntimeError, ValueError (a bad address)
        where = f"join the Ray cluster at {address!r}" if address else "start a local Ray cluster"
        raise BackendError(f"could not {where}: {exc}") from exc
    return True
