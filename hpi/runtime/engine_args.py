"""PaddleOCR 3.x's inference options on hpi's `use_hpip` / `hpi_config`: `engine`, `engine_config` (flat, or
per engine as PaddleX 3.7.2 takes it) and the common `cpu_threads`, `enable_mkldnn`, `mkldnn_cache_capacity`,
`precision`, `use_tensorrt`, `enable_cinn` (paddleocr/_common_args.py, paddlex/inference/models/__init__.py).

What each becomes is docs/paddleocr_compat.md's table: mapped where hpi has the same setting, logged as ignored
where it changes nothing here, refused (a ConfigError naming hpi's equivalent) where hpi cannot do it. Checked
before any model is loaded or downloaded.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional

from ..errors import ConfigError
from .backends import get_backend_class
from .config import HPI_CONFIG_KEYS, read_hpi_config
from .device import parse_device

logger = logging.getLogger(__name__)

PADDLEOCR_ARGS = ("engine", "engine_config", "cpu_threads", "enable_mkldnn", "mkldnn_cache_capacity", "precision",
                  "use_tensorrt", "enable_cinn")
# engine -> (high-performance mode, the backend hpi_config names); "paddle" is PaddleX's paddle_static here
ENGINES = {"paddle": (False, None), "paddle_static": (False, None), "hpi": (True, None),
           "onnxruntime": (True, "onnxruntime"), "openvino": (True, "openvino"), "tensorrt": (True, "tensorrt")}
REFUSED_ENGINES = ("paddle_dynamic", "transformers", "flexible", "genai_client")
EQUIVALENT = ("hpi runs PaddleX's exported inference models: engine='paddle' (Paddle Inference, use_hpip=False), "
              "or engine='onnxruntime' / 'openvino' / 'tensorrt' / 'hpi' (use_hpip=True, hpi_config={'backend': "
              "...})")
DEVICE_KEYS = ("device_type", "device_id")
# engine_config keys of PaddleX's engines that set nothing hpi has (their engine's defaults are what runs)
IGNORED_KEYS = {
    "paddle_static": ("delete_pass", "enable_cinn", "trt_cfg_setting", "trt_use_dynamic_shapes",
                      "trt_collect_shape_range_info", "trt_discard_cached_shape_range_info",
                      "trt_dynamic_shape_input_data", "trt_shape_range_info_path", "trt_allow_rebuild_at_runtime"),
    "onnxruntime": ("provider_options", "graph_optimization_level", "inter_op_num_threads", "execution_mode",
                    "log_severity_level", "enable_mem_pattern", "enable_cpu_mem_arena", "session_options"),
    "hpi": ("model_name", "hpi_info"),
}
ORT_PROVIDERS = {"CPUExecutionProvider": "cpu", "CUDAExecutionProvider": "cuda", "TensorrtExecutionProvider": "tensorrt"}


@dataclass
class EngineArgs:
    """What PaddleOCR's options set: the mode, the device, and what they add to hpi_config."""

    use_hpip: Optional[bool]  # None: the models' edge default decides
    device: Optional[str]
    hpi_config: Dict[str, Any] = field(default_factory=dict)  # top-level keys; backend_config a dict of its own

    @classmethod
    def take(cls, where: str, kwargs: dict, *, use_hpip: Optional[bool], device: Optional[str]) -> "EngineArgs":
        """PaddleOCR's options popped from `kwargs` (the caller's **kwargs), resolved."""
        given = {name: kwargs.pop(name) for name in PADDLEOCR_ARGS if name in kwargs}
        engine, engine_config = given.pop("engine", None), given.pop("engine_config", None)
        common = {name: value for name, value in given.items() if value is not None}
        if engine is not None:
            if engine in REFUSED_ENGINES:
                raise ConfigError(f"{where}: engine={engine!r} is not supported: {EQUIVALENT}")
            if engine not in ENGINES:
                raise ConfigError(f"{where}: unknown engine {engine!r}; supported: {sorted(ENGINES)} "
                                  f"({', '.join(REFUSED_ENGINES)} are PaddleX's, not hpi's: {EQUIVALENT})")
            mode, backend = ENGINES[engine]
            if use_hpip and not mode:
                logger.warning("%s: use_hpip=True is ignored: engine=%r runs Paddle Inference (PaddleX ignores "
                               "use_hpip when an engine is given)", where, engine)
            use_hpip = mode
        else:
            backend = None
        resolved = "hpi" if use_hpip else "paddle_static"
        if engine in ("onnxruntime", "openvino", "tensorrt"):
            resolved = engine
        args = cls(use_hpip=use_hpip, device=device)
        if backend:
            args.hpi_config["backend"] = backend
        if engine_config is not None:
            for name in common:
                logger.warning("%s: %s=%r is ignored: engine_config is given (PaddleOCR applies these only "
                               "without it)", where, name, common[name])
            args._take_engine_config(where, resolved, engine_config)
        else:
            args._take_common(where, common, backend)
        return args

    # -- engine_config --------------------------------------------------------------------------------------
    def _take_engine_config(self, where: str, engine: str, engine_config: Any) -> None:
        config = flatten(where, engine, engine_config)
        device_keys = {key: config.pop(key) for key in DEVICE_KEYS if key in config}
        self._take_device(where, device_keys)
        for key in IGNORED_KEYS.get(engine, ()):
            if key in config:
                logger.warning("%s: engine_config[%r] is ignored: hpi has no such setting for %s", where, key,
                               engine)
                config.pop(key)
        if engine == "hpi":
            unknown = sorted(set(config) - set(HPI_CONFIG_KEYS))
            if unknown:
                raise ConfigError(f"{where}: engine_config keys {unknown} are not PaddleX's HPIConfig keys; "
                                  f"allowed: {list(HPI_CONFIG_KEYS)}")
            self.hpi_config.update(config)
            return
        if engine == "onnxruntime":
            config = _onnxruntime_options(where, config)
        backend = "paddle" if engine == "paddle_static" else engine
        allowed = get_backend_class(backend).option_checks
        unknown = sorted(set(config) - set(allowed))
        if unknown:
            extra = IGNORED_KEYS.get(engine, ()) + (("intra_op_num_threads", "providers") if backend ==
                                                     "onnxruntime" else ())
            raise ConfigError(f"{where}: engine_config keys {unknown} are not options of {engine}; allowed: "
                              f"{sorted(set(allowed) | set(extra) | set(DEVICE_KEYS))}")
        if config:
            self.hpi_config["backend"] = backend
            self.hpi_config["backend_config"] = config

    def _take_device(self, where: str, keys: dict) -> None:
        """engine_config's device_type / device_id: PaddleX replaces them with `device` when one is given."""
        if not keys:
            return
        kind, index = keys.get("device_type") or "cpu", keys.get("device_id")
        named = str(parse_device(kind if index is None or kind == "cpu" else f"{kind}:{index}"))
        if self.device is None:
            self.device = named
        elif str(parse_device(self.device)) != named:
            logger.warning("%s: engine_config's device (%s) is ignored: device=%r is given", where, named,
                           self.device)

    # -- cpu_threads, enable_mkldnn, ... --------------------------------------------------------------------------
    def _take_common(self, where: str, common: dict, backend: Optional[str]) -> None:
        precision = common.pop("precision", "fp32")
        if precision not in ("fp32", "fp16"):
            raise ConfigError(f"{where}: invalid precision {precision!r}; supported: ['fp32', 'fp16'] (PaddleOCR's "
                              "TensorRT precision)")
        options: Dict[str, Any] = {}
        if "cpu_threads" in common:
            options["cpu_num_threads"] = common.pop("cpu_threads")
        if common.pop("enable_cinn", False):
            logger.warning("%s: enable_cinn=True is ignored: hpi has no CINN compiler", where)
        gpu = parse_device(self.device).kind == "gpu"
        tensorrt = common.pop("use_tensorrt", False)
        if tensorrt and not gpu:
            logger.warning("%s: use_tensorrt=True is ignored on the CPU (as PaddleOCR)", where)
        elif tensorrt:
            self._tensorrt(where, options, precision, backend)
        elif precision != "fp32":
            logger.warning("%s: precision=%r is ignored without use_tensorrt=True (PaddleOCR's TensorRT precision; "
                           "reduced precision elsewhere: hpi_config={'backend_config': {'precision': ...}})", where,
                           precision)
        mkldnn = {"enable_mkldnn": common.pop("enable_mkldnn", None),
                  "mkldnn_cache_capacity": common.pop("mkldnn_cache_capacity", None)}
        if not self.use_hpip or backend == "paddle":
            if mkldnn["enable_mkldnn"] is False and not gpu:
                options.setdefault("run_mode", "paddle")
            if mkldnn["mkldnn_cache_capacity"] is not None:
                options["mkldnn_cache_capacity"] = mkldnn["mkldnn_cache_capacity"]
        else:
            for name, value in mkldnn.items():
                if value is not None:
                    logger.warning("%s: %s=%r is ignored: it sets Paddle Inference, and high-performance mode runs "
                                   "ONNX backends here (PaddleOCR ignores it too)", where, name, value)
        if options:
            self.hpi_config.setdefault("backend", "paddle" if self.use_hpip is False else None)
            self.hpi_config["backend_config"] = options

    def _tensorrt(self, where: str, options: dict, precision: str, backend: Optional[str]) -> None:
        if not self.use_hpip:
            options["run_mode"] = f"trt_{precision}"  # PaddleOCR's Paddle-TensorRT
        elif backend in (None, "tensorrt"):
            self.hpi_config["backend"] = "tensorrt"
            options["precision"] = precision
            if options.pop("cpu_num_threads", None) is not None:
                logger.warning("%s: cpu_threads is ignored: TensorRT runs on the GPU", where)
        elif backend == "onnxruntime":
            options.update(execution_provider="tensorrt", precision=precision)
        else:
            raise ConfigError(f"{where}: use_tensorrt=True does not go with engine={backend!r}; use "
                              "engine='tensorrt' or 'onnxruntime' (its TensorRT provider)")

    # -- onto the user's hpi_config -----------------------------------------------------------------------------
    def apply(self, where: str, hpi_config: Any) -> Any:
        """`hpi_config` (a dict, YAML path or None) with what these options set; a key set both ways to different
        values is a ConfigError."""
        own = {key: value for key, value in self.hpi_config.items() if value is not None}
        if not own:
            return hpi_config
        base = read_hpi_config(hpi_config)
        if base is not None and not isinstance(base, Mapping):
            return hpi_config  # HPIConfig.from_user says what is wrong with it
        merged = dict(base or {})
        for key, value in own.items():
            if key == "backend_config":
                options = dict(merged.get("backend_config") or {})
                for name, option in value.items():
                    _no_conflict(where, f"backend_config.{name}", options.get(name), option)
                    options[name] = option
                merged["backend_config"] = options
            else:
                _no_conflict(where, key, merged.get(key), value)
                merged[key] = value
        return merged


def _no_conflict(where: str, key: str, theirs: Any, ours: Any) -> None:
    if theirs is not None and theirs != ours:
        raise ConfigError(f"{where}: hpi_config.{key} is {theirs!r}, but the engine options ask for {ours!r}; "
                          "give one of them")


def flatten(where: str, engine: str, engine_config: Any) -> Dict[str, Any]:
    """engine_config for `engine`: a flat dict, or PaddleX's per-engine form ({"onnxruntime": {...}, ...})."""
    if not isinstance(engine_config, Mapping):
        raise ConfigError(f"{where}: engine_config must be a dict, got {type(engine_config).__name__}")
    names = set(ENGINES) | set(REFUSED_ENGINES)
    buckets = {key for key in engine_config if key in names}
    if not buckets:
        return dict(engine_config)
    flat = sorted(set(engine_config) - buckets)
    if flat:
        raise ConfigError(f"{where}: engine_config cannot mix per-engine keys {sorted(buckets)} with flat keys "
                          f"{flat} (PaddleX's rule): use one form")
    for key, value in engine_config.items():
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: engine_config[{key!r}] must be a dict, got {type(value).__name__}")
    if engine not in engine_config:
        logger.warning("%s: engine_config has no entry for the engine that runs (%r): its defaults apply",
                       where, engine)
    return dict(engine_config.get(engine) or {})


def _onnxruntime_options(where: str, config: dict) -> dict:
    """PaddleX's onnxruntime engine keys in hpi's names (intra_op_num_threads, providers)."""
    config = dict(config)
    if "intra_op_num_threads" in config:
        config["cpu_num_threads"] = config.pop("intra_op_num_threads")
    providers = config.pop("providers", None)
    if providers:
        first = providers[0] if isinstance(providers, (list, tuple)) else providers
        if first not in ORT_PROVIDERS:
            raise ConfigError(f"{where}: engine_config providers {providers!r}: hpi runs ONNX Runtime with one of "
                              f"{sorted(ORT_PROVIDERS)} (execution_provider 'cpu', 'cuda', 'tensorrt')")
        if len(providers) > 1:
            logger.info("%s: ONNX Runtime runs %s; the providers after it are fallbacks hpi does not take (it "
                        "warns on a silent fallback instead)", where, first)
        config["execution_provider"] = ORT_PROVIDERS[first]
    return config

