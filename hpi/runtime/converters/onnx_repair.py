"""Graph repairs for what paddle2onnx 2.1.0 emits and ONNX Runtime/OpenVINO refuse.

Concat: paddle2onnx builds shape vectors by concatenating 1-element tensors with rank-0 scalars (e.g. Cast
of a Gather with a scalar index). ONNX requires equal ranks, so ONNX Runtime refuses the model
("All inputs to Concat must have same rank", or "axis must be in [-rank, rank-1]" when all are scalars).
Each rank-0 input of such a Concat is unsqueezed to shape [1], which is what the exporter meant.

Unused values: paddle2onnx leaves Constant nodes (and a few Slices) whose outputs nothing reads. ONNX Runtime
turns each such Constant into an initializer, then drops it with a warning on every load ("Removing initializer
... It is not used by any node"). `remove_unused` deletes those nodes, and initializers nothing reads, here.
"""
from __future__ import annotations

from collections import Counter
from typing import Dict, List, Optional, Set


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


def _names_read(graph) -> Set[str]:
    """Every value name a node of `graph` or of its subgraphs reads (a subgraph may read the outer scope)."""
    names: Set[str] = set()
    for node in graph.node:
        names.update(node.input)
        for attribute in node.attribute:
            for subgraph in ([attribute.g] if attribute.HasField("g") else []) + list(attribute.graphs):
                names |= _names_read(subgraph) | {o.name for o in subgraph.output}
    return names


def remove_unused(model) -> List[str]:
    """Delete main-graph nodes whose outputs nothing reads (to a fixed point), then initializers nothing reads
    and the graph inputs naming them; returns the changes. Nodes of custom domains are kept (effects unknown)."""
    graph = model.graph
    graph_outputs = {o.name for o in graph.output}
    removed: Counter = Counter()
    while True:
        needed = _names_read(graph) | graph_outputs
        dead = [node for node in graph.node if node.domain in ("", "ai.onnx") and
                not any(name and name in needed for name in node.output)]
        if not dead:
            break
        dead_ids = {id(node) for node in dead}
        kept = [node for node in graph.node if id(node) not in dead_ids]
        removed.update(node.op_type for node in dead)
        del graph.node[:]
        graph.node.extend(kept)
    needed = _names_read(graph) | graph_outputs
    unused = {i.name for i in graph.initializer if i.name not in needed}
    if unused:
        kept_initializers = [i for i in graph.initializer if i.name not in unused]
        del graph.initializer[:]
        graph.initializer.extend(kept_initializers)
        kept_inputs = [i for i in graph.input if i.name not in unused]
        del graph.input[:]
        graph.input.extend(kept_inputs)
    changes = []
    if removed:
        kinds = ", ".join(f"{count} {op}" for op, count in sorted(removed.items()))
        changes.append(f"removed {sum(removed.values())} node(s) whose outputs nothing reads ({kinds})")
    if unused:
        changes.append(f"removed {len(unused)} initializer(s) nothing reads")
    return changes
