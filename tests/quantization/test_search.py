"""The gate and the float-layer search, on a stub quantizer whose layers change known items (the mechanism only;
tests/quantization/test_openvino.py runs the real model)."""
import json

import numpy as np
import pytest

import hpi.runtime.quantization as quantization
from hpi.errors import BackendError, QuantizationError
from hpi.runtime.model_dir import load_model_dir
from hpi.runtime.quantization import Metrics, Workload, gated_model_path, quantize_model
from hpi.runtime.quantization.search import Gate, search

ITEMS = 20


class StubQuantizer:
    """Layer Li has one quantizer qi. A quantized "harmful" layer flips the output of its own items; a model is the
    frozenset of quantizers still active."""

    name = "stub"
    method = "stub"
    settings = {"overflow_fix": "enable"}  # as the OpenVINO quantizer records it: safe on CPUs without VNNI

    def __init__(self, harmful):
        self.harmful = harmful  # layer index -> items it flips
        self.fp32_model = frozenset()
        self.saved = []

    def quantize(self, calibration):
        return frozenset(f"q{i}" for i in range(8))

    def layers(self, quantized):
        return {f"L{i}": [f"q{i}"] for i in range(8)}

    def with_float(self, quantized, float_quantizers):
        return quantized - set(float_quantizers)

    def runner(self, model):
        def run(x):
            item = int(x.ravel()[0])
            flipped = any(item in items for layer, items in self.harmful.items() if f"q{layer}" in model)
            return np.array([[[0.2, 0.8]]] if flipped else [[[0.9, 0.1]]], np.float32)
        return run

    def fp32_runner(self):
        return self.runner(self.fp32_model)

    def save(self, model, path):
        path.write_text(json.dumps(sorted(model)))
        self.saved.append(path)
        return [path]


def workload(labelled=False):
    inputs = [np.full((1, 1, 1, 1), i, np.float32) for i in range(ITEMS)]

    def judge(outputs, reference):
        same = [int(o.argmax()) == int(r.argmax()) for o, r in zip(outputs, reference)]
        agreement = 100 * sum(same) / len(same)
        if not labelled:
            return Metrics(agreement)
        return Metrics(agreement, accuracy=agreement, norm_edit=agreement)
    return Workload(inputs, inputs, judge, labelled=labelled)


def test_full_int8_is_chosen_when_it_holds_the_gate():
    result = search(StubQuantizer({}), workload(), max_drop=0.5)
    assert result.chosen.float_layers == [] and result.chosen.passed
    assert result.ranking == []  # no sensitivity measured when nothing needs it
    assert result.timing["speedup"] > 0


def test_the_fewest_most_sensitive_layers_stay_in_float():
    # L3 flips 2 items, L5 one item, L6 one other: with agreement >= 95% (max_drop 5) L3 and one of L5/L6 must go
    quantizer = StubQuantizer({3: {0, 1}, 5: {2}, 6: {3}})
    result = search(quantizer, workload(), max_drop=5)
    assert result.ranking[0][0] == "L3"
    assert {name for name, score in result.ranking if score > 0} == {"L3", "L5", "L6"}
    assert result.chosen.passed and "L3" in result.chosen.float_layers and len(result.chosen.float_layers) == 2
    assert result.chosen.metrics.agreement == 95.0
    assert result.attempts[0].float_layers == [] and not result.attempts[0].passed
    assert result.model == frozenset(f"q{i}" for i in range(8)) - {f"q{int(n[1])}" for n in result.chosen.float_layers}


def test_no_model_when_the_gate_needs_more_than_half_the_layers_in_float():
    quantizer = StubQuantizer({i: {i} for i in range(5)})  # five layers each flip one item
    result = search(quantizer, workload(), max_drop=0)
    assert result.chosen is None and result.model is None
    assert max(len(a.float_layers) for a in result.attempts) == 4  # half of the 8 layers at most


def test_gate_uses_accuracy_and_norm_edit_with_labels():
    gate = Gate(max_drop=1.0, labelled=True)
    fp32 = Metrics(100, accuracy=80.0, norm_edit=90.0)
    assert gate.holds(fp32, Metrics(90, accuracy=79.0, norm_edit=89.5))
    assert not gate.holds(fp32, Metrics(99, accuracy=78.9, norm_edit=90.0))
    assert not gate.holds(fp32, Metrics(99, accuracy=80.0, norm_edit=88.0))
    assert Gate(max_drop=1.0, labelled=False).holds(fp32, Metrics(99.0)) and \
        not Gate(max_drop=1.0, labelled=False).holds(fp32, Metrics(98.9))


@pytest.fixture
def onnx_model_dir(tmp_path, v4_onnx_dir):
    for name in ("inference.onnx", "inference.yml"):
        (tmp_path / name).write_bytes((v4_onnx_dir / name).read_bytes())
    return load_model_dir(tmp_path)


def test_refusal_writes_nothing_and_a_gated_model_is_written_whole(onnx_model_dir, monkeypatch):
    stubs = []

    def make(backend, fp32_path, threads, settings):
        stubs.append(StubQuantizer({i: {i} for i in range(5)} if len(stubs) == 0 else {3: {0}}))
        return stubs[-1]
    monkeypatch.setattr(quantization, "_quantizer", make)
    with pytest.raises(QuantizationError, match="holds the gate") as refused:
        quantize_model(onnx_model_dir, workload(), max_drop=0)
    assert "4 of 8 layers in float" in str(refused.value)
    assert sorted(p.name for p in onnx_model_dir.path.iterdir() if not p.name.startswith(".")) == \
        ["inference.onnx", "inference.yml"]  # no model, no record, no scratch folder

    record = quantize_model(onnx_model_dir, workload(), max_drop=0)
    assert record["gate"]["passed"] and record["float_layers"] == ["L3"] and not record["reused"]
    path = gated_model_path(onnx_model_dir, onnx_model_dir.onnx, "openvino")
    assert json.loads(path.read_text()) == [f"q{i}" for i in range(8) if i != 3]
    assert json.loads((path.parent / (path.name + ".hpi.json")).read_text())["files"][path.name]
    assert quantize_model(onnx_model_dir, workload(), max_drop=0)["reused"]  # same model, data, settings

    path.write_text("[]")  # changed after its gate: never run
    with pytest.raises(BackendError, match="differs from what its gate measured"):
        gated_model_path(onnx_model_dir, onnx_model_dir.onnx, "openvino")


def test_gated_model_path_says_how_to_make_one(onnx_model_dir):
    with pytest.raises(BackendError, match="hpi quantize --model_dir"):
        gated_model_path(onnx_model_dir, onnx_model_dir.onnx, "openvino")


def test_a_model_made_for_vnni_is_refused_on_a_cpu_without_it(onnx_model_dir, monkeypatch):
    import hpi.runtime.device

    StubQuantizer.settings = {"overflow_fix": "first_layer_only"}
    try:
        monkeypatch.setattr(quantization, "_quantizer", lambda *args: StubQuantizer({}))
        quantize_model(onnx_model_dir, workload(), max_drop=0)
    finally:
        StubQuantizer.settings = {"overflow_fix": "enable"}
    for vnni in (True, False):
        capabilities = hpi.runtime.device.CPUCapabilities(int8_dot=vnni, bf16=False, amx=False)
        monkeypatch.setattr(hpi.runtime.device, "cpu_capabilities", lambda: capabilities)
        if vnni:
            assert gated_model_path(onnx_model_dir, onnx_model_dir.onnx, "openvino").is_file()
        else:
            with pytest.raises(BackendError, match="saturate"):
                gated_model_path(onnx_model_dir, onnx_model_dir.onnx, "openvino")


def test_relative_noise_is_fake_quantize_arithmetic():
    pytest.importorskip("openvino")
    from hpi.runtime.quantization.openvino import _relative_noise

    on_grid = np.array([-1.0, -0.5, 0.0, 0.5, 1.0], np.float32)  # 5 levels over [-1, 1]: every value representable
    assert _relative_noise(on_grid, -1.0, 1.0, -1.0, 1.0, 5) == 0.0
    between = np.array([0.25], np.float32)  # rounds to 0.5 (half to even: 1.5 steps -> 2): error 0.25
    assert _relative_noise(between, -1.0, 1.0, -1.0, 1.0, 5) == pytest.approx(0.25 ** 2 / 0.25 ** 2)
    clipped = np.array([3.0], np.float32)  # beyond the range: clipped to 1
    assert _relative_noise(clipped, -1.0, 1.0, -1.0, 1.0, 256) == pytest.approx((3 - 1) ** 2 / 9)
