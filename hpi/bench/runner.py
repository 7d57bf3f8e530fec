"""Measure: one CandidateRow per model x mode x backend x precision x batch size x threads, then the races.

Model rows (kind "model") time one Nx3x48x320 input, the seed's definition, with every candidate loaded at once
and timed in interleaved rounds so drift on a noisy machine cancels in the ratios. End-to-end rows (kind
"end_to_end", with a dataset) time predict(paths, batch_size) from image files to text and score it as PaddleOCR's
recognition metric does. Normal mode is Paddle Inference FP32 with MKL-DNN; high-performance rows are every
installed candidate, the one the selector picks marked "selected". What is measured comes back as typed rows
(rows.py); report.py writes them out.
"""
from __future__ import annotations

import platform
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from .._env import cpu_model, library_versions
from ..errors import HPIError
from ..runtime.backends import BACKENDS, NORMAL_MODE_BACKEND, get_backend_class
from ..runtime.candidates import Candidate
from ..runtime.config import HPIConfig
from ..runtime.device import Device, cpu_class, cpu_quota
from ..runtime.model_dir import ModelDir
from ..runtime.selector import load_backend
from ..runtime.tuning import tuning_candidates
from ..tasks.text_recognition.labels import read_dataset
from .flops import SEED_SHAPE, seed_flops
from ..tasks.text_recognition.metrics import accuracy, norm_edit_distance
from .rows import BenchmarkResult, CandidateRow, MachineInfo
from .spec import BenchmarkSpec

THREADS = "cpu_num_threads"  # the CPU thread count, as PaddleX spells it (every CPU backend takes it)


@dataclass
class Contender:
    """A runtime candidate timed in a mode ("normal" or "hpi"); `selected`: the one the selector would load."""

    mode: str
    candidate: Candidate
    selected: bool = False

    @property
    def backend(self) -> str:
        return self.candidate.backend

    @property
    def options(self) -> dict:
        return self.candidate.options


def takes_threads(backend: str) -> bool:
    return THREADS in get_backend_class(backend).option_checks


def model_name_of(model_dir: ModelDir) -> str:
    return model_dir.model_name or model_dir.path.name


def model_size_mb(model_dir: ModelDir) -> float:
    files = [model_dir.paddle_params] if model_dir.paddle_program else [model_dir.onnx]
    return round(sum(f.stat().st_size for f in files if f) / 1e6, 2)


def contenders(model_dir: ModelDir, device: Device, threads: int,
               backends: Optional[List[str]]) -> List[Contender]:
    """Normal mode (Paddle models, CPU), then every high-performance candidate here, at `threads` on a CPU."""
    chosen = load_backend(model_dir, device, True, HPIConfig())
    picked = (chosen.name, chosen.config.get("precision"))
    chosen.close()
    found = [("normal", Candidate(NORMAL_MODE_BACKEND, {"run_mode": "mkldnn"}))] \
        if model_dir.paddle_program is not None and device.kind == "cpu" else []
    found += [("hpi", c) for c in tuning_candidates(model_dir, device) if not backends or c.backend in backends]
    result = []
    for mode, candidate in found:
        options = dict(candidate.options)
        if device.kind == "cpu" and takes_threads(candidate.backend):
            options[THREADS] = threads
        result.append(Contender(mode, Candidate(candidate.backend, options)))
    for contender in result:  # the selector's pick: same backend, same precision
        probe = get_backend_class(contender.backend)(model_dir, device, contender.options)
        if contender.mode == "hpi" and (probe.name, probe.options.get("precision")) == picked:
            contender.selected = True
            break
    return result


class Progress:
    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.enabled = max(total, 1), 0, enabled

    def note(self, label: str) -> None:
        """Show what is running now without advancing the bar."""
        if self.enabled:
            filled = int(30 * self.done / self.total)
            sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} {label[:50]:<50}")
            sys.stderr.flush()

    def step(self, label: str) -> None:
        self.done += 1
        self.note(label)
        if self.enabled and self.done >= self.total:
            sys.stderr.write("\n")


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # Linux reports KiB


def time_model(model_dir: ModelDir, device: Device, contenders: List[Contender], batch_size: int,
               seconds: float, rounds: int) -> List[tuple]:
    """Interleaved timing of every contender on one batch_size x 3x48x320 input: (contender, measured fields)."""
    batch = np.random.default_rng(0).uniform(-1, 1, (batch_size, *SEED_SHAPE)).astype(np.float32)
    loaded, results = [], []
    for contender in contenders:
        started = time.perf_counter()
        try:
            backend = get_backend_class(contender.backend)(model_dir, device, contender.options).load()
            backend.infer(batch)
        except HPIError as exc:
            results.append((contender, {"error": str(exc).splitlines()[0]}))
            continue
        loaded.append((contender, backend, time.perf_counter() - started, []))
    for _ in range(2):  # warm-up
        for _, backend, _, _ in loaded:
            backend.infer(batch)
    for _ in range(rounds):
        for _, backend, _, samples in loaded:
            deadline = time.perf_counter() + seconds / rounds
            while True:
                start = time.perf_counter()
                backend.infer(batch)
                samples.append((time.perf_counter() - start) * 1000)
                if time.perf_counter() >= deadline:
                    break
    for contender, backend, load_s, samples in loaded:
        results.append((contender, {"precision": backend.config.get("precision"), "load_s": load_s,
                                    "latency_ms": statistics.median(samples),
                                    "latency_p90_ms": float(np.percentile(samples, 90)), "samples": len(samples)}))
        backend.close()
    return results


def time_end_to_end(model_dir: ModelDir, device: Device, contender: Contender, paths: List[str],
                    labels: List[str], batch_size: int) -> dict:
    """predict(paths, batch_size) once, after a load and a one-line warm-up: the measured fields."""
    from ..tasks.text_recognition import TextRecognition

    started = time.perf_counter()
    model = TextRecognition(model_dir=model_dir.path, device=str(device), use_hpip=contender.mode == "hpi",
                            hpi_config={"backend": contender.backend, "backend_config": contender.options})
    try:
        model.predict(paths[:1], batch_size=1)
        load_s = time.perf_counter() - started
        start = time.perf_counter()
        texts = [r["rec_text"] for r in model.predict(paths, batch_size=batch_size)]
        elapsed = time.perf_counter() - start
        return {"precision": model.config.get("precision"), "load_s": load_s,
                "latency_ms": elapsed * 1000 / len(paths), "lines_per_s": len(paths) / elapsed,
                "accuracy": accuracy(texts, labels), "norm_edit_dis": norm_edit_distance(texts, labels)}
    finally:
        model.close()


def machine_info(device: Device) -> MachineInfo:
    backends = [dist for backend in BACKENDS.values() for dist in backend.distributions]
    versions = library_versions(("hpi-runtime", *backends, "numpy", "opencv-python-headless"))
    here = cpu_class()
    return MachineInfo(cpu=cpu_model(), machine=platform.machine(), python=platform.python_version(),
                       device=str(device), versions=versions, cpu_class=here.name, cpu_flags=list(here.flags))


def model_rows(spec: BenchmarkSpec, model_dir: ModelDir, threads: int, plan: List[Contender],
               peak: Optional[float], paths: List[str], labels: List[str], bar: Progress) -> List[CandidateRow]:
    """Every contender of one model at `threads`: model rows per batch size, then end-to-end rows on the dataset."""
    flops, name, size = seed_flops(model_dir), model_name_of(model_dir), model_size_mb(model_dir)

    def row(contender: Contender, kind: str, batch_size: int, **measured) -> CandidateRow:
        return CandidateRow(model=name, device=str(spec.device), threads=threads, model_size_mb=size,
                            gflop_per_line_3x48x320=round(flops / 1e9, 3) if flops else None, kind=kind,
                            mode=contender.mode, backend=contender.backend, selected=contender.selected,
                            batch_size=batch_size, peak_rss_mb=peak_rss_mb(), **measured)

    rows = []
    for batch_size in spec.batch_sizes:
        for contender, measured in time_model(model_dir, spec.device, plan, batch_size, spec.seconds, spec.rounds):
            if "latency_ms" in measured:
                measured["lines_per_s"] = batch_size * 1000 / measured["latency_ms"]
                if flops:
                    measured["gflops"] = flops * batch_size / (measured["latency_ms"] / 1000) / 1e9
                    measured["pct_of_peak"] = 100 * measured["gflops"] / peak if peak else None
            rows.append(row(contender, "model", batch_size, **measured))
        bar.step(f"{name} model bs={batch_size} t={threads}")
        for contender in plan if spec.dataset else []:
            try:
                measured = time_end_to_end(model_dir, spec.device, contender, paths, labels, batch_size)
            except HPIError as exc:
                measured = {"error": str(exc).splitlines()[0]}
            rows.append(row(contender, "end_to_end", batch_size, lines=len(paths), **measured))
            bar.step(f"{name} {contender.backend} e2e bs={batch_size}")
    return rows


def benchmark(spec: BenchmarkSpec) -> BenchmarkResult:
    from .flops import matmul_peak_gflops
    from .race import race_model

    paths, labels = read_dataset(spec.dataset) if spec.dataset else ([], [])
    plans = [(m, t, contenders(m, spec.device, t, spec.backends)) for m in spec.model_dirs for t in spec.threads] \
        if spec.model_rows else []
    races = len(spec.model_dirs) if spec.runs_races else 0
    total = sum(len(spec.batch_sizes) * (1 + (len(p) if spec.dataset else 0)) for _, _, p in plans) \
        + len(spec.threads) + races
    bar = Progress(total, spec.progress)
    on_cpu = spec.device.kind == "cpu"
    peaks: Dict[int, Optional[float]] = {}
    for threads in spec.threads:
        peaks[threads] = round(matmul_peak_gflops(threads), 1) if on_cpu else None
        bar.step(f"float32 matmul peak, {threads} threads")
    result = BenchmarkResult(machine_info(spec.device), peaks, str(spec.dataset) if spec.dataset else None)
    for model_dir, threads, plan in plans:
        result.rows += model_rows(spec, model_dir, threads, plan, peaks[threads], paths, labels, bar)
    if races:
        if on_cpu and cpu_quota() not in peaks:
            peaks[cpu_quota()] = round(matmul_peak_gflops(cpu_quota()), 1)
        for model_dir in spec.model_dirs:
            result.races.append(race_model(model_dir, model_name_of(model_dir), spec.device, paths, labels,
                                           spec.race, peaks.get(cpu_quota()), bar.note))
            bar.step(f"{model_name_of(model_dir)} race")
    return result
