"""What a backend class declares about itself: the facts that the selector, tuning, quantization, the bench and
the import hints read through the registry (hpi.runtime.backends.BACKENDS) instead of lists of backend names, and
its options: `option_checks` maps a name to (check, what is allowed); `check_options` refuses unknown keys and bad
values with a message naming what is allowed and returns them in their one spelling. A new backend sets these class
attributes; tests/backends/test_registry_facts.py checks each one."""
from __future__ import annotations

from types import ModuleType
from typing import Any, Callable, ClassVar, Dict, Mapping, Optional, Tuple

from ..._deps import require
from ..._env import library_versions
from ..device import Device, cpu_quota
from ...errors import ConfigError
from ..model_dir import check_dynamic_shapes
from .int8 import Int8Artifact

OptionCheck = Callable[[Any], bool]
# Values with an older spelling, per option: accepted, and replaced by the canonical one (OpenVINO's own names).
VALUE_ALIASES: Dict[str, Dict[Any, Any]] = {"precision": {"f32": "fp32", "f16": "fp16"}}
PRECISIONS = ("fp32", "fp16", "bf16", "int8")  # the one public spelling of each precision


def positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


# How predict groups a window's inputs for a backend with CPU streams (items_per_request); the CPU plans
# (configs/cpu_plans.yaml) say which was measured faster on each CPU class.
BATCHING = ("per_stream", "buckets")
# What a backend returns of the model's output: all of it, or (where a task needs no more and the backend can
# compute it in the model) the top-1 value and index over the last axis, packed as [..., 2]
OUTPUTS = ("full", "top1")
BATCHING_HELP = ("'per_stream' (each input its own request, spread over the streams) or 'buckets' (up to batch_size "
                 "inputs of one shape per request)")


def one_of(*allowed: Any) -> OptionCheck:
    check = lambda value: value in allowed  # noqa: E731
    check.allowed = allowed  # type: ignore[attr-defined]
    return check


def valid_dynamic_shapes(value: Any) -> bool:
    check_dynamic_shapes(value)  # raises a ConfigError naming exactly what is wrong, clearer than a generic one
    return True


DYNAMIC_SHAPES_OPTION = (valid_dynamic_shapes, "{input_name: [min, opt, max]}, each shape 4 positive integers "
                                               "(default: the model dir's, see ModelDir.dynamic_shapes)")


class BackendFacts:
    """Class attributes and class methods only: nothing here needs a model, a device or the framework."""

    name: ClassVar[str]
    model_format: ClassVar[str]  # "onnx" or "paddle": which weights of the model dir it runs
    framework: ClassVar[str]  # the module it imports on first use
    extra: ClassVar[str]  # the pip extra of hpi-runtime that installs the framework (pyproject.toml)
    package: ClassVar[str]  # the pip package that provides the framework
    distributions: ClassVar[Tuple[str, ...]] = ()  # whose versions describe it (read from metadata, not imported)
    device_kinds: ClassVar[Tuple[str, ...]] = ("cpu",)
    precisions: ClassVar[Tuple[str, ...]] = ("fp32",)  # of PRECISIONS, those it can run
    # The reduced precisions `hpi tune` times, per device kind, and the options that select each
    tuned_precisions: ClassVar[Dict[str, Dict[str, Dict[str, Any]]]] = {}
    int8_artifact: ClassVar[Optional[Int8Artifact]] = None  # the file it runs for 'int8' (int8.py)
    quantizer: ClassVar[Optional[str]] = None  # "module:Class" that makes its int8_artifact (`hpi quantize`)
    # option name -> (check, description of what is allowed)
    option_checks: ClassVar[Dict[str, Tuple[OptionCheck, str]]] = {}
    # option name -> the canonical name it is another spelling of (both must be in option_checks)
    option_aliases: ClassVar[Dict[str, str]] = {}
    # True for frameworks whose execution state belongs to the thread that runs it: every call then runs on one
    # of the backend's own worker threads, each keeping its context for life, so a context never changes thread.
    context_per_thread: ClassVar[bool] = False

    @classmethod
    def default_options(cls, device: Device) -> Dict[str, Any]:
        return {}

    @classmethod
    def check_options(cls, options: Mapping[str, Any]) -> Dict[str, Any]:
        """Reject unknown keys and bad values with a message naming what is allowed; return the options in their
        canonical spelling (aliased keys and values replaced)."""
        checked: Dict[str, Any] = {}
        for key, value in options.items():
            if key not in cls.option_checks:
                raise ConfigError(f"unknown option {key!r} for backend {cls.name!r}; allowed: "
                                  f"{', '.join(sorted(cls.option_checks)) or 'none'}")
            canonical = cls.option_aliases.get(key, key)
            value = VALUE_ALIASES.get(canonical, {}).get(value, value) if isinstance(value, str) else value
            check, allowed = cls.option_checks[canonical]
            if not check(value):
                raise ConfigError(f"invalid value {value!r} for {cls.name}.{key}: expected {allowed}")
            if canonical in checked and checked[canonical] != value:
                spellings = sorted(k for k in options if cls.option_aliases.get(k, k) == canonical)
                raise ConfigError(f"{cls.name}: {' and '.join(spellings)} are the same option ({canonical}) with "
                                  f"different values; give it once")
            checked[canonical] = value
        return checked

    @classmethod
    def precision_of(cls, options: Mapping[str, Any]) -> str:
        """The precision `options` (checked) select: the `precision` option, fp32 without one."""
        return options.get("precision", "fp32")

    @classmethod
    def import_framework(cls, module: Optional[str] = None) -> ModuleType:
        """Its framework (or `module`, a part of it), imported now; a MissingDependencyError names its extra."""
        return require(module or cls.framework, cls.extra, cls.package)

    @classmethod
    def versions(cls) -> Dict[str, str]:
        """{distribution: version} of what is installed of its framework (nothing imported)."""
        return library_versions(cls.distributions)

    @staticmethod
    def default_threads() -> int:
        return cpu_quota()
