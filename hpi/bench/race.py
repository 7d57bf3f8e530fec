"""End-to-end race: hpi and its peers on the same image files, side by side in one run.

Every system (hpi's default, hpi's bf16 opt-in, hpi's normal mode, and peers such as PaddleX and RapidOCR that run
in their own Python environments, see peer_worker.py) is loaded once, then timed in interleaved rounds over the
whole dataset, `predict(paths, batch_size)` from image files to text, so drift on a noisy machine hits them all
alike. The first round is every width new to the runtime (as on fresh data); later rounds have seen them. Then a
batch-1 pass times one call per line (latency). Text is scored against the labels (PaddleOCR's metric) and
against a reference (PaddleX's batch-1 text, or hpi's normal mode, which reproduces it exactly).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import HPIError
from ..tasks.text_recognition.metrics import accuracy, norm_edit_distance
from .rows import ModelRace, RssTrace, Skipped, SystemRow
from .spec import RaceSpec

PEER_WORKER = Path(__file__).with_name("peer_worker.py")
PEER_SYSTEMS = ("paddlex", "rapidocr_openvino", "rapidocr_onnxruntime", "rapidocr3_openvino",
                "rapidocr3_onnxruntime")
# RapidOCR 1.x runs its own bundled model, the upstream ONNX export of this one; it stands in only for this model.
# RapidOCR 3.x (rapidocr3_*) runs the model dir's own inference.onnx, the very file hpi runs.
RAPIDOCR_MODEL = "PP-OCRv4_mobile_rec"
LATENCY_CHUNK = 10  # lines each system times in turn in the batch-1 pass


class HpiSystem:
    """hpi in this process: TextRecognition(model_dir, use_hpip, hpi_config).predict(paths, batch_size)."""

    def __init__(self, name: str, model_dir: Path, device: str, use_hpip: bool, hpi_config: Optional[dict]):
        from ..tasks.text_recognition import TextRecognition

        self.name = name
        self.model = TextRecognition(model_dir=model_dir, device=device, use_hpip=use_hpip, hpi_config=hpi_config)
        self.version = f"hpi {self.model.backend} {self.model.config.get('precision', '')}".strip()
        self.config = self.model.config

    def run(self, paths: Sequence[str], batch_size: int) -> Tuple[List[str], float]:
        start = time.perf_counter()
        texts = [r["rec_text"] for r in self.model.predict(list(paths), batch_size=batch_size)]
        return texts, time.perf_counter() - start

    def latency(self, paths: Sequence[str]) -> Tuple[List[str], List[float]]:
        texts, ms = [], []
        for path in paths:
            start = time.perf_counter()
            texts.append(self.model.predict(path, batch_size=1)[0]["rec_text"])
            ms.append((time.perf_counter() - start) * 1000)
        return texts, ms

    def close(self) -> None:
        self.model.close()


class PeerSystem:
    """A peer in its own interpreter, driven over a pipe (see peer_worker.py); it times its own calls."""

    def __init__(self, name: str, python: str, model_dir: Optional[Path] = None, model_name: Optional[str] = None,
                 timeout_s: float = 600, models: Optional[dict] = None):
        self.name = name
        command = [python, str(PEER_WORKER), "--system", name]
        if model_dir is not None:
            command += ["--model_dir", str(model_dir), "--model_name", model_name]
        if models is not None:  # an OCR pipeline's model dirs and files
            command += ["--models", json.dumps(models)]
        try:
            self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=subprocess.DEVNULL, text=True, encoding="utf-8")
        except OSError as exc:
            raise HPIError(f"peer {name!r}: cannot start {python!r}: {exc}") from exc
        ready = self._read()
        self.version = ready.get("version", name)
        self.config = {"python": python}

    def _read(self) -> dict:
        line = self._process.stdout.readline()
        if not line:
            raise HPIError(f"peer {self.name!r} exited (code {self._process.poll()}) without answering")
        reply = json.loads(line)
        if "error" in reply:
            raise HPIError(f"peer {self.name!r}: {reply['error']}")
        return reply

    def ask(self, **command) -> dict:
        self._process.stdin.write(json.dumps(command, ensure_ascii=False) + "\n")
        self._process.stdin.flush()
        return self._read()

    def run(self, paths: Sequence[str], batch_size: int) -> Tuple[List[str], float]:
        reply = self.ask(op="run", paths=list(paths), batch_size=batch_size)
        return reply["texts"], reply["seconds"]

    def latency(self, paths: Sequence[str]) -> Tuple[List[str], List[float]]:
        reply = self.ask(op="latency", paths=list(paths))
        return reply["texts"], reply["ms"]

    def close(self) -> None:
        if self._process.poll() is None:
            try:
                self._process.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self._process.stdin.close()
                self._process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self._process.kill()


@dataclass
class Timings:
    """What one system's race recorded, before it is summarized into a SystemRow."""

    system: str
    version: str
    batch_size: int
    rounds_s: List[float] = field(default_factory=list)
    texts: List[str] = field(default_factory=list)
    latency_texts: List[str] = field(default_factory=list)
    latency_ms: List[float] = field(default_factory=list)


def line_gflop(paths: Sequence[str], gflop_at_320: float, rec_image_shape=(3, 48, 320)) -> float:
    """The model's work over `paths` at batch size 1 (no padding beyond PaddleX's own): linear in width."""
    import cv2

    from ..tasks.text_recognition.preprocess import target_width

    total = 0.0
    for path in paths:
        image = cv2.imread(path)
        if image is None:
            raise HPIError(f"dataset image {path!r} could not be read")
        total += gflop_at_320 * target_width(*image.shape[:2], rec_image_shape) / rec_image_shape[2]
    return total


def race(systems: Sequence, paths: Sequence[str], labels: Sequence[str], batch_size: int, rounds: int,
         reference: Optional[str], progress=None, peak_probe=None) -> Tuple[List[SystemRow], Optional[float]]:
    """Interleaved rounds of predict(paths, batch_size) per system, then a batch-1 latency pass each.

    `peak_probe()` (GFLOP/s of a float32 matmul) runs in every round too: this machine's speed drifts, so the
    peak the systems are compared with is the best seen during the same run. Returns (rows, that peak)."""
    rows = {s.name: Timings(s.name, s.version, batch_size) for s in systems}
    peaks = []
    for round_index in range(rounds):
        if peak_probe:
            peaks.append(peak_probe())
        for system in systems:
            texts, seconds = system.run(paths, batch_size)
            rows[system.name].rounds_s.append(seconds)
            if round_index == 0:
                rows[system.name].texts = texts
            if progress:
                progress(f"{system.name} round {round_index + 1}/{rounds}")
    for start in range(0, len(paths), LATENCY_CHUNK):  # interleaved too, a few lines at a time
        for system in systems:
            texts, ms = system.latency(paths[start:start + LATENCY_CHUNK])
            rows[system.name].latency_texts += texts
            rows[system.name].latency_ms += ms
        if progress:
            progress(f"batch-1 latency, line {min(start + LATENCY_CHUNK, len(paths))}/{len(paths)}")
    reference_texts = rows[reference].latency_texts if reference in rows else None
    return [summarize(row, labels, reference, reference_texts) for row in rows.values()], max(peaks, default=None)


def summarize(row: Timings, labels: Sequence[str], reference: Optional[str],
              reference_texts: Optional[List[str]]) -> SystemRow:
    lines = len(row.texts)
    steady = row.rounds_s[1:] or row.rounds_s
    same = None if reference_texts is None else \
        sum(a == b for a, b in zip(row.texts, reference_texts)) / lines
    return SystemRow(system=row.system, version=row.version, batch_size=row.batch_size, items=lines,
                     items_per_s_first=lines / row.rounds_s[0], items_per_s=lines / statistics.median(steady),
                     rounds_s=[round(s, 3) for s in row.rounds_s],
                     latency_ms_median=statistics.median(row.latency_ms),
                     latency_ms_p90=float(np.percentile(row.latency_ms, 90)),
                     accuracy=accuracy(row.texts, labels), norm_edit_dis=norm_edit_distance(row.texts, labels),
                     accuracy_batch1=accuracy(row.latency_texts, labels), reference=reference,
                     same_text_as_reference=same)


def add_ratios(rows: List[SystemRow], baseline: Optional[str], total_gflop: Optional[float],
               peak_gflops: Optional[float]) -> None:
    """Throughput and latency relative to `baseline`, and achieved GFLOP/s against the measured peak."""
    base = next((r for r in rows if r.system == baseline), None)
    for row in rows:
        if base is not None:
            row.speedup_vs_baseline = row.items_per_s / base.items_per_s
            row.speedup_first_vs_baseline = row.items_per_s_first / base.items_per_s_first
            row.latency_vs_baseline = row.latency_ms_median / base.latency_ms_median
            row.baseline = baseline
        if total_gflop:
            row.gflops = total_gflop * row.items_per_s / row.items
            row.pct_of_peak = 100 * row.gflops / peak_gflops if peak_gflops else None


def reduced_precision_systems(model_dir, device) -> Tuple[Dict[str, dict], List[Skipped]]:
    """({name: hpi_config} of the reduced-precision modes this hardware runs natively, with INT8 only where a gated
    model exists), [skipped, with the reason]): e.g. "hpi openvino int8"."""
    from ..runtime.tuning import reduced_candidates

    systems, skipped = {}, []
    for candidate, reason in reduced_candidates(model_dir, device):
        precision = candidate.options.get("precision") or candidate.options.get("run_mode")
        name = f"hpi {candidate.backend} {precision}"
        if candidate.backend == "paddle":
            continue  # Paddle's bf16 lost 9 points of agreement when measured: not raced
        if reason is None:
            systems[name] = {"backend": candidate.backend, "backend_config": dict(candidate.options)}
        else:
            skipped.append(Skipped(name, reason.splitlines()[0]))
    return systems, skipped


def make_systems(model_dir, device: str, peers: Dict[str, str], reduced: Optional[Dict[str, dict]] = None,
                 extra: Optional[Dict[str, dict]] = None) -> Tuple[list, List[Skipped]]:
    """hpi's default, its normal mode (Paddle models), its `reduced` precision modes ({name: hpi_config}), `extra`
    hpi configurations ({name: hpi_config}), then each peer that fits."""
    wanted = [("hpi", lambda: HpiSystem("hpi", model_dir.path, device, True, None))]
    if model_dir.paddle_program is not None:
        wanted.append(("hpi normal mode", lambda: HpiSystem("hpi normal mode", model_dir.path, device, False, None)))
    for name, config in {**(reduced or {}), **(extra or {})}.items():
        wanted.append((name, lambda name=name, config=config: HpiSystem(name, model_dir.path, device, True, config)))
    skipped = []
    for name, python in peers.items():
        if name == "paddlex" and model_dir.paddle_program is None:
            skipped.append(Skipped(name, "PaddleX needs the Paddle model; this model dir has only ONNX"))
            continue
        if name.startswith("rapidocr3_"):
            if model_dir.onnx is None:
                skipped.append(Skipped(name, "RapidOCR 3.x runs the model's inference.onnx; this model dir has none"))
                continue
        elif name.startswith("rapidocr") and model_dir.model_name != RAPIDOCR_MODEL:
            skipped.append(Skipped(name, f"RapidOCR bundles only {RAPIDOCR_MODEL}"))
            continue
        wanted.append((name, lambda name=name, python=python: PeerSystem(
            name, python, model_dir.path, model_dir.model_name or RAPIDOCR_MODEL)))
    systems = []
    for name, make in wanted:
        try:
            systems.append(make())
        except HPIError as exc:
            skipped.append(Skipped(name, str(exc).splitlines()[0]))
    return systems, skipped


def rss_over_lines(model, paths: Sequence[str], total_lines: int, batch_size: int, every: int = 1000) -> RssTrace:
    """Resident memory while predict_iter streams `total_lines` lines (the dataset repeated): flat or growing."""
    def rss_mb() -> float:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    every = max(1, min(every, total_lines // 10))
    stream = (paths[i % len(paths)] for i in range(total_lines))
    samples = []
    for done, _ in enumerate(model.predict_iter(list(stream), batch_size=batch_size), 1):
        if done % every == 0:
            samples.append((done, round(rss_mb(), 1)))
    first = samples[0][1] if samples else None
    return RssTrace(items=total_lines, samples=samples, rss_mb_first=first,
                    rss_mb_last=samples[-1][1] if samples else None,
                    growth_mb_after_first=round(samples[-1][1] - first, 1) if samples else None)


def race_model(model_dir, name: str, device, paths: List[str], labels: List[str], spec: RaceSpec,
               peak_gflops: Optional[float], progress: Callable[[str], None]) -> ModelRace:
    """One model's race: hpi's systems and the peers, interleaved, at the threads the
    process may use; then hpi's time per line by stage and, with `spec.rss_lines`, its memory over that many."""
    from ..runtime.device import cpu_quota
    from ..runtime.model_dir import load_model_dir
    from .flops import matmul_peak_gflops, seed_flops
    from .stages import profile_stages

    reduced, not_raced = reduced_precision_systems(model_dir, device)
    systems, skipped = make_systems(model_dir, str(device), spec.peers, reduced=reduced, extra=spec.extra_systems)
    names = [s.name for s in systems]
    baseline = next((n for n in ("paddlex", "hpi normal mode") if n in names), None)
    probe = (lambda: matmul_peak_gflops(cpu_quota(), seconds=0.5)) if device.kind == "cpu" else None
    try:
        rows, peak_in_race = race(systems, paths, labels, spec.batch_size, spec.rounds, baseline,
                                  progress=progress, peak_probe=probe)
        peak = max((p for p in (peak_gflops, peak_in_race) if p), default=None)
        flops = seed_flops(load_model_dir(model_dir.path))  # the ONNX file may be new (auto conversion)
        total = line_gflop(paths, flops / 1e9) if flops else None
        add_ratios(rows, baseline, total, peak)
        hpi = systems[0]
        stages = profile_stages(hpi.model, paths, spec.batch_size)
        rss = rss_over_lines(hpi.model, paths, spec.rss_lines, spec.batch_size) if spec.rss_lines else None
    finally:
        for system in systems:
            system.close()
    return ModelRace(model=name, batch_size=spec.batch_size, rounds=spec.rounds, threads=cpu_quota(),
                     baseline=baseline, gflop_total=total, peak_gflops=peak, systems=rows,
                     skipped=not_raced + skipped, hpi_config=hpi.config, stages_ms=stages, rss=rss)
