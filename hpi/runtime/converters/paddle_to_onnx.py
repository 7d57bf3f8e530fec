"""Paddle inference model -> verified `inference.onnx` beside it, cached, atomic, safe under concurrency.

Steps (in a worker process, see _worker.py): legacy program -> PIR json (Paddle's translator), PIR attribute
repair, paddle2onnx (opset 14, no polygraphy step), ONNX graph repair, ONNX checker, then Paddle Inference and
ONNX Runtime on the same inputs. The result is renamed into place only when they agree within tolerance, with
a record of what was verified (`inference.onnx.hpi.json`). A later call with the same Paddle files and converter
versions reuses it. The record names the SHA-256 of the ONNX file it verified and is renamed into place first: a
kill between the two renames leaves a record without its file, which the next run (no --force needed) converts
again; an ONNX file is trusted only beside a record naming its hash.

Faults: the worker dies with the caller, whatever kills it (see _worker.py). On SIGTERM (when its handler is the
default) or Ctrl-C the worker is killed and the scratch folder removed before the process ends; after a SIGKILL
or a power cut the next conversion of the same file, under the same lock, removes the scratch folder left behind.

Opset 14: the lowest opset that every backend here takes with all the ops PP-OCR models export to
(ONNX Runtime, OpenVINO, TensorRT 8.5+), and what paddle2onnx emits cleanly for them.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional

from ..._deps import install_hint
from ..._env import library_versions
from ..._fs import MKDTEMP_TAG, SCRATCH_TAG, file_lock, make_scratch_dir, remove_scratch_dirs, sha256_files
from ..._signals import sigterm_unwinds
from ..device import cpu_quota
from ...errors import ConversionError, HPIError, MissingDependencyError, ModelDirError
from ..model_dir import CONFIG_FILE, PADDLE_PARAMS_FILE, find_paddle_program, load_model_dir

logger = logging.getLogger(__name__)

CONVERTER_VERSION = 2  # bump when the steps change: cached conversions are redone
DEFAULT_OPSET = 14
DEFAULT_TOLERANCE = 1e-4
RECORD_SUFFIX = ".hpi.json"
WORKER_TIMEOUT_S = 900


def record_path(onnx_path: Path) -> Path:
    return onnx_path.with_name(onnx_path.name + RECORD_SUFFIX)


def _versions() -> Dict[str, str]:
    needed = ("paddlepaddle", "paddle2onnx", "onnx", "onnxruntime")
    versions = library_versions(needed)
    missing = [dist for dist in needed if dist not in versions]
    if missing:
        raise MissingDependencyError(f"converting Paddle models to ONNX needs {', '.join(missing)}: "
                                     + install_hint("paddle,cpu", " ".join(missing)))
    return {"hpi_converter": str(CONVERTER_VERSION), **versions}


def find_paddle_model(model_dir: Path):
    program = find_paddle_program(model_dir)
    params = model_dir / PADDLE_PARAMS_FILE
    if program is None or not params.is_file():
        raise ModelDirError(f"{str(model_dir)!r} holds no Paddle inference model (inference.json or "
                            "inference.pdmodel, with inference.pdiparams)")
    return program, params


def _dynamic_shapes(model_dir: Path) -> Optional[list]:
    """[min, opt, max] of the model's single input (ModelDir.dynamic_shapes: inference.yml, else the catalog)."""
    try:
        shapes = load_model_dir(model_dir).dynamic_shapes
    except HPIError:
        return None
    if shapes and len(shapes) == 1:
        return [list(shape) for shape in next(iter(shapes.values()))]
    return None


def _up_to_date(onnx_path: Path, key: str) -> Optional[dict]:
    record = record_path(onnx_path)
    if not (onnx_path.is_file() and record.is_file()):
        return None
    try:
        content = json.loads(record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(content, dict) or content.get("key") != key:
        return None
    return content if content.get("onnx_sha256") == sha256_files(onnx_path) else None


def convert_to_onnx(model_dir, save_file=None, opset_version: int = DEFAULT_OPSET,
                    tolerance: float = DEFAULT_TOLERANCE, force: bool = False) -> dict:
    """Convert and verify; return the record (with `"reused": True` when an up-to-date result existed)."""
    model_dir = Path(model_dir)
    program, params = find_paddle_model(model_dir)
    onnx_path = Path(save_file) if save_file else model_dir / "inference.onnx"
    versions = _versions()
    source_hash = sha256_files(program, params)
    key = hashlib.sha256(json.dumps([source_hash, versions, opset_version, tolerance]).encode()).hexdigest()

    if not force and (record := _up_to_date(onnx_path, key)):
        return {**record, "reused": True}
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    with sigterm_unwinds(), file_lock(onnx_path.parent / f".{onnx_path.name}.lock") as locked:
        if not force and (record := _up_to_date(onnx_path, key)):  # another process just made it
            return {**record, "reused": True}
        if locked:
            _remove_dead_scratch(onnx_path)
        if onnx_path.exists() and not record_path(onnx_path).exists() and not force:
            raise ConversionError(f"{str(onnx_path)!r} exists and was not made by hpi; pass force=True "
                                  "(CLI: --force) to replace it")
        started = time.perf_counter()
        # absolute: the worker runs inside workdir, where a relative path would point somewhere else
        workdir = make_scratch_dir(onnx_path.parent, _scratch_prefix(onnx_path)).resolve()
        try:
            report = _run_worker(workdir, program, params, opset_version, tolerance, _dynamic_shapes(model_dir))
            verification = report["verification"]
            if not verification["passed"]:
                raise ConversionError(
                    f"the ONNX conversion of {str(program)!r} differs from Paddle Inference by "
                    f"{verification['worst']:.3g} (tolerance {tolerance:g}) on inputs {verification['shapes']}; "
                    "nothing was written")
            record = {"key": key, "source": {"program": program.name, "params": params.name,
                                             "sha256": source_hash},
                      "opset_version": opset_version, "versions": versions, **report,
                      "onnx_sha256": sha256_files(workdir / "inference.onnx"),
                      "total_s": round(time.perf_counter() - started, 3)}
            (workdir / "record.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
            # the record first: a kill between the renames leaves it without its file, never a file without it
            os.replace(workdir / "record.json", record_path(onnx_path))
            os.replace(workdir / "inference.onnx", onnx_path)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
    if onnx_path.parent != model_dir and (model_dir / CONFIG_FILE).is_file():
        shutil.copyfile(model_dir / CONFIG_FILE, onnx_path.parent / CONFIG_FILE)  # the ONNX dir runs alone
    return {**record, "reused": False}


def _scratch_prefix(onnx_path: Path) -> str:
    return f".hpi-convert-{onnx_path.name}-"


def _remove_dead_scratch(onnx_path: Path) -> None:
    """Scratch folders of conversions to `onnx_path` that died; the caller holds that file's lock."""
    removed = remove_scratch_dirs(onnx_path.parent, re.escape(_scratch_prefix(onnx_path)) + SCRATCH_TAG)
    # converter 1 did not name the target: one of those untouched for longer than any conversion lasts is dead too
    removed += remove_scratch_dirs(onnx_path.parent, r"\.hpi-convert-" + MKDTEMP_TAG, older_than_s=2 * WORKER_TIMEOUT_S)
    if removed:
        logger.info("removed the scratch folders of interrupted conversions: %s", ", ".join(removed))


def _run_worker(workdir: Path, program: Path, params: Path, opset: int, tolerance: float, dynamic_shapes) -> dict:
    request = {"workdir": str(workdir), "program": str(program.resolve()), "params": str(params.resolve()),
               "output": str(workdir / "inference.onnx"), "opset": opset, "tolerance": tolerance,
               "dynamic_shapes": dynamic_shapes}
    (workdir / "request.json").write_text(json.dumps(request), encoding="utf-8")
    threads = str(cpu_quota())  # Paddle's OpenMP pool would otherwise oversubscribe a small CPU quota
    env = {**os.environ, "POLYGRAPHY_AUTOINSTALL_DEPS": "0", "P2O_KEEP_TEMP_MODEL": "0", "TMPDIR": str(workdir),
           "OMP_NUM_THREADS": threads}
    command = [sys.executable, "-m", "hpi.runtime.converters._worker", "request.json", "report.json", str(os.getpid())]
    log = workdir / "worker.log"
    worker = None
    try:
        with open(log, "wb") as out:  # stdin stays an open pipe: the worker exits when it reads its end
            worker = subprocess.Popen(command, cwd=workdir, env=env, stdin=subprocess.PIPE, stdout=out,
                                      stderr=subprocess.STDOUT)
        returncode = worker.wait(timeout=WORKER_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        raise ConversionError(f"converting {str(program)!r} took over {WORKER_TIMEOUT_S} s; gave up") from exc
    finally:  # also on KeyboardInterrupt and SIGTERM (sigterm_unwinds): no worker outlives the call
        if worker is not None:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
            worker.stdin.close()
    if returncode != 0 or not (workdir / "report.json").is_file():
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-8:])
        raise ConversionError(f"converting {str(program)!r} to ONNX failed:\n{tail}")
    return json.loads((workdir / "report.json").read_text(encoding="utf-8"))
