"""The graph repairs and the clean-up, on small graphs built here (no Paddle needed)."""
import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from hpi.runtime.converters.onnx_repair import fix_concat_ranks, remove_unused  # noqa: E402
from hpi.runtime.converters.pir import patch_pir_json  # noqa: E402


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


def dead_code_model():
    """y = x + 1, plus what paddle2onnx leaves: an unread Constant, an unread Shape -> Slice chain, an unread
    initializer also listed as a graph input, and a Constant read only inside an If branch (must stay)."""
    then_branch = helper.make_graph([helper.make_node("Add", ["x", "c_branch"], ["t"])], "then", [],
                                    [helper.make_tensor_value_info("t", TensorProto.FLOAT, [2])])
    else_branch = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [],
                                    [helper.make_tensor_value_info("e", TensorProto.FLOAT, [2])])
    scalar = helper.make_tensor("v", TensorProto.FLOAT, [], [1.0])
    nodes = [
        helper.make_node("Constant", [], ["one"], value=scalar),
        helper.make_node("Constant", [], ["unread"], value=scalar),
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Slice", ["s", "start0", "end1"], ["unread_slice"]),
        helper.make_node("Constant", [], ["c_branch"], value=scalar),
        helper.make_node("Add", ["x", "one"], ["y"]),
        helper.make_node("If", ["flag"], ["z"], then_branch=then_branch, else_branch=else_branch),
    ]
    inits = [helper.make_tensor("start0", TensorProto.INT64, [1], [0]),
             helper.make_tensor("end1", TensorProto.INT64, [1], [1]),
             helper.make_tensor("unused_weight", TensorProto.FLOAT, [2], [0.0, 0.0])]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]),
              helper.make_tensor_value_info("flag", TensorProto.BOOL, []),
              helper.make_tensor_value_info("unused_weight", TensorProto.FLOAT, [2])]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2]),
               helper.make_tensor_value_info("z", TensorProto.FLOAT, [2])]
    return helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, inits),
                             opset_imports=[helper.make_opsetid("", 14)])


def test_remove_unused_leaves_nothing_for_onnx_runtime_to_remove(capfd):
    model = dead_code_model()
    ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert "Removing initializer 'unread'" in capfd.readouterr().err  # what every load printed

    changes = remove_unused(model)
    assert changes == ["removed 3 node(s) whose outputs nothing reads (1 Constant, 1 Shape, 1 Slice)",
                       "removed 3 initializer(s) nothing reads"]
    assert [i.name for i in model.graph.input] == ["x", "flag"]
    assert "c_branch" in {o for node in model.graph.node for o in node.output}  # read in a branch: kept
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    assert "Removing initializer" not in capfd.readouterr().err
    y, z = session.run(None, {"x": np.array([1, 2], np.float32), "flag": np.array(True)})
    assert np.array_equal(y, [2, 3]) and np.array_equal(z, [2, 3])
    assert remove_unused(model) == []
