"""Choose and load the backend a predictor runs on.

Normal mode is Paddle Inference. High-performance mode walks an ordered candidate list (the user's
`hpi_config.backend`, or the per-device defaults of configs/backend_defaults.yaml: on the CPU the plan of its
class, configs/cpu_plans.yaml), skipping candidates that are not installed or cannot run the model files present,
and falling through when one fails to load.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable, Dict, List, Optional, Tuple

from .backends import NORMAL_MODE_BACKEND, InferenceBackend, get_backend_class
from .candidates import Candidate, default_candidates, runnable_here, with_output
from .config import HPIConfig, backend_options
from .device import Device, require_device
from .fast_path import hint_faster_precision
from ..errors import BackendError, ConfigError, HPIError, MissingDependencyError, ModelDirError, NoBackendAvailableError
from .model_dir import ONNX_FILE, ModelDir

logger = logging.getLogger(__name__)


def hpi_candidates(model_dir: ModelDir, device: Device, config: HPIConfig) -> List[Candidate]:
    defaults = default_candidates(model_dir.model_name, device)
    if config.backend is None:
        # No backend named: each candidate takes the backend_config keys it understands (PaddleX applies them to
        # the one it picks); a key no candidate understands is an error, not silently dropped.
        accepted = {c.backend: set(get_backend_class(c.backend).option_checks) for c in defaults}
        unknown = sorted(k for k in config.backend_config if not any(k in keys for keys in accepted.values()))
        if unknown:
            raise ConfigError(f"hpi_config.backend_config keys {unknown} are options of none of the candidate "
                              f"backends {[c.backend for c in defaults]}; name hpi_config.backend, or use: "
                              f"{sorted(set().union(*accepted.values()))}")
        return [Candidate(c.backend, {**c.options, **{k: v for k, v in config.backend_config.items()
                                                      if k in accepted[c.backend]}}) for c in defaults]
    suggested = next((c.options for c in defaults if c.backend == config.backend), {}) if config.auto_config else {}
    return [Candidate(config.backend, {**suggested, **config.backend_config})]


def normal_mode_options(hpi_config: HPIConfig) -> Tuple[Dict[str, Any], List[str]]:
    """The Paddle options normal mode takes from hpi_config, and one note for each part of it that it ignores.

    PaddleX ignores hpi_config in normal mode; hpi takes Paddle's options from it (all of backend_config when it
    names "paddle", the keys Paddle takes when it names no backend) and says what it leaves out. Options another
    backend is named for are checked against that backend, so a config that fails there fails here too."""
    ignored = []
    if hpi_config.backend not in (None, NORMAL_MODE_BACKEND):
        get_backend_class(hpi_config.backend).check_options(hpi_config.backend_config)
        ignored.append(f"normal mode runs Paddle Inference: hpi_config.backend {hpi_config.backend!r} is ignored "
                       "(it applies with use_hpip=True)")
    paddle_keys = get_backend_class(NORMAL_MODE_BACKEND).option_checks
    options = {}
    for key, value in hpi_config.backend_config.items():
        if hpi_config.backend == NORMAL_MODE_BACKEND or (hpi_config.backend is None and key in paddle_keys):
            options[key] = value
        else:
            owner = hpi_config.backend or ", ".join(n for n, keys in backend_options().items() if key in keys)
            ignored.append(f"normal mode runs Paddle Inference: hpi_config.backend_config.{key} (an option of "
                           f"{owner}) is ignored (it applies with use_hpip=True)")
    defaults = HPIConfig()
    for name in ("auto_config", "auto_paddle2onnx"):
        if getattr(hpi_config, name) != getattr(defaults, name):
            ignored.append(f"normal mode runs Paddle Inference: hpi_config.{name}={getattr(hpi_config, name)!r} is "
                           "ignored (it applies with use_hpip=True)")
    return options, ignored


def load_backend(model_dir: ModelDir, device: Device, use_hpip: bool, hpi_config: HPIConfig,
                 tuning_workload: Optional[Callable[[], Any]] = None, output: str = "full") -> InferenceBackend:
    """The first candidate that loads; NoBackendAvailableError lists every candidate's reason otherwise.
    `tuning_workload` makes the task's TuningWorkload when auto_config='tune' has no cached winner."""
    require_device(device)  # a GPU asked for and not here fails now, in either mode, rather than run elsewhere
    if not use_hpip:
        if model_dir.paddle_program is None:
            raise ModelDirError(f"normal mode runs Paddle Inference, but {str(model_dir.path)!r} has no Paddle "
                                "model (inference.json or inference.pdmodel); use use_hpip=True for ONNX models")
        options, ignored = normal_mode_options(hpi_config)
        for note in ignored:
            logger.warning("%s", note)
        candidates = [Candidate(NORMAL_MODE_BACKEND, options)]
    else:
        candidates = hpi_candidates(model_dir, device, hpi_config)
        model_dir = _with_onnx(model_dir, device, hpi_config, candidates)
        if hpi_config.auto_config == "tune" and hpi_config.backend is None:
            candidates = _tuned_first(model_dir, device, hpi_config, candidates, tuning_workload)
        candidates = [with_output(c, output) for c in candidates]

    reasons = []
    for candidate in candidates:
        backend_class = get_backend_class(candidate.backend)
        reason = runnable_here(backend_class, model_dir, device)
        if reason:
            reasons.append(f"{candidate.backend}: {reason}")
            logger.info("skipping backend %s: %s", candidate.backend, reason)
            continue
        try:
            backend = backend_class(model_dir, device, candidate.options).load()
        except ConfigError:
            raise
        except (BackendError, MissingDependencyError) as exc:
            reasons.append(f"{candidate.backend}: failed to load ({exc})")
            logger.warning("backend %s failed to load, trying the next one: %s", candidate.backend, exc)
            continue
        if use_hpip:
            hint_faster_precision(model_dir.model_name, device, hpi_config, backend.name,
                                  backend.config.get("precision"))
        return backend
    raise NoBackendAvailableError(f"no backend could run {str(model_dir.path)!r} on {device}:\n  - " +
                                  "\n  - ".join(reasons))


def _with_onnx(model_dir: ModelDir, device: Device, hpi_config: HPIConfig, candidates: List[Candidate]) -> ModelDir:
    """Convert a Paddle-only model dir to ONNX first when an ONNX backend is a candidate (auto_paddle2onnx)."""
    runnable = [get_backend_class(c.backend) for c in candidates]
    runnable = [b for b in runnable if runnable_here(b, model_dir, device, any_format=True) is None]
    wants_onnx = bool(runnable) and runnable[0].model_format == "onnx"  # convert only for the backend chosen
    if model_dir.onnx is not None or model_dir.paddle_program is None or not wants_onnx:
        return model_dir
    if not hpi_config.auto_paddle2onnx:
        logger.info("%s has no inference.onnx and auto_paddle2onnx is off: ONNX backends are skipped "
                    "(make one with `hpi convert --model_dir %s`)", model_dir.path, model_dir.path)
        return model_dir
    from .converters import convert_to_onnx

    logger.info("converting %s to ONNX (auto_paddle2onnx), verified against Paddle Inference", model_dir.path)
    try:
        record = convert_to_onnx(model_dir.path)
    except (HPIError, OSError) as exc:
        logger.warning("automatic conversion to ONNX failed, ONNX backends are skipped: %s", exc)
        return model_dir
    logger.info("ONNX model ready (max difference to Paddle %.2g)", record["verification"]["worst"])
    return dataclasses.replace(model_dir, onnx=model_dir.path / ONNX_FILE)  # inference.yml is read already


def _tuned_first(model_dir: ModelDir, device: Device, hpi_config: HPIConfig, candidates: List[Candidate],
                 tuning_workload: Optional[Callable[[], Any]]) -> List[Candidate]:
    """The winner measured by `hpi tune` on this machine (measured now if not cached), then the defaults."""
    from .tuning import load_cached, tune

    cached = load_cached(model_dir, device)
    if cached is None:
        if tuning_workload is None:
            raise ConfigError("auto_config='tune' needs a task's workload to time the backends on; run "
                              f"`hpi tune --model_dir {model_dir.path}` first, or use auto_config true")
        logger.info("auto_config='tune': timing the candidate backends for %s on this machine", model_dir.path)
        try:
            cached = tune(model_dir, device, tuning_workload()).to_dict()
        except NoBackendAvailableError as exc:
            logger.warning("%s; using the default order", exc)
            return candidates
    winner = cached.get("winner")
    if not winner:  # a cache written before tuning refused to cache no winner
        logger.warning("tuning found no candidate that keeps the FP32 text; using the default order")
        return candidates
    logger.info("auto_config='tune': %s %s measured fastest (%.2f ms per input, agreement %.3f)", winner["backend"],
                winner["options"], winner["ms_per_input"], winner["agreement"])
    return [Candidate(winner["backend"], {**winner["options"], **hpi_config.backend_config})] + candidates
