"""FLOPs of a model at one input shape, and the machine's float32 matmul peak, both with ONNX Runtime.

FLOPs are 2 x multiply-adds of Conv, ConvTranspose, MatMul and Gemm (the convention of the seed's reference
numbers). Shapes are read from a real run at the given input (every intermediate exposed as an output), so
shape-building subgraphs cannot hide a MatMul's size from us.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from .._deps import require
from ..errors import HPIError

COUNTED_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
SEED_SHAPE = (3, 48, 320)  # the seed's recognition input: its reference numbers are at 1x3x48x320


def _onnxruntime():
    """ONNX Runtime, through its backend's facts (the install hint names its extra)."""
    from ..runtime.backends import get_backend_class

    return get_backend_class("onnxruntime").import_framework()


def seed_flops(model_dir) -> Optional[float]:
    """FLOPs of the model dir's ONNX model at 1x3x48x320; None without an ONNX file or the onnx package (FLOPs
    need the 'paddle' extra or a plain `pip install onnx`)."""
    if model_dir.onnx is None:
        return None
    try:
        return count_flops(model_dir.onnx, (1, *SEED_SHAPE))["total"]
    except HPIError:
        return None


def count_flops(onnx_path: Path, input_shape: Sequence[int]) -> Dict[str, float]:
    """{op_type: FLOPs} plus "total", at `input_shape`."""
    onnx = require("onnx")
    ort = _onnxruntime()
    model = onnx.load(str(onnx_path))
    initializers = {t.name: list(t.dims) for t in model.graph.initializer}
    wanted = {name for node in model.graph.node if node.op_type in COUNTED_OPS
              for name in list(node.input[:2]) + [node.output[0]] if name and name not in initializers}
    existing = {o.name for o in model.graph.output}
    for name in sorted(wanted - existing):
        model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    feed = {session.get_inputs()[0].name: np.zeros(tuple(input_shape), np.float32)}
    shapes = {**initializers, **{n: list(v.shape) for n, v in zip(names, session.run(names, feed))}}

    flops: Dict[str, float] = {}
    for node in model.graph.node:
        if node.op_type not in COUNTED_OPS:
            continue
        out = shapes[node.output[0]]
        if node.op_type in ("Conv", "ConvTranspose"):
            weight = shapes[node.input[1]]  # [Cout, Cin/groups, kH, kW] (ConvTranspose: [Cin, Cout/g, kH, kW])
            per_output = int(np.prod(weight[1:])) if node.op_type == "Conv" else int(np.prod(weight)) // out[1]
            macs = int(np.prod(out)) * per_output
        else:
            a = shapes[node.input[0]]
            transposed = node.op_type == "Gemm" and any(at.name == "transA" and at.i for at in node.attribute)
            macs = int(np.prod(out)) * (a[-2] if transposed else a[-1])
        flops[node.op_type] = flops.get(node.op_type, 0.0) + 2.0 * macs
    flops["total"] = sum(flops.values())
    return flops


def matmul_peak_gflops(threads: int, size: int = 1024, seconds: float = 1.0) -> float:
    """Best float32 GFLOP/s of a size x size MatMul in ONNX Runtime with `threads` threads."""
    onnx = require("onnx")
    ort = _onnxruntime()
    helper, TensorProto = onnx.helper, onnx.TensorProto
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "peak",
                              [helper.make_tensor_value_info("a", TensorProto.FLOAT, [size, size]),
                               helper.make_tensor_value_info("b", TensorProto.FLOAT, [size, size])],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(helper.make_model(graph).SerializeToString(), options,
                                   providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feed = {"a": rng.standard_normal((size, size), np.float32), "b": rng.standard_normal((size, size), np.float32)}
    session.run(None, feed)
    best, deadline = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        session.run(None, feed)
        best = min(best, time.perf_counter() - start)
    return 2.0 * size ** 3 / best / 1e9
