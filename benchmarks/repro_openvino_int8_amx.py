"""Reproduce: OpenVINO's CPU plugin runs an INT8 convolution wrongly (garbage or SIGSEGV) on a CPU with AMX int8
tiles when the model's input shape is dynamic. Upstream: openvinotoolkit/openvino#37577.

The pattern (PP-OCRv4's squeeze-excitation block after NNCF PTQ with SmoothQuant): a signed-INT8 input (a symmetric
FakeQuantize), a 1x1 convolution with per-channel weights, bias, ReLU, SmoothQuant's per-channel Multiply and an
unsigned FakeQuantize on the output (fused by the plugin into one u8-output convolution, `brgconv_avx512_amx_1x1`).
Each case runs in its own process, since oneDNN reads ONEDNN_MAX_CPU_ISA once and a crash must not end this script.

    python benchmarks/repro_openvino_int8_amx.py
"""
import json
import os
import subprocess
import sys

import numpy as np

CIN, COUT = 240, 60


def build(dynamic: bool, smooth: bool = True, relu: bool = True):
    import openvino as ov
    import openvino.opset13 as op

    rng = np.random.default_rng(0)
    c = lambda a: op.constant(np.asarray(a, np.float32))  # noqa: E731
    x = op.parameter(ov.PartialShape([-1, CIN, -1, -1]) if dynamic else [1, CIN, 1, 1], np.float32, name="x")
    y = op.fake_quantize(x, c(-1), c(1), c(-1), c(1), 256)  # signed activations
    w8 = rng.integers(-127, 128, (COUT, CIN, 1, 1)).astype(np.int8)
    scale = (rng.uniform(0.5, 1.5, (COUT, 1, 1, 1)) / 127 / np.sqrt(CIN)).astype(np.float32)
    w = op.multiply(op.convert(op.constant(w8), np.float32), op.constant(scale))  # NNCF's compressed weights
    y = op.add(op.convolution(y, w, [1, 1], [0, 0], [0, 0], [1, 1]), c(rng.normal(0, .1, (1, COUT, 1, 1))))
    if relu:
        y = op.relu(y)
    if smooth:  # SmoothQuant's per-channel scale before the next layer's quantizer
        y = op.multiply(y, c(rng.uniform(0.2, 2, (1, COUT, 1, 1))))
    y = op.fake_quantize(y, c(0), c(1), c(0), c(1), 256)
    return ov.Model([y], [x])


def child(case: dict) -> None:
    import openvino as ov

    x = np.random.default_rng(1).uniform(-1, 1, (1, CIN, 1, 1)).astype(np.float32)
    core = ov.Core()
    got = core.compile_model(build(case["dynamic"], case["smooth"], case["relu"]), "CPU",
                             {"INFERENCE_PRECISION_HINT": "f32", "INFERENCE_NUM_THREADS": 2})
    out = got.create_infer_request().infer({0: x})[0]
    print("first outputs " + " ".join(f"{v:.3f}" for v in out.ravel()[:4]) + f", sum {out.sum():.3f}")


def main() -> None:
    from hpi.runtime.device import cpu_capabilities
    import openvino as ov

    print(f"OpenVINO {ov.__version__}; CPU flags: {cpu_capabilities().flags}")
    for isa in (None, "AVX512_CORE_VNNI"):
        for case in ({"dynamic": False, "smooth": True, "relu": True}, {"dynamic": True, "smooth": True, "relu": True},
                     {"dynamic": True, "smooth": False, "relu": True}, {"dynamic": True, "smooth": True, "relu": False}):
            env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
            if isa:
                env["ONEDNN_MAX_CPU_ISA"] = isa
            run = subprocess.run([sys.executable, __file__, json.dumps(case)], env=env, capture_output=True, text=True)
            shown = run.stdout.strip() if run.returncode == 0 else f"CRASHED (exit {run.returncode})"
            print(f"ONEDNN_MAX_CPU_ISA={isa or '(unset)':17} {json.dumps(case)}: {shown}")


if __name__ == "__main__":
    child(json.loads(sys.argv[1])) if len(sys.argv) > 1 else main()
