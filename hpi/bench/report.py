"""Write a benchmark's results.json, table.md (the seed's layout plus every candidate) and chart.png."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional

from .._fs import atomic_write

SEED_HEADER = ("| Model | Avg Accuracy (%) | GPU Inference Time (ms) [Normal / High-Performance] | "
               "CPU Inference Time (ms) [Normal / High-Performance] | Model Storage Size (MB) |")


def _fmt(value, digits=2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _pick(rows: List[dict], **match) -> Optional[dict]:
    return next((r for r in rows if all(r.get(k) == v for k, v in match.items()) and "error" not in r), None)


def seed_table(result: Dict) -> List[str]:
    """One line per model and thread count: batch-1 model latency, normal / selected high-performance."""
    lines = [SEED_HEADER, "|---|---|---|---|---|"]
    rows = result["rows"]
    for model, threads in dict.fromkeys((r["model"], r["threads"]) for r in rows):
        mine = [r for r in rows if r["model"] == model and r["threads"] == threads and r["batch_size"] == 1]
        normal = _pick(mine, kind="model", mode="normal")
        fast = _pick(mine, kind="model", selected=True)
        e2e = _pick(mine, kind="end_to_end", selected=True)
        device_is_gpu = mine[0]["device"].startswith("gpu")
        timing = f"{_fmt(normal and normal['latency_ms'])} / {_fmt(fast and fast['latency_ms'])}"
        gpu, cpu = (timing, "not measured") if device_is_gpu else ("not measured", timing)
        accuracy = _fmt(100 * e2e["accuracy"]) if e2e else "-"
        lines.append(f"| {model} ({threads} threads) | {accuracy} | {gpu} | {cpu} | {mine[0]['model_size_mb']} |")
    return lines


def detail_table(result: Dict) -> List[str]:
    lines = ["| model | threads | kind | mode | backend | precision | selected | batch | latency ms (median) | "
             "p90 ms | lines/s | GFLOP/s | % of peak | accuracy | 1-NED | load s | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"| {r['model']} | {r['threads']} | {r['kind']} | {r['mode']} | {r['backend']} | | | "
                         f"{r['batch_size']} | failed: {r['error']} | | | | | | | | |")
            continue
        lines.append(
            f"| {r['model']} | {r['threads']} | {r['kind']} | {r['mode']} | {r['backend']} | {r.get('precision')} | "
            f"{'yes' if r['selected'] else ''} | {r['batch_size']} | {_fmt(r['latency_ms'])} | "
            f"{_fmt(r.get('latency_p90_ms'))} | {_fmt(r.get('lines_per_s'), 1)} | {_fmt(r.get('gflops'), 1)} | "
            f"{_fmt(r.get('pct_of_peak'), 0)} | {_fmt(r['accuracy'] and 100 * r['accuracy'])} | "
            f"{_fmt(r['norm_edit_dis'], 4)} | {_fmt(r.get('load_s'))} | {_fmt(r.get('peak_rss_mb'), 0)} |")
    return lines


def markdown(result: Dict) -> str:
    machine = result["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    peaks = ", ".join(f"{t} threads: {p} GFLOP/s" for t, p in result["peak_gflops"].items() if p)
    parts = [f"Machine: {machine['cpu']} ({machine['machine']}), device {machine['device']}, Python "
             f"{machine['python']}; {versions}.", f"Measured float32 matmul peak: {peaks or 'n/a'}.", "",
             "Model inference time for one 1x3x48x320 input (batch size 1), median:", "", *seed_table(result), "",
             "Every candidate (model rows: one Nx3x48x320 input; end-to-end rows: image files to text, latency per "
             "line):", "", *detail_table(result), ""]
    return "\n".join(parts)


def chart(result: Dict, path: Path) -> None:
    """Horizontal bars: normal vs high-performance batch-1 latency per model (and thread count)."""
    from PIL import Image, ImageDraw

    from ..visualize import _font, font_path

    pairs = []
    for model, threads in dict.fromkeys((r["model"], r["threads"]) for r in result["rows"]):
        mine = [r for r in result["rows"] if r["model"] == model and r["threads"] == threads and r["batch_size"] == 1]
        normal, fast = _pick(mine, kind="model", mode="normal"), _pick(mine, kind="model", selected=True)
        pairs.append((f"{model} ({threads}t)", normal and normal["latency_ms"], fast and fast["latency_ms"],
                      fast and f"{fast['backend']} {fast.get('precision')}"))
    longest = max([v for _, n, f, _ in pairs for v in (n, f) if v] or [1.0])
    width, bar_h, left = 900, 22, 260
    image = Image.new("RGB", (width, 60 + len(pairs) * (2 * bar_h + 26)), "white")
    draw, font = ImageDraw.Draw(image), _font(font_path(), 15)
    draw.text((10, 10), "Model latency, 1x3x48x320 (ms, lower is better): normal (grey) vs high-performance (blue)",
              fill="black", font=font)
    y = 45
    for label, normal, fast, fast_name in pairs:
        draw.text((10, y + bar_h // 2), label, fill="black", font=font)
        for value, colour, name in ((normal, (150, 150, 150), "normal"), (fast, (40, 100, 200), fast_name)):
            if value is not None:
                length = int((width - left - 160) * value / longest)
                draw.rectangle([left, y, left + max(length, 1), y + bar_h - 4], fill=colour)
                draw.text((left + length + 6, y + 2), f"{value:.2f} ms {name}", fill="black", font=font)
            else:
                draw.text((left, y + 2), "not available (no Paddle model)", fill="grey", font=font)
            y += bar_h
        y += 26
    image.save(path)


def write_report(result: Dict, output: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    atomic_write(output / "results.json", json.dumps(result, indent=2, default=str).encode("utf-8"))
    atomic_write(output / "table.md", markdown(result).encode("utf-8"))
    chart(result, output / "chart.png")
