"""Device strings (PaddleX's spelling), the CPU quota this process really has, and what its CPU runs natively."""
from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Optional

from ..errors import ConfigError

_DEVICE_RE = re.compile(r"^(cpu|gpu)(?::(\d+))?$")
_NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")  # one entry per GPU the driver shows


@dataclass(frozen=True)
class Device:
    kind: str  # "cpu" or "gpu"
    index: Optional[int] = None

    def __str__(self) -> str:
        return self.kind if self.index is None else f"{self.kind}:{self.index}"

    @property
    def gpu_id(self) -> int:
        return self.index or 0


def parse_device(device: Optional[str]) -> Device:
    """'cpu', 'gpu', 'gpu:N'. None means gpu:0 when the driver shows a GPU, else the CPU, as in PaddleX."""
    if device is None:
        return Device("gpu", 0) if cuda_device_count() > 0 else Device("cpu")
    if not isinstance(device, str):
        raise ConfigError(f"device must be a string like 'cpu', 'gpu' or 'gpu:0', got {device!r}")
    match = _DEVICE_RE.match(device.strip().lower())
    if not match:
        raise ConfigError(f"unsupported device {device!r}: use 'cpu', 'gpu' or 'gpu:N'")
    kind, index = match.group(1), match.group(2)
    if kind == "cpu":
        if index is not None:
            raise ConfigError(f"unsupported device {device!r}: the CPU takes no index, use 'cpu'")
        return Device("cpu")
    return Device("gpu", int(index) if index is not None else 0)


class DeviceUnavailableError(ConfigError):
    """A GPU was asked for that this machine does not show (none at all, or not that index)."""


def require_device(device: Device) -> Device:
    """The device itself when it is here. A GPU asked for on a machine that shows none (or fewer) is an error, as
    in PaddleX: running on the CPU instead would be slower than asked and report a device it does not use.

    The one check for a device that must really run: the selector (both modes) and tuning call it; backend
    constructors do not, so their GPU logic stays testable on a CPU machine."""
    if device.kind != "gpu":
        return device
    count = cuda_device_count()
    if device.gpu_id < count:
        return device
    if count == 0:
        raise DeviceUnavailableError(f"device '{device}' was asked for, but no NVIDIA GPU is visible here "
                                     f"({_why_no_gpu()}); use device='cpu'")
    visible = ", ".join(f"gpu:{i}" for i in range(count))
    raise DeviceUnavailableError(f"device '{device}' was asked for, but only {count} NVIDIA "
                                 f"GPU{' is' if count == 1 else 's are'} visible here ({visible}); use one of "
                                 "those or device='cpu'")


def _why_no_gpu() -> str:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU"
    if not _NVIDIA_GPUS.is_dir():
        return f"no NVIDIA driver: {_NVIDIA_GPUS} does not exist"
    return f"the driver lists no GPU in {_NVIDIA_GPUS}"


def cuda_device_count() -> int:
    """How many NVIDIA GPUs the driver shows, read without importing any framework."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return 0
    try:
        count = sum(1 for _ in _NVIDIA_GPUS.iterdir()) if _NVIDIA_GPUS.is_dir() else 0
    except OSError:
        count = 0
    if visible is not None and count:
        count = min(count, len([v for v in visible.split(",") if v.strip()]))
    return count


def cpu_quota() -> int:
    """CPUs this process may use: its affinity mask, capped by a cgroup CPU limit; at least 1."""
    try:
        available = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        available = os.cpu_count() or 1
    limit = _cgroup_cpu_limit()
    if limit is not None:
        available = min(available, max(1, int(limit + 0.999)))
    return max(1, available)


def _cgroup_cpu_limit(root: Path = Path("/sys/fs/cgroup")) -> Optional[float]:
    """The cgroup v2 (cpu.max) or v1 (cfs quota/period) CPU limit, or None when unlimited."""
    try:
        text = (root / "cpu.max").read_text().split()
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        if text:
            return None
    except (OSError, ValueError, IndexError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        if quota > 0 and period > 0:
            return quota / period
    except (OSError, ValueError):
        pass
    return None


# /proc/cpuinfo flags -> what reduced precision the CPU runs natively
_INT8_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")  # 8-bit dot products (VNNI) or AMX tiles
_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class CPUCapabilities:
    """Reduced-precision arithmetic this CPU has in hardware. Without `bf16`, OpenVINO and oneDNN emulate bf16 in
    f32 (slower than f32, and still rounded): it is never offered there. Without `int8_dot`, INT8 still runs but
    gains little (AVX2/AVX-512 without VNNI multiply 8-bit values in 16-bit steps)."""

    int8_dot: bool
    bf16: bool
    amx: bool
    flags: tuple = ()

    @property
    def amx_int8(self) -> bool:
        """AMX int8 tiles (flag amx_int8): OpenVINO's INT8 kernels on them need static shapes (see
        quantization/openvino.py, StaticShapes)."""
        return "amx_int8" in self.flags

    def to_dict(self) -> dict:
        return {"int8_dot": self.int8_dot, "bf16": self.bf16, "amx": self.amx, "flags": list(self.flags)}


def cpu_capabilities(cpuinfo: Path = Path("/proc/cpuinfo")) -> CPUCapabilities:
    """From the first processor's flags (Linux x86); on other systems, nothing is claimed."""
    flags = cpuinfo_flags(cpuinfo)
    found = tuple(sorted(f for f in flags if f in _INT8_FLAGS + _BF16_FLAGS + ("amx_tile",)))
    return CPUCapabilities(int8_dot=any(f in flags for f in _INT8_FLAGS), bf16=any(f in flags for f in _BF16_FLAGS),
                           amx="amx_tile" in flags, flags=found)


# CPU classes: the instruction sets that change which backend and precision run fastest (configs/cpu_plans.yaml
# holds a plan per class). Most capable first; `classify_cpu` names the first whose flags are all present.
X86_CLASSES = ("x86_amx", "x86_avx512_bf16", "x86_avx512_vnni", "x86_avx512", "x86_avx2", "x86_baseline")
ARM_CLASSES = ("arm64_sve", "arm64_neon")
_CLASS_FLAGS = ("amx_tile", "amx_bf16", "amx_int8", "avx512f", "avx512_bf16", "avx512_vnni", "avx2", "fma", "sve")


@dataclass(frozen=True)
class CPUClass:
    """This CPU's class, with what decided it: its model name, platform.machine() and the deciding flags."""

    name: str
    model: str
    machine: str
    flags: tuple = ()

    def to_dict(self) -> dict:
        return {"cpu_class": self.name, "cpu": self.model, "machine": self.machine, "flags": list(self.flags)}


def classify_cpu(machine: str, flags) -> str:
    """The class of a CPU from platform.machine() and its /proc/cpuinfo flags (x86 `flags`, ARM `Features`). A pure
    function, so each class can be tested from a flag line. AMX needs a tile type (bf16 or int8) besides the tiles;
    a machine that is not ARM is classed as x86, as device_class does."""
    flags = set(flags)
    if machine.lower() in ("arm64", "aarch64"):
        return "arm64_sve" if "sve" in flags else "arm64_neon"
    if "amx_tile" in flags and flags & {"amx_bf16", "amx_int8"}:
        return "x86_amx"
    if "avx512f" in flags:
        if "avx512_bf16" in flags:
            return "x86_avx512_bf16"
        return "x86_avx512_vnni" if "avx512_vnni" in flags else "x86_avx512"
    return "x86_avx2" if {"avx2", "fma"} <= flags else "x86_baseline"


def cpuinfo_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset:
    """The first processor's flags (x86 `flags`, ARM `Features`); empty where /proc/cpuinfo does not exist."""
    try:
        for line in cpuinfo.read_text(encoding="ascii", errors="replace").splitlines():
            if line.startswith(("flags", "Features")):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@lru_cache(maxsize=1)
def cpu_class() -> CPUClass:
    """This machine's CPU class, read once per process (the CPU does not change under a running process)."""
    from .._env import cpu_model

    flags = cpuinfo_flags()
    machine = platform.machine()
    return CPUClass(classify_cpu(machine, flags), cpu_model(), machine,
                    tuple(sorted(flags & set(_CLASS_FLAGS))))
