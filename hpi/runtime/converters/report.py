"""What `hpi convert` says of a conversion: its record (paddle_to_onnx.convert_to_onnx's) in a few lines."""
from __future__ import annotations

from pathlib import Path

from .paddle_to_onnx import record_path


def conversion_report(record: dict, target: Path) -> str:
    """The ONNX file `target`, converted or reused, how it was verified, its repairs, and where its record is."""
    check = record["verification"]
    state = "up to date, reused" if record["reused"] else f"converted in {record['total_s']:.1f} s"
    lines = [f"{target}: {state}",
             f"verified against Paddle Inference on inputs {check['shapes']}: max abs difference "
             f"{check['worst']:.3g} (tolerance {check['tolerance']:g}); opset {record['opset_version']}"]
    if record["onnx_repairs"] or record["pir_patches"]:
        lines.append(f"repairs: {len(record['onnx_repairs'])} Concat rank fix(es), PIR patches {record['pir_patches']}")
    lines.append(f"record: {record_path(target)}")
    return "\n".join(lines)
