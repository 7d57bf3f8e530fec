"""Execution plans per CPU class (configs/cpu_plans.yaml, hpi/runtime/plans.py): the data, the nearest-class
fallback and its log line, the plan in a predictor's config, and the fast-path hint."""
import json
import logging
from pathlib import Path

import pytest
from capabilities import CPU_HAS_BF16, HAS_OPENVINO, HAS_PADDLE

from hpi import TextRecognition
from hpi.runtime import candidates, fast_path, plans
from hpi.runtime.candidates import backend_orders, default_candidates
from hpi.runtime.config import HPIConfig
from hpi.runtime.device import ARM_CLASSES, X86_CLASSES, CPUClass, Device, cpu_capabilities, cpu_class, cpuinfo_flags
from hpi.runtime.plans import plan_for, plan_table

CPUINFO = Path(__file__).parent / "data" / "cpuinfo"


@pytest.fixture(autouse=True)
def fresh_logs(monkeypatch):
    """Each test sees the once-per-process log lines afresh."""
    monkeypatch.setattr(plans, "_announced", set())
    monkeypatch.setattr(fast_path, "_hinted", set())


def test_plan_data_is_complete():
    table, orders = plan_table(), backend_orders()
    assert set(table["classes"]) == set(X86_CLASSES + ARM_CLASSES)
    for name, klass in table["classes"].items():
        assert name not in klass["nearest"] and set(klass["nearest"]) <= set(table["classes"])
        assert all(n[:3] == name[:3] for n in klass["nearest"])  # ARM never takes an x86 plan, nor back
    for group, per_class in table["plans"].items():
        for klass, plan in per_class.items():
            assert klass in table["classes"] and plan["order"] in orders["orders"], (group, klass)
            batching = plan.get("batching", table["defaults"]["batching"])
            modes = set(batching.values()) if isinstance(batching, dict) else {batching}
            assert modes <= {"per_stream", "buckets"}, (group, klass)
            assert plan["source"] in ("measured", "inferred"), (group, klass)
            if plan["source"] == "inferred":
                assert plan["reason"], (group, klass)
            else:
                measured = table["measurements"][plan["measurement"]]
                assert {"cpu", "flags", "date", "models", "figures"} <= set(measured), plan["measurement"]
            for offer in plan.get("offer") or ():
                measured = table["measurements"][offer["measurement"]]
                assert {"cpu", "flags", "date", "factor", "versus", "accuracy"} <= set(measured), offer
    named = {entry["plan"] for entry in orders["models"].values() if "plan" in entry}
    assert named <= set(table["plans"])
    for klass, settings in (table.get("process") or {}).items():  # process-wide settings are measured too
        assert klass in table["classes"] and settings["onednn_primitive_cache"] > 0
        assert {"cpu", "flags", "date", "figures"} <= set(table["measurements"][settings["measurement"]])


@pytest.mark.parametrize("sample", sorted(p.name for p in CPUINFO.glob("x86_*.txt")))
def test_native_precisions_of_a_class_are_its_flags(sample):
    """The YAML's `native` per class agrees with what cpu_capabilities reads from a CPU of that class."""
    from hpi.runtime.device import classify_cpu

    capabilities = cpu_capabilities(CPUINFO / sample)
    native = plan_table()["classes"][classify_cpu("x86_64", cpuinfo_flags(CPUINFO / sample))]["native"]
    assert ("bf16" in native, "int8" in native) == (capabilities.bf16, capabilities.int8_dot)


def test_measured_plans():
    orders = backend_orders()
    zen4 = plan_for("PP-OCRv4_mobile_rec", "x86_avx512_bf16", orders)
    assert (zen4.order[0]["backend"], zen4.source, zen4.fallback_from) == ("onnxruntime", "measured", None)
    assert [(o.backend, o.precision, o.factor) for o in zen4.offers] == [("openvino", "bf16", "1.7x")]
    amx = plan_for("PP-OCRv4_mobile_rec", "x86_amx", orders)
    assert amx.order[0] == {"backend": "openvino", "precision": "fp32"} and amx.offers[0].factor == "1.6-2.2x"
    assert amx.measurement["date"] == "2026-12-06" and amx.basis == "measured"
    assert plan_for("PP-OCRv3_mobile_rec", "x86_amx", orders).basis == "family"  # v4 and v5 were measured there
    # PP-OCRv6: ONNX Runtime first on both measured classes; bf16 offered for small on AMX, not for tiny (ONNX
    # Runtime fp32 beat OpenVINO bf16 on a first pass there)
    for model, offered in (("PP-OCRv6_small_rec", [("openvino", "bf16")]), ("PP-OCRv6_tiny_rec", [])):
        for klass in ("x86_amx", "x86_avx512_bf16"):
            plan = plan_for(model, klass, orders)
            assert (plan.order[0]["backend"], plan.basis) == ("onnxruntime", "measured"), (model, klass)
        assert [(o.backend, o.precision) for o in plan_for(model, "x86_amx", orders).offers] == offered
    detection = plan_for("PP-OCRv4_mobile_det", "x86_avx2", orders)
    assert detection.order[0]["backend"] == "openvino" and detection.offers == ()  # no native bf16 on AVX2
    assert all(e.get("precision", "fp32") == "fp32" for p in (zen4, amx, detection) for e in p.order
               if "precision" in e)  # FP32 is the default everywhere


def test_an_unmeasured_class_takes_the_nearest_and_says_so_once(caplog):
    orders = backend_orders()
    vnni = plan_for("PP-OCRv5_mobile_rec", "x86_avx512_vnni", orders)
    assert (vnni.plan_class, vnni.fallback_from) == ("x86_avx512_bf16", "x86_avx512_vnni")
    assert vnni.offers == ()  # Zen 4's bf16 offer does not apply: Cascade Lake has no bf16
    with caplog.at_level(logging.INFO, logger="hpi"):
        plans.announce(vnni)
        plans.announce(plan_for("PP-OCRv4_mobile_rec", "x86_avx512_vnni", orders))  # same group and class
    lines = [r.getMessage() for r in caplog.records if "no plan measured" in r.getMessage()]
    assert len(lines) == 1 and caplog.records[0].levelno == logging.INFO
    assert "no plan measured for x86_avx512_vnni" in lines[0] and "using x86_avx512_bf16's" in lines[0]
    assert "measured on AMD EPYC (Zen 4)" in lines[0]
    assert plan_for("PP-OCRv4_mobile_det", "x86_avx512", orders).plan_class == "x86_avx2"  # avx512 -> avx2
    assert plan_for("PP-OCRv4_mobile_det", "x86_amx", orders).plan_class == "x86_amx"  # measured there too
    assert plan_for("PP-OCRv4_mobile_det", "x86_avx512_bf16", orders).plan_class == "x86_amx"  # its nearest
    assert plan_for("PP-OCRv4_mobile_rec", "x86_baseline", orders).plan_class == "x86_avx512_bf16"


def test_arm_and_model_orders_of_their_own():
    orders = backend_orders()
    sve = plan_for("PP-OCRv4_mobile_rec", "arm64_sve", orders)
    assert (sve.plan_class, sve.source, sve.order[0]["backend"]) == ("arm64_neon", "inferred", "onnxruntime")
    server = plan_for("PP-OCRv5_server_rec", "x86_amx", orders)  # PaddleX's order, on every x86 class
    assert (server.source, server.order[0]["backend"], server.fallback_from) == ("paddlex", "paddle", None)
    unknown = plan_for("some_new_model", "x86_amx", orders)
    assert (unknown.source, unknown.order[0]["backend"]) == ("inferred", "onnxruntime") and unknown.reason


def test_candidates_here_follow_this_class_plan():
    cpu = Device("cpu")
    for model in ("PP-OCRv4_mobile_rec", "PP-OCRv4_mobile_det", "PP-OCRv5_server_rec"):
        plan = plan_for(model, cpu_class().name, backend_orders())
        got = default_candidates(model, cpu)
        assert [c.backend for c in got] == [e["backend"] for e in plan.order]
        cache = plans.process_settings(cpu_class().name).onednn_primitive_cache
        for candidate in got:  # streams and batching only where a backend takes them; oneDNN's cache: OpenVINO
            streams = candidate.backend in ("onnxruntime", "openvino")
            assert ("num_streams" in candidate.options) == streams
            assert candidate.options.get("batching") == (plan.batching_for(candidate.backend) if streams else None)
            assert candidate.options.get("onednn_primitive_cache") == (cache if candidate.backend == "openvino"
                                                                       else None)


def test_process_settings_follow_the_class_or_the_nearest_measured_one():
    table = plan_table()
    for klass in X86_CLASSES + ARM_CLASSES:
        settings = plans.process_settings(klass)
        own = (table.get("process") or {}).get(klass)
        if own:
            assert (settings.from_class, settings.onednn_primitive_cache) == (klass, own["onednn_primitive_cache"])
        elif settings.from_class is not None:  # a nearer class's, never across x86 and ARM
            assert settings.from_class in table["classes"][klass]["nearest"] and settings.from_class[:3] == klass[:3]
        else:
            assert settings.onednn_primitive_cache is None  # the library's own default


def test_onednn_kernel_cache_is_set_at_the_first_compilation_and_the_user_wins(monkeypatch, caplog):
    """oneDNN reads ONEDNN_PRIMITIVE_CACHE_CAPACITY once, at OpenVINO's first compilation in the process: hpi sets
    it then unless the user did, and says so when a later model asks for another value."""
    from hpi.runtime.backends import openvino as ov_backend

    variable = ov_backend.ONEDNN_CACHE_VARIABLE
    monkeypatch.setattr(ov_backend, "_process_cache", {})
    monkeypatch.delenv(variable, raising=False)
    assert ov_backend.use_primitive_cache(8192) == 8192 and ov_backend.os.environ[variable] == "8192"
    with caplog.at_level(logging.INFO, logger="hpi"):
        assert ov_backend.use_primitive_cache(100) == 8192  # decided by the first compilation
    assert "stays at 8192" in caplog.text and "not the 100 asked for" in caplog.text
    monkeypatch.setattr(ov_backend, "_process_cache", {})
    monkeypatch.setenv(variable, "2048")  # the user's
    assert ov_backend.use_primitive_cache(8192) == 2048 and ov_backend.os.environ[variable] == "2048"
    monkeypatch.setattr(ov_backend, "_process_cache", {})
    monkeypatch.delenv(variable)
    assert ov_backend.use_primitive_cache(None) is None and variable not in ov_backend.os.environ


def test_the_plan_is_reported_in_config(rec_on):
    model = rec_on()
    plan = model.config["plan"]
    assert (plan["cpu_class"], plan["cpu"]) == (cpu_class().name, cpu_class().model)
    assert plan["source"] in ("measured", "inferred") and plan["chose_backend"]
    assert model.config["batching"] == plan["batching"].get(model.backend, plan["batching"]["*"])
    assert model.backend == plan["order"][0]["backend"]
    assert {"measured_on", "date", "fallback_from", "num_streams", "offer"} <= set(plan)
    assert rec_on("onnxruntime").config["plan"]["chose_backend"] is False
    if HAS_PADDLE:
        assert "plan" not in rec_on("paddle").config  # normal mode


def _hints(caplog):
    return [r for r in caplog.records if "To use it: hpi_config=" in r.getMessage()]


def test_the_hint_logic_on_any_cpu(monkeypatch):
    """As on an AMX Xeon, whatever this machine is: offered only with native bf16 and no precision chosen."""
    monkeypatch.setattr(candidates, "cpu_class", lambda: CPUClass("x86_amx", "test", "x86_64"))
    cpu, model = Device("cpu"), "PP-OCRv4_mobile_rec"
    offer = fast_path.faster_offer(model, cpu, HPIConfig(), "fp32")
    assert offer.hpi_config_line == 'hpi_config={"backend": "openvino", "backend_config": {"precision": "bf16"}}'
    assert fast_path.faster_offer(model, cpu, HPIConfig(backend_config={"precision": "fp32"}), "fp32") is None
    assert fast_path.faster_offer(model, cpu, HPIConfig(), "bf16") is None  # already the faster one
    assert fast_path.faster_offer(model, Device("gpu", 0), HPIConfig(), "fp32") is None
    monkeypatch.setattr(candidates, "cpu_class", lambda: CPUClass("x86_avx2", "test", "x86_64"))
    assert fast_path.faster_offer(model, cpu, HPIConfig(), "fp32") is None  # never without native bf16


def test_the_hint_here_is_logged_once_and_its_line_works(v4_onnx_dir, caplog):
    with caplog.at_level(logging.INFO, logger="hpi"):
        TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=True)
        TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=True)
    hints = _hints(caplog)
    if not CPU_HAS_BF16 or not plan_for("PP-OCRv4_mobile_rec", cpu_class().name, backend_orders()).offers:
        assert hints == []  # a CPU without bf16 (no avx512_bf16 or amx_bf16 flag), or a class with no offer
        return
    assert len(hints) == 1 and hints[0].levelno == logging.INFO
    line = hints[0].getMessage().split("To use it: hpi_config=", 1)[1]
    if not HAS_OPENVINO:
        pytest.skip("the hint's line names openvino, which is not installed")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="hpi"):
        fast = TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=True, hpi_config=json.loads(line))
    assert (fast.backend, fast.config["precision"]) == ("openvino", "bf16") and _hints(caplog) == []
