"""One model as its caller asked for it, checked and resolved once: a frozen ModelSpec.

Every entry point takes the same arguments for a model: PaddleX's model_name, model_dir, device, use_hpip
(PaddleOCR's enable_hpi), hpi_config, and PaddleOCR's engine options (engine, cpu_threads, ...). `ModelSpec.of`
checks them all before anything is downloaded or loaded: the device parsed and present, hpi_config read (a YAML
file once) and checked (normal mode's part too), the model dir read (inference.yml parsed once), use_hpip decided
where it can be. The predictor, the OCR pipeline, `hpi batch`, serving and Ray take the spec as it is, so each rule
about these arguments, and its message, is written here once.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

from ..errors import ConfigError
from .config import HPIConfig, read_hpi_config
from .device import Device, parse_device, require_device
from .engine_args import PADDLEOCR_ARGS, EngineArgs
from .model_dir import ModelDir, load_model_dir

logger = logging.getLogger(__name__)

MODEL_ARGS = ("model_name", "model_dir", "device", "use_hpip", "hpi_config")
# backend_config keys that set a backend's threads (each backend takes those it knows)
THREAD_KEYS = ("cpu_num_threads", "num_streams")


@dataclass(frozen=True)
class ModelSpec:
    """A model to run and how: what `Task(model_name, model_dir, device, use_hpip, hpi_config)` resolves to."""

    model_name: Optional[str]  # as given (None: the model dir's own name)
    model_dir: Optional[ModelDir]  # read; None while the model is known by name only (fetched() downloads it)
    device: Device
    use_hpip: Optional[bool]  # None only while the model is not fetched: the edge default needs its files
    hpi_config: HPIConfig

    @classmethod
    def of(cls, model_name: Optional[str] = None, model_dir: Union[None, str, Path, ModelDir] = None,
           device: Union[None, str, Device] = None, use_hpip: Optional[bool] = None,
           hpi_config: Union[None, Mapping, str, Path, HPIConfig] = None, *, enable_hpi: Optional[bool] = None,
           where: str = "predictor", option_prefix: str = "", **paddleocr_options) -> "ModelSpec":
        """The spec of these arguments, every one checked; `paddleocr_options`: PaddleOCR's engine options (an
        unknown name is a ConfigError naming what `where` allows); `option_prefix`: how the caller spells an
        argument's name in messages ("--" on the command line)."""
        use_hpip = check_use_hpip(use_hpip, enable_hpi)
        engine = EngineArgs.take(where, paddleocr_options, use_hpip=use_hpip,
                                 device=None if isinstance(device, Device) else device)
        if paddleocr_options:
            raise ConfigError(f"unknown argument(s) {sorted(paddleocr_options)} for {where}; allowed: model_name, "
                              f"model_dir, device, use_hpip (or enable_hpi), hpi_config, {', '.join(PADDLEOCR_ARGS)}")
        config = parsed_hpi_config(hpi_config, engine, where)
        target = device if isinstance(device, Device) else require_device(parse_device(engine.device))
        if model_name is None and model_dir is None:
            raise ConfigError(f"give {option_prefix}model_name, {option_prefix}model_dir, or both")
        if model_dir is not None and not isinstance(model_dir, ModelDir):
            model_dir = load_model_dir(model_dir, model_name)
        spec = cls(model_name, model_dir, target, engine.use_hpip, config)._mode_checked()
        return spec.decided() if model_dir is not None else spec  # the edge default needs the model's files

    @property
    def name(self) -> Optional[str]:
        """The model's name: as given, else its inference.yml's."""
        return self.model_name or (self.model_dir.model_name if self.model_dir is not None else None)

    def fetched(self) -> "ModelSpec":
        """This spec with its model dir here (an official model known by name is downloaded, or taken from the
        cache) and use_hpip decided."""
        spec = self
        if spec.model_dir is None:
            from .download import ensure_official_model

            spec = dataclasses.replace(spec, model_dir=load_model_dir(ensure_official_model(spec.model_name),
                                                                      spec.model_name))
        return spec.decided()

    def decided(self) -> "ModelSpec":
        """This spec with use_hpip decided: as given, else the edge default (a model known by name only: by
        whether Paddle is installed). hpi batch and Ray decide once for every worker this way."""
        if self.use_hpip is not None:
            return self
        return dataclasses.replace(self, use_hpip=default_use_hpip(self.model_dir))._mode_checked()

    def with_threads(self, threads: int) -> "ModelSpec":
        """This spec with thread settings for `threads` CPUs in backend_config, for each backend that may run
        (what the caller set wins): a worker sharing its node with others."""
        from .backends import NORMAL_MODE_BACKEND, get_backend_class
        from .candidates import default_candidates

        spec = self.decided()
        config = spec.hpi_config
        if not spec.use_hpip:
            backends = [NORMAL_MODE_BACKEND] if config.backend in (None, NORMAL_MODE_BACKEND) else []
        elif config.backend is None:
            backends = [candidate.backend for candidate in default_candidates(spec.name, spec.device)]
        else:
            backends = [config.backend]
        values = {"cpu_num_threads": threads, "num_streams": 2 if threads >= 2 else 1}
        taken = {key for name in backends for key in THREAD_KEYS if key in get_backend_class(name).option_checks}
        backend_config = {**{key: values[key] for key in THREAD_KEYS if key in taken and threads},
                          **config.backend_config}
        return dataclasses.replace(spec, hpi_config=dataclasses.replace(config, backend_config=backend_config))

    def portable(self) -> Dict[str, Any]:
        """The spec as ModelSpec.of's keyword arguments that another process, on any node, makes it again from:
        an absolute model dir, hpi_config as a dict (not a path), the device as a string."""
        return {"model_name": self.model_name,
                "model_dir": None if self.model_dir is None else str(self.model_dir.path.resolve()),
                "device": str(self.device), "use_hpip": self.use_hpip,
                "hpi_config": dataclasses.asdict(self.hpi_config)}

    def _mode_checked(self) -> "ModelSpec":
        check_for_mode(self.hpi_config, self.use_hpip)
        return self


def check_use_hpip(use_hpip: Optional[bool], enable_hpi: Optional[bool] = None) -> Optional[bool]:
    """use_hpip, or PaddleOCR's enable_hpi when given; None (not given) or a bool."""
    if enable_hpi is not None:
        use_hpip = enable_hpi
    if use_hpip is not None and not isinstance(use_hpip, bool):
        raise ConfigError(f"use_hpip must be True or False, got {use_hpip!r}")
    return use_hpip


def parsed_hpi_config(hpi_config: Union[None, Mapping, str, Path, HPIConfig], engine: Optional[EngineArgs] = None,
                      where: str = "predictor") -> HPIConfig:
    """hpi_config (a dict, a YAML file read here once, or an HPIConfig) with what PaddleOCR's engine options set,
    checked."""
    if isinstance(hpi_config, HPIConfig):
        if engine is None or not engine.hpi_config:
            return hpi_config
        hpi_config = dataclasses.asdict(hpi_config)
    mapping = read_hpi_config(hpi_config)
    if engine is not None:
        mapping = engine.apply(where, mapping)
    return HPIConfig.from_user(mapping)


def check_for_mode(config: HPIConfig, use_hpip: Optional[bool]) -> HPIConfig:
    """`config`, checked for normal mode too when use_hpip is False (its Paddle options, and those of a backend it
    names but normal mode ignores)."""
    if use_hpip is False:
        from .selector import normal_mode_options

        normal_mode_options(config)
    return config


_SAID = set()  # what the edge default has logged, once per reason


def default_use_hpip(model_dir: Optional[ModelDir]) -> bool:
    """use_hpip when not given: PaddleX's normal mode (False) where it can run; high-performance mode where
    it cannot (Paddle not installed, or a model dir without a Paddle program), said once per reason. `model_dir`
    None: a model known by name only, not fetched yet (Paddle alone decides)."""
    from .._deps import is_installed

    reason = None
    if model_dir is not None and "paddle" not in model_dir.formats:
        reason = "the model has no Paddle program (ONNX only)"
    elif not is_installed("paddle"):
        reason = "Paddle is not installed (normal mode runs on Paddle Inference)"
    if reason is None:
        return False
    if reason not in _SAID:
        _SAID.add(reason)
        logger.info("use_hpip not given: high-performance mode, as %s; pass use_hpip=True to say so, or install "
                    "Paddle (pip install \".[paddle]\" in an hpi checkout) for normal mode", reason)
    return True
