"""Make the fast path findable: where this CPU's plan offers a faster reduced precision than the FP32 default that
runs, say so once per model, with the one line of hpi_config that enables it.

INFO, not WARNING: FP32 is the right default (PaddleX's output exactly), so nothing is wrong. Said only where
the CPU runs the precision natively (/proc/cpuinfo), in high-performance mode, and when the user has not chosen
a precision already.
"""
from __future__ import annotations

import logging
import threading
from typing import Optional

from .candidates import cpu_plan
from .config import HPIConfig
from .device import Device
from .plans import Offer

logger = logging.getLogger(__name__)
_hinted: set = set()  # model names hinted in this process
_hinted_lock = threading.Lock()
_CHOSEN_PRECISION = ("precision", "run_mode")  # keys by which a user picks a precision (Paddle: run_mode)


def faster_offer(model_name: Optional[str], device: Device, hpi_config: HPIConfig,
                 running_precision: Optional[str]) -> Optional[Offer]:
    """The plan's first offer, or None: none when the user chose a precision or FP32 is not what runs. The plan
    keeps only offers this CPU's class runs natively (a borrowed plan's bf16 is dropped on a CPU without it)."""
    if running_precision != "fp32" or any(k in hpi_config.backend_config for k in _CHOSEN_PRECISION):
        return None
    plan = cpu_plan(model_name, device)  # its offers are those this CPU's class runs natively (plans.py)
    return plan.offers[0] if plan is not None and plan.offers else None


def hint_faster_precision(model_name: Optional[str], device: Device, hpi_config: HPIConfig,
                          running_backend: str, running_precision: Optional[str]) -> None:
    """Log the offer at INFO, once per process per model."""
    offer = faster_offer(model_name, device, hpi_config, running_precision)
    if offer is None:
        return
    with _hinted_lock:
        if model_name in _hinted:
            return
        _hinted.add(model_name)
    logger.info("%s runs %s fp32 (PaddleX's text); this CPU runs %s natively: %s %s measured %s faster than "
                "%s on %s (%s), accuracy %s. To use it: %s", model_name, running_backend, offer.precision,
                offer.backend, offer.precision, offer.factor, offer.versus, offer.measured_on, offer.date,
                offer.accuracy, offer.hpi_config_line)
