import pytest

from hpi.device import Device, _cgroup_cpu_limit, cpu_quota, parse_device
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
