"""The Paddle side of conversion: legacy programs to PIR json, and a repair of PIR json for paddle2onnx.

Runs inside the conversion worker (it imports paddle). `patch_pir_json` is plain JSON work, testable alone.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import List

# paddle2onnx 2.1.0 reads these float-array attributes only as float32 elements; Paddle's program translator
# writes them as float64 (e.g. nearest_interp scale [2.0, 2.0] in DBNet), and paddle2onnx then fails with
# "the 0th elementwise MUST be ir::FloatAttribute".
FLOAT32_ARRAY_ATTRIBUTES = {("interp", "scale")}


def patch_pir_json(path: Path) -> List[str]:
    """Rewrite float64 elements of float-array attributes paddle2onnx reads as float32; return what changed."""
    program = json.loads(path.read_text(encoding="utf-8"))
    changes: List[str] = []

    def visit(node):
        if isinstance(node, dict):
            op_name = node.get("#", "")
            if isinstance(op_name, str) and isinstance(node.get("A"), list):
                for attribute in node["A"]:
                    if isinstance(attribute, dict) and _wants_float32_array(op_name, attribute.get("N", "")):
                        value = attribute.get("AT", {})
                        for element in value.get("D", []) if value.get("#") == "0.a_array" else []:
                            if isinstance(element, dict) and element.get("#") == "0.a_f64":
                                element["#"] = "0.a_f32"
                                changes.append(f"{op_name}.{attribute['N']}: float64 -> float32")
            for child in node.values():
                visit(child)
        elif isinstance(node, list):
            for child in node:
                visit(child)

    visit(program)
    if changes:
        path.write_text(json.dumps(program), encoding="utf-8")
    return changes


def _wants_float32_array(op_name: str, attribute: str) -> bool:
    return any(op_part in op_name and attribute == name for op_part, name in FLOAT32_ARRAY_ATTRIBUTES)


def legacy_to_pir(program_file: Path, params_file: Path, out_prefix: Path) -> Path:
    """Translate an `inference.pdmodel` program to PIR (`<out_prefix>.json` + `.pdiparams`) with Paddle."""
    import paddle

    executor = paddle.static.Executor(paddle.CPUPlace())
    with paddle.pir_utils.OldIrGuard():
        # the prefix names both files: <prefix>.pdmodel and <prefix>.pdiparams
        program, _, _ = paddle.static.load_inference_model(str(program_file.with_suffix("")), executor)
    pir_program = paddle.pir.translate_to_pir(program.desc)
    feeds, fetches = [], []
    for op in pir_program.global_block().ops:
        if op.name() == "pd_op.feed":
            feeds.extend(op.results())
        elif op.name() in ("pd_op.fetch", "builtin.shadow_output"):
            fetches.extend(op.operands_source())
    with paddle.pir_utils.IrGuard():
        paddle.static.save_inference_model(str(out_prefix), feeds, fetches, executor, program=pir_program)
    return out_prefix.with_suffix(".json")
