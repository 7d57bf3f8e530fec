"""The two graph repairs, on small graphs built here (no Paddle needed)."""
import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from hpi.converters.onnx_repair import fix_concat_ranks  # noqa: E402
from hpi.converters.pir import patch_pir_json  # noqa: E402


def shape_builder_model():
    """shape = Concat(Shape(x)[0:1], Gather(Shape(x), 1) as a scalar): the pattern paddle2onnx emits."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Slice", ["s", "start0", "end1"], ["dim0"]),
        helper.make_node("Gather", ["s", "index1"], ["dim1_scalar"]),
        helper.make_node("Concat", ["dim0", "dim1_scalar"], ["new_shape"], axis=0, name="Concat.6"),
        helper.make_node("Reshape", ["x", "new_shape"], ["y"]),
    ]
    inits = [helper.make_tensor("start0", TensorProto.INT64, [1], [0]),
             helper.make_tensor("end1", TensorProto.INT64, [1], [1]),
             helper.make_tensor("index1", TensorProto.INT64, [], [1])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])


def test_concat_with_scalar_inputs_is_refused_then_repaired():
    model = shape_builder_model()
    with pytest.raises(Exception, match="same rank"):
        ort.InferenceSession(model.SerializeToString())
    changes = fix_concat_ranks(model)
    assert changes == ["Concat.6: unsqueezed 1 rank-0 input(s) to rank 1"]
    onnx.checker.check_model(model, full_check=True)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    (y,) = ort.InferenceSession(model.SerializeToString()).run(None, {"x": x})
    assert np.array_equal(y, x)
    assert fix_concat_ranks(model) == []  # nothing left to repair


def test_pir_interp_scale_becomes_float32(tmp_path):
    program = {"program": {"ops": [
        {"#": "1.nearest_interp", "A": [{"AT": {"#": "0.a_array", "D": [{"#": "0.a_f64", "D": 2.0}] * 2},
                                         "N": "scale"}, 7]},
        {"#": "1.scale", "A": [{"AT": {"#": "0.a_f64", "D": 0.5}, "N": "scale"}]},
    ]}}
    path = tmp_path / "inference.json"
    path.write_text(json.dumps(program))
    assert patch_pir_json(path) == ["1.nearest_interp.scale: float64 -> float32"] * 2
    patched = json.loads(path.read_text())["program"]["ops"]
    assert [e["#"] for e in patched[0]["A"][0]["AT"]["D"]] == ["0.a_f32", "0.a_f32"]
    assert patched[1]["A"][0]["AT"]["#"] == "0.a_f64"  # scalars and other ops are left alone
