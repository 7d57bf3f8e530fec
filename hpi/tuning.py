"""Measured auto-tuning: time every installed backend/precision candidate on this machine and keep the fastest
whose text matches the FP32 reference, cached per model, hardware and library versions.

`hpi_config={"auto_config": "tune"}` and `hpi tune --model_dir D` use it. The lines are rendered text lines
(hpi.textlines, bundled font), preprocessed exactly as predict() does, so widths are those of real lines.

The score is the first pass over those lines, each width new to the runtime, run as predict() runs a window
(the lines spread over the backend's streams): that is what predict() meets on real data, whose widths rarely
repeat. It matters: OpenVINO's CPU plugin prepares each new input shape once (measured here: about 30 ms extra
per new width for PP-OCRv4_mobile_rec), so a warm loop over repeated widths would favour it. The warm figure
is reported beside it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import List, Optional

import numpy as np

from ._deps import is_installed
from ._env import cpu_model, library_versions
from ._fs import atomic_write, sha256_files
from .backends import get_backend_class
from .device import Device, cpu_quota, require_device
from .errors import HPIError
from .model_dir import ModelDir

logger = logging.getLogger(__name__)

MIN_AGREEMENT = 0.995
TUNE_LINES = 64
TUNE_VERSION = 2  # bump when the measurement changes: cached winners are redone


@dataclass
class CandidateTiming:
    backend: str
    options: dict
    effective: dict = field(default_factory=dict)
    ms_per_line: Optional[float] = None  # first pass, every width new to the runtime (the score)
    warm_ms_per_line: Optional[float] = None  # the same lines again, widths already seen
    agreement: Optional[float] = None
    error: Optional[str] = None

    @property
    def kept(self) -> bool:
        return self.error is None and self.agreement is not None and self.agreement >= MIN_AGREEMENT


@dataclass
class TuneResult:
    key: str
    winner: Optional[CandidateTiming]
    candidates: List[CandidateTiming] = field(default_factory=list)
    machine: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"key": self.key, "winner": asdict(self.winner) if self.winner else None,
                "candidates": [asdict(c) for c in self.candidates], "machine": self.machine,
                "min_agreement": MIN_AGREEMENT}


def cache_dir() -> Path:
    return Path(os.environ.get("HPI_CACHE_HOME") or Path.home() / ".cache" / "hpi") / "tuning"


def machine_facts(device: Device) -> dict:
    versions = library_versions(("openvino", "onnxruntime", "onnxruntime-gpu", "paddlepaddle", "paddlepaddle-gpu",
                                 "tensorrt"))
    return {"cpu": cpu_model(), "cpus": cpu_quota(), "machine": platform.machine(), "device": str(device),
            "versions": versions, "tune_version": TUNE_VERSION}


def tune_key(model_dir: ModelDir, device: Device) -> str:
    model_hash = sha256_files(*[p for p in (model_dir.onnx, model_dir.paddle_params) if p is not None])
    facts = json.dumps(machine_facts(device), sort_keys=True)
    return hashlib.sha256(f"{model_hash}{facts}".encode()).hexdigest()[:24]


def load_cached(model_dir: ModelDir, device: Device) -> Optional[dict]:
    path = cache_dir() / f"{tune_key(model_dir, device)}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def tuning_candidates(model_dir: ModelDir, device: Device):
    """Every backend x precision worth timing here; the first is the FP32 reference."""
    from .selector import Candidate, default_candidates

    base = default_candidates(model_dir.model_name, device)
    extra = [Candidate("openvino", {"precision": "bf16"}), Candidate("paddle", {"run_mode": "mkldnn_bf16"})] \
        if device.kind == "cpu" else [Candidate("tensorrt", {"precision": "fp16"}),
                                      Candidate("paddle", {"run_mode": "trt_fp16"})]
    usable = []
    for candidate in base + extra:
        backend_class = get_backend_class(candidate.backend)
        if device.kind in backend_class.device_kinds and is_installed(backend_class.framework) \
                and backend_class.model_format in model_dir.formats:
            usable.append(candidate)
    return usable


def tune(model_dir: ModelDir, device: Device, lines: int = TUNE_LINES, rounds: int = 3) -> TuneResult:
    from .tasks.text_recognition.postprocess import CTCDecoder
    from .tasks.text_recognition.preprocess import rec_image_shape_from_config, resize_norm
    from .textlines import render_lines

    require_device(device)  # timing the CPU for a GPU asked for would cache a winner for a device not used
    shape = rec_image_shape_from_config(model_dir.config)
    inputs = [resize_norm(image, shape)[None] for image, _ in render_lines(lines, seed=0)]
    warmup = np.zeros((1, *shape), np.float32)
    decoder = CTCDecoder(model_dir.section("PostProcess", "character_dict") or list("0123456789abcdefghijklmnopqrstuvwxyz"))
    timings, reference = [], None
    for candidate in tuning_candidates(model_dir, device):
        timing = CandidateTiming(candidate.backend, dict(candidate.options))
        try:
            with get_backend_class(candidate.backend)(model_dir, device, candidate.options) as backend:
                backend.infer(warmup)  # one-time setup, not counted
                start = time.perf_counter()
                outputs = backend.infer_many(inputs)  # as predict runs a window: lines spread over the streams
                timing.ms_per_line = round((time.perf_counter() - start) * 1000 / len(inputs), 3)
                texts = [decoder(output)[0][0] for output in outputs]
                per_round = []
                for _ in range(rounds):
                    start = time.perf_counter()
                    backend.infer_many(inputs)
                    per_round.append((time.perf_counter() - start) * 1000 / len(inputs))
                timing.effective = {k: v for k, v in backend.config.items() if k not in ("backend", "device")}
            timing.warm_ms_per_line = round(statistics.median(per_round), 3)
            reference = reference or texts
            timing.agreement = sum(a == b for a, b in zip(texts, reference)) / len(texts)
        except (HPIError, RuntimeError, OSError) as exc:
            timing.error = str(exc).splitlines()[0][:200]
        timings.append(timing)
        logger.info("tuned %s %s: %s", timing.backend, timing.effective or timing.options, timing.error or
                    f"{timing.ms_per_line} ms/line (warm {timing.warm_ms_per_line}), agreement {timing.agreement:.3f}")
    kept = [t for t in timings if t.kept]
    winner = min(kept, key=lambda t: t.ms_per_line) if kept else None
    result = TuneResult(tune_key(model_dir, device), winner, timings, machine_facts(device))
    atomic_write(cache_dir() / f"{result.key}.json", json.dumps(result.to_dict(), indent=2).encode("utf-8"))
    return result
