"""The OCR pipeline race behind `hpi benchmark --pipeline OCR`: hpi's OCR (high-performance and normal mode)
against PaddleX's OCR pipeline and RapidOCR 3.x's, each with the same models, over a folder of real images.

Every system is loaded once, then timed in interleaved rounds over all images (one `predict` call per image, as
a service answers requests: PaddleX's pipeline runs one image at a time too), so drift on a noisy machine hits
them all alike; the first round meets every input shape new. Texts are compared with a reference system per
image, as multisets (systems sort boxes differently): the share of the reference's lines each system reads the
same. hpi's per-stage time comes from one pass through its pipeline's own stages one after another (no
overlap; hpi.bench.stages); RapidOCR reports its own stage times; PaddleX reports none.
"""
from __future__ import annotations

import collections
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import HPIError
from .race import PeerSystem
from .rows import Skipped, _Row
from .stages import OCR_STAGES as STAGES, profile_ocr_stages

PIPELINE_PEERS = ("paddlex_ocr", "rapidocr_ocr")
DOC_STAGE = "doc_preprocess"  # timed, and shown after "read", where hpi's OCR runs the document preprocessor


@dataclass
class OCRModels:
    """The models every system runs: Paddle model dirs (PaddleX needs them; hpi converts them for its
    high-performance mode) or ONNX dirs, with inference.yml."""

    text_detection: Path
    text_recognition: Path
    textline_orientation: Optional[Path] = None

    def hpi_options(self) -> dict:
        options = {"text_detection_model_dir": str(self.text_detection),
                   "text_recognition_model_dir": str(self.text_recognition),
                   "use_textline_orientation": self.textline_orientation is not None}
        if self.textline_orientation is not None:
            options["textline_orientation_model_dir"] = str(self.textline_orientation)
        return options


@dataclass
class PipelineRow(_Row):
    """One raced OCR system over the images: images/s (first round, later rounds), boxes read, agreement with
    the reference's texts, stage times where known, ratio to the baseline."""

    system: str
    version: str
    images: int
    lines: int  # text lines the system returned over all images (first round)
    images_per_s_first: float
    images_per_s: float
    rounds_s: List[float]
    same_text_as_reference: Optional[float] = None  # share of the reference's lines read the same, per image
    reference: Optional[str] = None
    speedup_vs_baseline: Optional[float] = None
    baseline: Optional[str] = None
    stages_ms_per_image: Optional[Dict[str, float]] = None
    _omit_if_none = ("same_text_as_reference", "reference", "speedup_vs_baseline", "baseline", "stages_ms_per_image")


@dataclass
class PipelineRace:
    pipeline: str
    images: int
    rounds: int
    threads: int
    models: Dict[str, Optional[str]]
    systems: List[PipelineRow] = field(default_factory=list)
    skipped: List[Skipped] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"pipeline": self.pipeline, "images": self.images, "rounds": self.rounds, "threads": self.threads,
                "models": self.models, "systems": [row.to_dict() for row in self.systems],
                "skipped": [row.to_dict() for row in self.skipped]}


class HpiOCRSystem:
    """hpi's OCR in this process, one predict call per image."""

    def __init__(self, name: str, models: OCRModels, device: str, use_hpip: bool, hpi_config=None):
        from ..pipelines.ocr import OCR

        self.name = name
        self.ocr = OCR(**models.hpi_options(), device=device, use_hpip=use_hpip, hpi_config=hpi_config)
        backends = sorted({config["backend"] for config in self.ocr.config.values()})
        self.version = f"hpi {'/'.join(backends)}"

    def run(self, paths: Sequence[str]) -> Tuple[List[List[str]], float, None]:
        start = time.perf_counter()
        texts = [list(self.ocr.predict(path)[0]["rec_texts"]) for path in paths]
        return texts, time.perf_counter() - start, None

    def close(self) -> None:
        self.ocr.close()


class PeerOCRSystem:
    """A peer's OCR pipeline in its own interpreter (peer_worker.py), one image per call."""

    def __init__(self, name: str, python: str, models: OCRModels, scratch: Path):
        self._peer = PeerSystem(name, python, models=peer_models(name, models, scratch))
        self.name, self.version = name, self._peer.version

    def run(self, paths: Sequence[str]) -> Tuple[List[List[str]], float, Optional[Dict[str, float]]]:
        texts, seconds, stages = [], 0.0, collections.Counter()
        for path in paths:
            reply = self._peer.ask(op="run", paths=[path], batch_size=6)
            texts.extend(reply["texts"])
            seconds += reply["seconds"]
            stages.update(reply.get("stages") or {})
        return texts, seconds, dict(stages) or None

    def close(self) -> None:
        self._peer.close()


def peer_models(name: str, models: OCRModels, scratch: Path) -> dict:
    """What peer_worker.py needs: PaddleX the model dirs (Paddle format), RapidOCR ONNX files and a keys file."""
    from ..runtime.model_dir import load_model_dir

    dirs = {"det": models.text_detection, "rec": models.text_recognition, "cls": models.textline_orientation}
    loaded = {kind: load_model_dir(path) for kind, path in dirs.items() if path is not None}
    if name == "paddlex_ocr":
        if any(d.paddle_program is None for d in loaded.values()):
            raise HPIError("PaddleX needs Paddle model dirs (inference.json or .pdmodel)")
        found = {kind: str(d.path) for kind, d in loaded.items()}
        found.update({f"{kind}_name": d.model_name for kind, d in loaded.items()})
        if loaded["det"].paddle_program.suffix == ".pdmodel":
            found["det_engine_config"] = {"run_mode": "mkldnn", "enable_new_ir": False}  # see enable_new_ir
        return {**found, "cls": found.get("cls")}
    onnx = {}
    for kind, model_dir in loaded.items():
        if model_dir.onnx is None:
            from ..runtime.converters import convert_to_onnx

            convert_to_onnx(model_dir.path)
            model_dir = load_model_dir(model_dir.path)
        onnx[f"{kind}_onnx"] = str(model_dir.onnx)
    keys = scratch / "rec_keys.txt"
    keys.write_text("\n".join(loaded["rec"].section("PostProcess", "character_dict") or []) + "\n", "utf-8")
    return {**onnx, "cls_onnx": onnx.get("cls_onnx"), "rec_keys": str(keys)}


def same_lines(texts: Sequence[Sequence[str]], reference: Sequence[Sequence[str]]) -> float:
    """Share of the reference's lines (over all images) that the other system read the same, per image as
    multisets."""
    total = sum(len(r) for r in reference)
    same = sum(sum((collections.Counter(t) & collections.Counter(r)).values()) for t, r in zip(texts, reference))
    return same / total if total else 1.0


def race_ocr(images: Sequence[str], models: OCRModels, device: str, peers: Dict[str, str], rounds: int,
             threads: int, normal_mode: bool = True, progress=None) -> PipelineRace:
    """Interleaved rounds of every system over `images`; the reference for texts is PaddleX if it ran, else hpi's
    normal mode, else hpi; the baseline for speed is PaddleX if it ran, else hpi's normal mode."""
    race = PipelineRace("OCR", len(images), rounds, threads,
                        {k: (str(v) if v else None) for k, v in vars(models).items()})
    wanted = [("hpi", lambda: HpiOCRSystem("hpi", models, device, True))]
    if normal_mode:
        wanted.append(("hpi normal mode", lambda: HpiOCRSystem("hpi normal mode", models, device, False,
                                                                normal_mode_config(models))))
    scratch = Path(tempfile.mkdtemp(prefix="hpi-pipeline-race-"))
    for name, python in peers.items():
        wanted.append((name, lambda name=name, python=python: PeerOCRSystem(name, python, models, scratch)))
    systems = []
    for name, make in wanted:
        try:
            systems.append(make())
        except HPIError as exc:
            race.skipped.append(Skipped(name, str(exc).splitlines()[0]))
    try:
        recorded = {s.name: {"rounds": [], "texts": None, "stages": None} for s in systems}
        for round_index in range(rounds):
            for system in systems:
                texts, seconds, stages = system.run(images)
                entry = recorded[system.name]
                entry["rounds"].append(seconds)
                if round_index == 0:
                    entry["texts"] = texts
                if round_index == rounds - 1 and stages:
                    entry["stages"] = {k: round(1000 * v / len(images), 2) for k, v in stages.items()}
                if progress:
                    progress(f"{system.name} round {round_index + 1}/{rounds}")
        hpi = next((s for s in systems if s.name == "hpi"), None)
        if hpi is not None:
            recorded["hpi"]["stages"] = profile_ocr_stages(hpi.ocr, images)
    finally:
        for system in systems:
            system.close()
    names = [s.name for s in systems]
    reference = next((n for n in ("paddlex_ocr", "hpi normal mode", "hpi") if n in names), None)
    baseline = next((n for n in ("paddlex_ocr", "hpi normal mode") if n in names), None)
    for name in names:
        entry = recorded[name]
        steady = entry["rounds"][1:] or entry["rounds"]
        row = PipelineRow(system=name, version=next(s.version for s in systems if s.name == name),
                          images=len(images), lines=sum(len(t) for t in entry["texts"]),
                          images_per_s_first=len(images) / entry["rounds"][0],
                          images_per_s=len(images) / statistics.median(steady),
                          rounds_s=[round(s, 3) for s in entry["rounds"]], stages_ms_per_image=entry["stages"])
        if reference:
            row.reference = reference
            row.same_text_as_reference = same_lines(entry["texts"], recorded[reference]["texts"])
        race.systems.append(row)
    base = next((r for r in race.systems if r.system == baseline), None)
    for row in race.systems:
        if base is not None:
            row.baseline, row.speedup_vs_baseline = baseline, row.images_per_s / base.images_per_s
    return race


def normal_mode_config(models: OCRModels) -> Optional[dict]:
    """Normal mode as PaddleX ran these models: a legacy .pdmodel detector on Paddle's old IR (see the paddle
    backend's enable_new_ir)."""
    from ..runtime.model_dir import load_model_dir

    program = load_model_dir(models.text_detection).paddle_program
    if program is not None and program.suffix == ".pdmodel":
        return {"text_detection": {"backend": "paddle", "backend_config": {"enable_new_ir": False}}}
    return None


def race_table(race: PipelineRace) -> str:
    """The race as a markdown table."""
    stages_shown = STAGES
    if any(DOC_STAGE in (row.stages_ms_per_image or {}) for row in race.systems):
        stages_shown = STAGES[:1] + (DOC_STAGE,) + STAGES[1:]
    lines = [f"OCR pipeline, {race.images} images, {race.rounds} interleaved rounds, {race.threads} threads; texts "
             f"compared with {race.systems[0].reference if race.systems else '-'}",
             "",
             "| system | version | images/s (first round) | images/s | x baseline | lines | same text as reference "
             "| ms per image: " + " / ".join(stages_shown) + " |",
             "|---|---|---|---|---|---|---|---|"]
    for row in race.systems:
        stages = " / ".join(f"{row.stages_ms_per_image[k]:.1f}" if k in (row.stages_ms_per_image or {}) else "-"
                            for k in stages_shown) if row.stages_ms_per_image else "-"
        if row.stages_ms_per_image and not set(STAGES) & set(row.stages_ms_per_image):
            stages = ", ".join(f"{k} {v:.1f}" for k, v in row.stages_ms_per_image.items())
        ratio = f"{row.speedup_vs_baseline:.2f}x" if row.speedup_vs_baseline else "-"
        same = f"{100 * row.same_text_as_reference:.1f}%" if row.same_text_as_reference is not None else "-"
        lines.append(f"| {row.system} | {row.version} | {row.images_per_s_first:.2f} | {row.images_per_s:.2f} | "
                     f"{ratio} | {row.lines} | {same} | {stages} |")
    for skipped in race.skipped:
        lines.append(f"| {skipped.system} | not raced: {skipped.error} | | | | | | |")
    return "\n".join(lines) + "\n"
