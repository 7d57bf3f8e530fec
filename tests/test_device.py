from pathlib import Path

import pytest

from hpi.runtime.device import Device, _cgroup_cpu_limit, cpu_quota, parse_device
from hpi.errors import ConfigError


@pytest.mark.parametrize("text, device", [("cpu", Device("cpu")), ("gpu", Device("gpu", 0)),
                                          ("gpu:1", Device("gpu", 1)), ("GPU:0", Device("gpu", 0))])
def test_parse_device(text, device):
    assert parse_device(text) == device


@pytest.mark.parametrize("text", ["npu:0", "cpu:1", "gpu:x", ""])
def test_unsupported_devices_are_errors(text):
    with pytest.raises(ConfigError, match="unsupported device"):
        parse_device(text)


def test_cgroup_v2_and_v1_limits(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert _cgroup_cpu_limit(tmp_path) == 1.5
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert _cgroup_cpu_limit(tmp_path) is None
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("200000")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert _cgroup_cpu_limit(tmp_path) == 2.0


def test_cpu_quota_is_at_least_one():
    assert cpu_quota() >= 1


@pytest.fixture
def gpus(tmp_path, monkeypatch):
    """A driver listing `n` GPUs (None: no driver): /proc/driver/nvidia/gpus stood in for by a folder."""
    import hpi.runtime.device

    def show(n):
        folder = tmp_path / f"gpus{n}"
        for i in range(n or 0):
            (folder / f"0000:0{i}:00.0").mkdir(parents=True)
        monkeypatch.setattr(hpi.runtime.device, "_NVIDIA_GPUS", folder)
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return show


def test_a_gpu_asked_for_and_not_here_is_an_error_that_says_so(monkeypatch):
    from hpi.runtime.device import DeviceUnavailableError, require_device

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert parse_device(None) == Device("cpu") and require_device(Device("cpu")) == Device("cpu")
    with pytest.raises(DeviceUnavailableError) as error:
        require_device(parse_device("gpu"))
    assert str(error.value) == ("device 'gpu:0' was asked for, but no NVIDIA GPU is visible here "
                                "(CUDA_VISIBLE_DEVICES='' hides every GPU); use device='cpu'")
    assert isinstance(error.value, ConfigError)


def test_no_driver_and_an_index_beyond_the_count(gpus, monkeypatch):
    from hpi.runtime.device import DeviceUnavailableError, require_device

    gpus(None)
    with pytest.raises(DeviceUnavailableError, match=r"no NVIDIA driver: .*gpusNone does not exist\); use device='cpu'"):
        require_device(Device("gpu", 0))
    gpus(2)
    assert parse_device(None) == Device("gpu", 0)
    assert require_device(Device("gpu", 1)) == Device("gpu", 1)
    with pytest.raises(DeviceUnavailableError, match=r"'gpu:2' was asked for, but only 2 NVIDIA GPUs are visible here "
                                                     r"\(gpu:0, gpu:1\)"):
        require_device(Device("gpu", 2))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    with pytest.raises(DeviceUnavailableError, match="only 1 NVIDIA GPU is visible here"):
        require_device(Device("gpu", 1))


def test_tuning_refuses_a_gpu_that_is_not_here(v4_onnx_dir, tmp_path, monkeypatch):
    from hpi.runtime.device import DeviceUnavailableError
    from hpi.runtime.model_dir import load_model_dir
    from hpi.tasks.text_recognition.predictor import recognition_tuning_workload
    from hpi.runtime.tuning import tune

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.setenv("HPI_CACHE_HOME", str(tmp_path))
    with pytest.raises(DeviceUnavailableError, match="no NVIDIA GPU is visible here"):
        model_dir = load_model_dir(v4_onnx_dir)
        tune(model_dir, Device("gpu", 0), recognition_tuning_workload(model_dir, 2), rounds=1)
    assert not (tmp_path / "tuning").exists()  # no winner cached for a device that did not run


def test_cpu_capabilities_read_the_flags(tmp_path):
    from hpi.runtime.device import cpu_capabilities

    cascade_lake = tmp_path / "cpuinfo"
    cascade_lake.write_text("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Gold 6271C\n"
                            "flags\t\t: fpu sse avx2 avx512f avx512_vnni\n")
    assert cpu_capabilities(cascade_lake).to_dict() == {"int8_dot": True, "bf16": False, "amx": False,
                                                        "flags": ["avx512_vnni"]}
    sapphire = tmp_path / "sapphire"
    sapphire.write_text("flags\t: avx512f avx512_vnni avx512_bf16 amx_tile amx_int8 amx_bf16\n")
    assert cpu_capabilities(sapphire).to_dict() == {"int8_dot": True, "bf16": True, "amx": True, "flags": [
        "amx_bf16", "amx_int8", "amx_tile", "avx512_bf16", "avx512_vnni"]}
    assert cpu_capabilities(sapphire).amx_int8 and not cpu_capabilities(cascade_lake).amx_int8
    plain = tmp_path / "plain"
    plain.write_text("flags\t: fma avx avx2\n")
    assert not cpu_capabilities(plain).int8_dot and not cpu_capabilities(plain).bf16
    assert cpu_capabilities(tmp_path / "missing").flags == ()


CPUINFO = Path(__file__).parent / "data" / "cpuinfo"  # one file per class: this machine's, and lines written as
# the named CPUs show them (each file says which)


@pytest.mark.parametrize("sample, machine, expected", [
    ("x86_amx_xeon.txt", "x86_64", "x86_amx"),
    ("x86_avx512_bf16_zen4.txt", "x86_64", "x86_avx512_bf16"),
    ("x86_avx512_vnni_cascade_lake.txt", "x86_64", "x86_avx512_vnni"),
    ("x86_avx512_skylake.txt", "x86_64", "x86_avx512"),
    ("x86_avx2_epyc.txt", "x86_64", "x86_avx2"),
    ("x86_baseline_sandy_bridge.txt", "AMD64", "x86_baseline"),
    ("arm64_neon_graviton2.txt", "aarch64", "arm64_neon"),
    ("arm64_sve_graviton3.txt", "arm64", "arm64_sve"),
])
def test_cpu_class_of_each_flag_line(sample, machine, expected):
    from hpi.runtime.device import classify_cpu, cpuinfo_flags

    flags = cpuinfo_flags(CPUINFO / sample)
    assert flags and classify_cpu(machine, flags) == expected


def test_cpu_class_edges():
    from hpi.runtime.device import classify_cpu, cpuinfo_flags

    assert classify_cpu("x86_64", {"avx2", "fma", "avx512f", "amx_tile"}) == "x86_avx512"  # tiles without a type
    assert classify_cpu("x86_64", set()) == "x86_baseline"  # no /proc/cpuinfo (macOS, Windows): nothing claimed
    assert classify_cpu("aarch64", set()) == "arm64_neon"  # NEON is part of ARMv8-A
    assert cpuinfo_flags(Path("/nonexistent/cpuinfo")) == frozenset()


def test_cpu_class_here_names_the_model():
    from hpi._env import cpu_model
    from hpi.runtime.device import ARM_CLASSES, X86_CLASSES, cpu_class

    here = cpu_class()
    assert here.name in X86_CLASSES + ARM_CLASSES and here.model == cpu_model()
    assert here.to_dict()["cpu_class"] == here.name
