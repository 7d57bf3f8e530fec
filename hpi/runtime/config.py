"""hpi_config, as PaddleX's HPIConfig: given as a dict or a YAML file path, checked key by key."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

import yaml

from ..errors import ConfigError


def backend_names():
    from .backends import BACKENDS  # the registry is the one list of backends

    return tuple(BACKENDS)


def backend_options() -> Dict[str, frozenset]:
    """Each backend's backend_config keys, from the registry."""
    from .backends import BACKENDS

    return {name: frozenset(backend.option_checks) for name, backend in BACKENDS.items()}


@dataclass(frozen=True)
class HPIConfig:
    auto_config: Union[bool, str] = True  # True, False, or "tune" (measure candidates here, cache the winner)
    backend: Optional[str] = None
    backend_config: Dict[str, Any] = field(default_factory=dict)
    auto_paddle2onnx: bool = True

    @classmethod
    def from_user(cls, value: Union[None, Mapping, str, Path, "HPIConfig"]) -> "HPIConfig":
        if isinstance(value, HPIConfig):
            return value
        if value is None:
            return cls()
        value = read_hpi_config(value)
        if not isinstance(value, Mapping):
            raise ConfigError(f"hpi_config must be a dict or a YAML file path, got {type(value).__name__}")
        allowed = set(HPI_CONFIG_KEYS)
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise ConfigError(f"unknown hpi_config key(s) {unknown}; allowed: {sorted(allowed)}")
        return cls(**{k: value[k] for k in value})

    def __post_init__(self) -> None:
        """Checked however it is made (from_user, or HPIConfig(...) in code)."""
        if not isinstance(self.auto_config, bool) and self.auto_config != "tune":
            raise ConfigError(f"hpi_config.auto_config must be true, false or 'tune', got {self.auto_config!r}")
        if not isinstance(self.auto_paddle2onnx, bool):
            raise ConfigError(f"hpi_config.auto_paddle2onnx must be true or false, got {self.auto_paddle2onnx!r}")
        if self.backend is not None and self.backend not in backend_names():
            raise ConfigError(f"hpi_config.backend {self.backend!r} is not one of {list(backend_names())}")
        if not isinstance(self.backend_config, Mapping):
            raise ConfigError(f"hpi_config.backend_config must be a mapping, got {self.backend_config!r}")
        options = backend_options()
        unknown = sorted(k for k in self.backend_config if not any(k in keys for keys in options.values()))
        if unknown:  # an option of no backend at all is an error in either mode, before any model loads
            known = "; ".join(f"{name}: {', '.join(sorted(keys))}" for name, keys in options.items())
            raise ConfigError(f"hpi_config.backend_config keys {unknown} are options of no backend ({known})")
        if not self.auto_config and self.backend is None:
            raise ConfigError("hpi_config.auto_config is false, so hpi_config.backend must name a backend "
                              f"({', '.join(backend_names())})")


HPI_CONFIG_KEYS = tuple(key.name for key in fields(HPIConfig))  # PaddleX's HPIConfig keys, in its order


def read_hpi_config(value: Any) -> Any:
    """hpi_config as given, its YAML file read when it is a path (what is read is checked by HPIConfig)."""
    return _load_yaml(Path(value)) if isinstance(value, (str, Path)) else value


def _load_yaml(path: Path) -> Any:
    if not path.is_file():
        raise ConfigError(f"hpi_config file {str(path)!r} does not exist")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"hpi_config file {str(path)!r} is not valid YAML: {exc}") from exc
