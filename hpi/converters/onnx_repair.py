"""Graph repairs for what paddle2onnx 2.1.0 emits and ONNX Runtime/OpenVINO refuse.

Concat: paddle2onnx builds shape vectors by concatenating 1-element tensors with rank-0 scalars (e.g. Cast
of a Gather with a scalar index). ONNX requires equal ranks, so ONNX Runtime refuses the model
("All inputs to Concat must have same rank", or "axis must be in [-rank, rank-1]" when all are scalars).
Each rank-0 input of such a Concat is unsqueezed to shape [1], which is what the exporter meant.
"""
from __future__ import annotations

from typing import Dict, List, Optional


def _ranks(model) -> Dict[str, Optional[int]]:
    from onnx import shape_inference

    inferred = shape_inference.infer_shapes(model, strict_mode=False)
    ranks: Dict[str, Optional[int]] = {}
    for info in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        tensor_type = info.type.tensor_type
        ranks[info.name] = len(tensor_type.shape.dim) if tensor_type.HasField("shape") else None
    for initializer in model.graph.initializer:
        ranks[initializer.name] = len(initializer.dims)
    for node in model.graph.node:
        if node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value":
                    ranks[node.output[0]] = len(attribute.t.dims)
    return ranks


def _opset(model) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)


def fix_concat_ranks(model) -> List[str]:
    """Unsqueeze rank-0 inputs of Concats whose other inputs are rank 1 (or all rank 0); returns the changes."""
    from onnx import TensorProto, helper

    changes: List[str] = []
    for _ in range(4):  # a repair can expose ranks downstream; a few passes settle it
        ranks = _ranks(model)
        new_nodes, fixed_here = [], 0
        axes_name = "hpi_unsqueeze_axes_0"
        for node in model.graph.node:
            if node.op_type == "Concat":
                input_ranks = [ranks.get(name) for name in node.input]
                known = [r for r in input_ranks if r is not None]
                if 0 in known and set(known) <= {0, 1}:
                    for position, name in enumerate(node.input):
                        if ranks.get(name) == 0:
                            unsqueezed = f"{name}_hpi_rank1_{node.name or 'concat'}_{position}"
                            if _opset(model) >= 13:
                                new_nodes.append(helper.make_node("Unsqueeze", [name, axes_name], [unsqueezed]))
                            else:
                                new_nodes.append(helper.make_node("Unsqueeze", [name], [unsqueezed], axes=[0]))
                            node.input[position] = unsqueezed
                            fixed_here += 1
                    changes.append(f"{node.name}: unsqueezed {input_ranks.count(0)} rank-0 input(s) to rank 1")
            new_nodes.append(node)
        if not fixed_here:
            break
        if _opset(model) >= 13 and axes_name not in {i.name for i in model.graph.initializer}:
            model.graph.initializer.append(helper.make_tensor(axes_name, TensorProto.INT64, [1], [0]))
        del model.graph.node[:]
        model.graph.node.extend(new_nodes)
    return changes
