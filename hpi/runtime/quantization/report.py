"""What `hpi quantize` says of an INT8 model: its record (quantize_model's) as a markdown table and how to run it."""
from __future__ import annotations

from pathlib import Path


def quantization_report(record: dict, target: Path, backend: str) -> str:
    """FP32 against INT8 (accuracy or agreement, 1-NED, layers left in float, speed), the gate, and the hpi_config
    that runs `target`, the INT8 model made for `backend`."""
    fp32, int8, timing = record["fp32"], record["int8"], record["timing"]
    metric = "accuracy" if record["data"]["labelled"] else "agreement"
    lines = [f"{target}: up to date (same FP32 model, data and settings), reused"] if record["reused"] else []
    lines += [f"| model | {metric} % | 1-NED % | agreement with FP32 % | float layers | ms/line (model only) |",
              "|---|---|---|---|---|---|",
              f"| FP32 | {fp32[metric]} | {fp32['norm_edit'] or '-'} | 100 | all | {timing['fp32_ms']} |",
              f"| INT8 | {int8[metric]} | {int8['norm_edit'] or '-'} | {int8['agreement']} | "
              f"{len(record['float_layers'])} of {record['layers']} | {timing['int8_ms']} ({timing['speedup']}x) |",
              f"gate: {record['gate']['rule']}: holds",
              f"written: {target} (record {target.name}.hpi.json); run it with hpi_config "
              f"{{'backend': '{backend}', 'backend_config': {{'precision': 'int8'}}}}" +
              (" (or backend 'tensorrt' on a GPU)" if backend == "onnxruntime" else "")]
    return "\n".join(lines)
