"""Run the benchmark: one row per model x mode x backend x precision x batch size x threads.

Model rows ("kind": "model") time one Nx3x48x320 input, the seed's definition, with every candidate loaded at once
and timed in interleaved rounds so drift on a noisy machine cancels in the ratios. End-to-end rows
("kind": "end_to_end", with --dataset) time predict(paths, batch_size) from image files to text and score it as
PaddleOCR's recognition metric does. Normal mode is Paddle Inference FP32 with MKL-DNN; high-performance rows are
every installed candidate, the one the selector picks marked "selected".
"""
from __future__ import annotations

import platform
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .._env import cpu_model, library_versions
from ..runtime.backends import get_backend_class
from ..runtime.config import HPIConfig
from ..runtime.device import Device, cpu_quota
from ..errors import ConfigError, HPIError
from ..runtime.model_dir import ModelDir, load_model_dir
from ..runtime.selector import load_backend
from ..runtime.tuning import tuning_candidates
from .metrics import accuracy, norm_edit_distance

SEED_SHAPE = (3, 48, 320)
THREAD_OPTION = {"paddle": "cpu_threads", "openvino": "cpu_num_threads", "onnxruntime": "cpu_num_threads"}


@dataclass
class Candidate:
    mode: str  # "normal" or "hpi"
    backend: str
    options: dict
    selected: bool = False


def model_size_mb(model_dir: ModelDir) -> float:
    files = [model_dir.paddle_params] if model_dir.paddle_program else [model_dir.onnx]
    return round(sum(f.stat().st_size for f in files if f) / 1e6, 2)


def candidates_for(model_dir: ModelDir, device: Device, threads: int, backends: Optional[Sequence[str]]):
    chosen = load_backend(model_dir, device, True, HPIConfig())
    picked = (chosen.name, chosen.config.get("precision"))
    chosen.close()
    found: List[Candidate] = []
    if model_dir.paddle_program is not None and device.kind == "cpu":
        found.append(Candidate("normal", "paddle", {"run_mode": "mkldnn"}))
    for c in tuning_candidates(model_dir, device):
        if backends and c.backend not in backends:
            continue
        found.append(Candidate("hpi", c.backend, dict(c.options)))
    for candidate in found:
        if candidate.backend in THREAD_OPTION and device.kind == "cpu":
            candidate.options[THREAD_OPTION[candidate.backend]] = threads
    for candidate in found:  # the selector's pick: same backend, same precision
        probe = get_backend_class(candidate.backend)(model_dir, device, candidate.options)
        if candidate.mode == "hpi" and (probe.name, probe.options.get("precision")) == picked:
            candidate.selected = True
            break
    return found


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


def time_model(model_dir: ModelDir, device: Device, candidates: List[Candidate], batch_size: int,
               seconds: float, rounds: int) -> List[dict]:
    """Interleaved timing of every candidate on one batch_size x 3x48x320 input."""
    batch = np.random.default_rng(0).uniform(-1, 1, (batch_size, *SEED_SHAPE)).astype(np.float32)
    loaded, rows = [], []
    for candidate in candidates:
        started = time.perf_counter()
        try:
            backend = get_backend_class(candidate.backend)(model_dir, device, candidate.options).load()
            backend.infer(batch)
        except HPIError as exc:
            rows.append({"error": str(exc).splitlines()[0], "candidate": candidate})
            continue
        loaded.append((candidate, backend, time.perf_counter() - started, []))
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
    for candidate, backend, load_s, samples in loaded:
        rows.append({"candidate": candidate, "precision": backend.config.get("precision"), "load_s": load_s,
                     "latency_ms": statistics.median(samples), "latency_p90_ms": float(np.percentile(samples, 90)),
                     "samples": len(samples)})
        backend.close()
    return rows


def time_end_to_end(model_dir: ModelDir, device: Device, candidate: Candidate, paths: List[str], labels: List[str],
                    batch_size: int) -> dict:
    from ..tasks.text_recognition import TextRecognition

    started = time.perf_counter()
    model = TextRecognition(model_dir=model_dir.path, device=str(device), use_hpip=candidate.mode == "hpi",
                            hpi_config={"backend": candidate.backend, "backend_config": candidate.options})
    model.predict(paths[:1], batch_size=1)
    load_s = time.perf_counter() - started
    start = time.perf_counter()
    texts = [r["rec_text"] for r in model.predict(paths, batch_size=batch_size)]
    elapsed = time.perf_counter() - start
    row = {"precision": model.config.get("precision"), "load_s": load_s, "latency_ms": elapsed * 1000 / len(paths),
           "lines_per_s": len(paths) / elapsed, "accuracy": accuracy(texts, labels),
           "norm_edit_dis": norm_edit_distance(texts, labels)}
    model.close()
    return row


def machine_info(device: Device) -> dict:
    versions = library_versions(("hpi-runtime", "openvino", "onnxruntime", "paddlepaddle", "numpy",
                                 "opencv-python-headless"))
    return {"cpu": cpu_model(), "machine": platform.machine(), "python": platform.python_version(),
            "device": str(device), "versions": versions}


class DatasetError(ConfigError):
    """A benchmark dataset that cannot be read; the message names the file and, for a bad line, its number."""


LABELS_FORMAT = '"relative/path<TAB>text"'


def read_dataset(dataset: Path) -> Tuple[List[str], List[str]]:
    """(image paths, texts) from DATASET/labels.txt, one `relative/path<TAB>text` a line; blank lines are skipped."""
    dataset = Path(dataset)
    if not dataset.is_dir():
        raise DatasetError(f"dataset {str(dataset)!r} is not a folder (expected one holding labels.txt, "
                           f"{LABELS_FORMAT} per line)")
    return read_labels_file(dataset / "labels.txt")


def read_labels_file(labels_file: Path) -> Tuple[List[str], List[str]]:
    """(image paths, texts) of a PaddleOCR labels file; paths are relative to the file's folder."""
    labels_file = Path(labels_file)
    dataset = labels_file.parent
    try:
        text = labels_file.read_text("utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{labels_file} does not exist (expected {LABELS_FORMAT} per line)") from None
    except UnicodeDecodeError as exc:
        line = labels_file.read_bytes().count(b"\n", 0, exc.start) + 1
        raise DatasetError(f"{labels_file} line {line}: not UTF-8 ({exc.reason})") from None
    except OSError as exc:
        raise DatasetError(f"{labels_file} cannot be read: {exc.strerror or exc}") from None
    paths, texts = [], []
    for number, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        relative, tab, label = line.partition("\t")
        if not tab or not relative.strip():
            raise DatasetError(f"{labels_file} line {number}: expected {LABELS_FORMAT}, got {line[:80]!r}")
        if not (dataset / relative).is_file():
            raise DatasetError(f"{labels_file} line {number}: image {relative!r} not found in {str(dataset)!r}")
        paths.append(str(dataset / relative))
        texts.append(label)
    if not paths:
        raise DatasetError(f"{labels_file} lists no images (expected {LABELS_FORMAT} per line)")
    return paths, texts


def model_name_of(model_dir: ModelDir) -> str:
    return model_dir.model_name or model_dir.path.name


def flops_of(model_dir: ModelDir) -> Optional[float]:
    if model_dir.onnx is None:
        return None
    from .flops import count_flops

    try:
        return count_flops(model_dir.onnx, (1, *SEED_SHAPE))["total"]
    except HPIError:
        return None  # onnx not installed: FLOPs need the 'paddle' or a plain `pip install onnx`


def run_races(model_dirs: List[ModelDir], device: Device, paths: List[str], labels: List[str],
              peers: Dict[str, str], batch_size: int, rounds: int, peak_gflops: Optional[float], rss_lines: int,
              bar: "Progress", extra_systems: Optional[Dict[str, dict]] = None) -> List[dict]:
    """One race per model: hpi's systems and the peers, interleaved, at the threads the process may use."""
    from .flops import matmul_peak_gflops
    from ..tasks.pipeline import profile_stages
    from .race import add_ratios, line_gflop, make_systems, race, reduced_precision_systems, \
        rss_over_lines

    races = []
    for model_dir in model_dirs:
        reduced, not_raced = reduced_precision_systems(model_dir, device)
        systems, skipped = make_systems(model_dir, str(device), peers, reduced=reduced, extra=extra_systems)
        skipped = not_raced + skipped
        names = [s.name for s in systems]
        try:
            reference = "paddlex" if "paddlex" in names else ("hpi normal mode" if "hpi normal mode" in names
                                                             else None)
            probe = (lambda: matmul_peak_gflops(cpu_quota(), seconds=0.5)) if device.kind == "cpu" else None
            rows, peak_in_race = race(systems, paths, labels, batch_size, rounds, reference, progress=bar.note,
                                      peak_probe=probe)
            peak = max((p for p in (peak_gflops, peak_in_race) if p), default=None)
            flops = flops_of(load_model_dir(model_dir.path))  # the ONNX file may be new (auto conversion)
            total = line_gflop(paths, flops / 1e9) if flops else None
            add_ratios(rows, reference, total, peak)
            hpi = systems[0]
            stages = profile_stages(hpi.model, paths, batch_size)
            rss = rss_over_lines(hpi.model, paths, rss_lines, batch_size) if rss_lines else None
        finally:
            for system in systems:
                system.close()
        races.append({"model": model_name_of(model_dir), "batch_size": batch_size, "rounds": rounds,
                      "threads": cpu_quota(), "reference": reference, "baseline": reference,
                      "gflop_total": total, "peak_gflops": peak, "systems": rows, "skipped": skipped, "hpi_config": hpi.runtime.config,
                      "stages_ms_per_line": stages, "rss": rss})
        bar.step(f"{model_name_of(model_dir)} race")
    return races


def benchmark(model_dirs: List[ModelDir], device: Device, threads_list: List[int], batch_sizes: List[int],
              dataset: Optional[Path] = None, backends: Optional[Sequence[str]] = None, seconds: float = 2.0,
              rounds: int = 3, progress: bool = True, peers: Optional[Dict[str, str]] = None,
              race_rounds: int = 3, race_batch_size: int = 8, rss_lines: int = 0,
              model_rows: bool = True, race_systems: Optional[Dict[str, dict]] = None) -> Dict:
    from .flops import matmul_peak_gflops

    paths, labels = read_dataset(dataset) if dataset else ([], [])
    plans = [(m, t, candidates_for(m, device, t, backends)) for m in model_dirs for t in threads_list] \
        if model_rows else []
    races = len(model_dirs) if dataset and race_rounds else 0
    total = sum(len(batch_sizes) * (1 + (len(c) if dataset else 0)) for _, _, c in plans) + len(threads_list) + races
    bar = Progress(total, progress)
    peaks = {}
    for threads in threads_list:
        peaks[threads] = round(matmul_peak_gflops(threads), 1) if device.kind == "cpu" else None
        bar.step(f"float32 matmul peak, {threads} threads")
    rows = []
    for model_dir, threads, candidates in plans:
        name, size, flops = model_name_of(model_dir), model_size_mb(model_dir), flops_of(model_dir)
        common = {"model": name, "device": str(device), "threads": threads, "model_size_mb": size,
                  "gflop_per_line_3x48x320": round(flops / 1e9, 3) if flops else None}
        for batch_size in batch_sizes:
            for result in time_model(model_dir, device, candidates, batch_size, seconds, rounds):
                candidate = result.pop("candidate")
                row = {**common, "kind": "model", "mode": candidate.mode, "backend": candidate.backend,
                       "selected": candidate.selected, "batch_size": batch_size, "accuracy": None,
                       "norm_edit_dis": None, **result}
                if "latency_ms" in result:
                    row["lines_per_s"] = batch_size * 1000 / result["latency_ms"]
                    if flops:
                        row["gflops"] = flops * batch_size / (result["latency_ms"] / 1000) / 1e9
                        row["pct_of_peak"] = 100 * row["gflops"] / peaks[threads] if peaks[threads] else None
                row["peak_rss_mb"] = peak_rss_mb()
                rows.append(row)
            bar.step(f"{name} model bs={batch_size} t={threads}")
            for candidate in candidates if dataset else []:
                try:
                    result = time_end_to_end(model_dir, device, candidate, paths, labels, batch_size)
                except HPIError as exc:
                    result = {"error": str(exc).splitlines()[0]}
                rows.append({**common, "kind": "end_to_end", "mode": candidate.mode, "backend": candidate.backend,
                             "selected": candidate.selected, "batch_size": batch_size, "lines": len(paths),
                             "latency_p90_ms": None, **result, "peak_rss_mb": peak_rss_mb()})
                bar.step(f"{name} {candidate.backend} e2e bs={batch_size}")
    race_results = []
    if races:
        if device.kind == "cpu" and cpu_quota() not in peaks:
            peaks[cpu_quota()] = round(matmul_peak_gflops(cpu_quota()), 1)
        race_results = run_races(model_dirs, device, paths, labels, dict(peers or {}), race_batch_size,
                                 race_rounds, peaks.get(cpu_quota()), rss_lines, bar, race_systems)
    return {"machine": machine_info(device), "peak_gflops": peaks, "dataset": str(dataset) if dataset else None,
            "rows": rows, "races": race_results}
