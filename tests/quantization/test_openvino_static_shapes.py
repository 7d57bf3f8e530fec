"""OpenVINO INT8 at static shapes (quantization/openvino.py, StaticShapes), as CPUs with AMX int8 tiles need it: the
pattern OpenVINO's AMX INT8 convolution breaks at dynamic shapes (benchmarks/repro_openvino_int8_amx.py: a crash
alone, garbage in PP-OCRv4), checked against the same arithmetic in numpy."""
import numpy as np
import pytest

from capabilities import CPU_HAS_AMX_INT8, HAS_OPENVINO
from hpi.runtime.device import cpu_capabilities

pytestmark = pytest.mark.skipif(not HAS_OPENVINO, reason="needs openvino")
CIN, COUT = 240, 60
LEVEL = 1 / 255  # one step of the output FakeQuantize


def _close(got, expected) -> bool:
    """Within a few output steps: INT8 kernels round the input (range -1..1, no integer zero point) and values at
    a step's edge their own way; the broken kernel was off by most of the range, or crashed."""
    error = np.abs(got - expected)
    return got.shape == expected.shape and error.max() <= 3 * LEVEL + 1e-6 and error.mean() <= LEVEL / 2


def _fake_quantize(x, low, high):
    step = (high - low) / 255
    return np.round((np.clip(x, low, high) - low) / step) * step + low


def squeeze_excitation():
    """(an INT8 model with a dynamic input shape, its arithmetic in numpy): signed INT8 input, 1x1 convolution with
    per-channel INT8 weights, bias, ReLU, SmoothQuant's per-channel scale, unsigned INT8 output."""
    import openvino as ov
    import openvino.opset13 as op

    rng = np.random.default_rng(0)
    w8 = rng.integers(-127, 128, (COUT, CIN)).astype(np.int8)
    scale = (rng.uniform(0.5, 1.5, (COUT, 1)) / 127 / np.sqrt(CIN)).astype(np.float32)
    bias = rng.normal(0, 0.1, COUT).astype(np.float32)
    smooth = rng.uniform(0.2, 2, COUT).astype(np.float32)
    c = lambda a: op.constant(np.asarray(a, np.float32))  # noqa: E731
    x = op.parameter(ov.PartialShape([-1, CIN, -1, -1]), np.float32)
    w = op.multiply(op.convert(op.constant(w8[:, :, None, None]), np.float32), c(scale[:, :, None, None]))
    y = op.convolution(op.fake_quantize(x, c(-1), c(1), c(-1), c(1), 256), w, [1, 1], [0, 0], [0, 0], [1, 1])
    y = op.multiply(op.relu(op.add(y, c(bias[None, :, None, None]))), c(smooth[None, :, None, None]))
    model = ov.Model([op.fake_quantize(y, c(0), c(1), c(0), c(1), 256)], [x])

    def reference(batch):
        y = np.einsum("oc,nchw->nohw", w8 * scale, _fake_quantize(batch, -1, 1)) + bias[None, :, None, None]
        return _fake_quantize(np.maximum(y, 0) * smooth[None, :, None, None], 0, 1)
    return model, reference


def _batch(*shape):
    return np.random.default_rng(sum(shape)).uniform(-1, 1, (shape[0], CIN, *shape[1:])).astype(np.float32)


def test_static_shapes_compile_per_shape_and_keep_the_latest():
    import openvino as ov
    from hpi.runtime.quantization.openvino import StaticShapes

    model, reference = squeeze_excitation()
    static = StaticShapes(ov.Core(), model, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 2},
                          capacity=2)
    for shape in ((1, 1, 1), (2, 1, 3), (1, 1, 1), (1, 2, 2)):
        batch = _batch(*shape)
        assert _close(static.infer(batch), reference(batch))
    assert static.shapes == [(1, CIN, 1, 1), (1, CIN, 2, 2)]  # (2, 240, 1, 3) was the least recently used


@pytest.mark.parametrize("amx_int8", [False, True])
def test_the_gate_runs_int8_models_as_the_backend_does(amx_int8, v4_onnx_dir, monkeypatch):
    """OpenVINOQuantizer.runner: an INT8 model at static shapes where the CPU needs it (decided here by the
    monkeypatched flag), a float one always at dynamic shapes."""
    from hpi.runtime.quantization import openvino as quantizer_module

    monkeypatch.setattr(quantizer_module, "needs_static_shapes", lambda: amx_int8)
    quantizer = quantizer_module.OpenVINOQuantizer(v4_onnx_dir / "inference.onnx", threads=2)
    model, reference = squeeze_excitation()
    run = quantizer.runner(model)
    assert isinstance(getattr(run, "__self__", None), quantizer_module.StaticShapes) == amx_int8
    assert not isinstance(getattr(quantizer.fp32_runner(), "__self__", None), quantizer_module.StaticShapes)
    if amx_int8 or not CPU_HAS_AMX_INT8:  # dynamic INT8 on an AMX int8 CPU is the bug itself: it may crash
        batch = _batch(1, 1, 1)
        assert _close(run(batch), reference(batch))


@pytest.mark.skipif(not CPU_HAS_AMX_INT8, reason="needs the CPU flag amx_int8 (AMX int8 tiles), where OpenVINO's "
                                                 "INT8 convolutions need static shapes")
def test_amx_int8_cpu_runs_int8_at_static_shapes_and_right(v4_onnx_dir, record_property):
    from hpi.runtime.quantization.openvino import OpenVINOQuantizer, StaticShapes, needs_static_shapes

    flags = cpu_capabilities().flags
    print(f"CPU flags exercised: {flags}")
    record_property("cpu_flags", " ".join(flags))
    assert needs_static_shapes()
    run = OpenVINOQuantizer(v4_onnx_dir / "inference.onnx", threads=2).runner(squeeze_excitation()[0])
    assert isinstance(run.__self__, StaticShapes)
    model, reference = squeeze_excitation()
    for shape in ((1, 1, 1), (3, 1, 1), (1, 6, 80)):  # batch 1 at 1x1 broke PP-OCRv4's squeeze-excitation
        batch = _batch(*shape)
        assert _close(run(batch), reference(batch))
