"""Conversion of the six real models (rec, det, cls x legacy, PIR): valid ONNX that ONNX Runtime and OpenVINO
load and that matches Paddle Inference within 1e-4."""
import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from capabilities import HAS_OPENVINO

from hpi.runtime.backends import get_backend_class
from hpi.runtime.converters import convert_to_onnx, record_path
from hpi.runtime.device import Device
from hpi.errors import ConversionError
from hpi.runtime.model_dir import ModelDir
from hpi.tasks.text_recognition.preprocess import pad_batch, resize_norm

TOLERANCE = 1e-4
CASES = [(kind, fmt) for kind in ("rec", "det", "cls") for fmt in ("legacy", "pir")]
# The slow tier's: Paddle's plain kernels on the wide recognition batches take most of the time. The legacy format
# is compared on det and cls here, and the legacy rec model is converted (and verified) under use_hpip in
# test_download.py and test_logging.py
SLOW_CASES = {("rec", "legacy")}
ONNX_RUNTIMES = ["onnxruntime"] + (["openvino"] if HAS_OPENVINO else [])


@pytest.fixture(scope="module")
def converted(paddle_models):
    """case -> (model dir, its conversion record), converted when a test first asks for it."""
    class Conversions(dict):
        def __missing__(self, case):
            self[case] = (paddle_models[case], convert_to_onnx(paddle_models[case]))
            return self[case]
    return Conversions()


def backend(name, model_dir, onnx=None):
    from hpi.runtime.converters.paddle_to_onnx import find_paddle_model

    program, _ = find_paddle_model(model_dir)
    files = ModelDir(path=model_dir, config={}, paddle_program=program, onnx=onnx)
    options = {"run_mode": "paddle"} if name == "paddle" else {}
    return get_backend_class(name)(files, Device("cpu"), options).load()


def inputs_for(kind, lines, wide_batch=2):
    """wide_batch: how many 3200 px lines go in one batch. Paddle takes 12 s for 8 of them on the 2-core Xeon, 2 s
    for 2 (a batch of wide lines all the same): 8 only in the slow tier."""
    rng = np.random.default_rng(1)
    if kind == "rec":
        batches = [rng.uniform(-1, 1, (batch, 3, 48, width)).astype(np.float32)
                   for batch, width in [(1, 160), (8, 320), (2, 1000), (1, 3200), (wide_batch, 3200)]]
        # Real lines alone, and batched with lines of their own padded width, as high-performance mode batches.
        # (A 320 px line padded to 1187 px in one batch differs by 1.5e-3 between Paddle and either ONNX model,
        # the upstream export too, and by 2.6e-4 between Paddle's own MKL-DNN and plain kernels: that is the
        # model's sensitivity to heavy padding, not the conversion.)
        paths, _ = lines
        real = [resize_norm(cv2.imread(p)) for p in paths[:12]]
        same_width = [line for line in real if line.shape[2] == 320][:8]
        return batches + [line[None] for line in real] + [pad_batch(same_width)]
    if kind == "det":
        return [rng.uniform(-1, 1, shape).astype(np.float32) for shape in [(1, 3, 320, 320), (2, 3, 640, 480)]]
    return [rng.uniform(-1, 1, shape).astype(np.float32) for shape in [(1, 3, 48, 192), (8, 3, 48, 192)]]


@pytest.mark.parametrize("kind, fmt", [pytest.param(*case, marks=[pytest.mark.slow] if case in SLOW_CASES else [])
                                       for case in CASES])
def test_converted_model_matches_paddle(converted, lines, kind, fmt):
    model_dir, record = converted[(kind, fmt)]
    onnx_path = model_dir / "inference.onnx"
    assert record["verification"]["passed"] and record["verification"]["worst"] <= TOLERANCE
    assert json.loads(record_path(onnx_path).read_text())["key"] == record["key"]
    reference = backend("paddle", model_dir)
    runtimes = [backend(name, model_dir, onnx_path) for name in ONNX_RUNTIMES]
    for batch in inputs_for(kind, lines, wide_batch=8 if (kind, fmt) in SLOW_CASES else 2):
        expected = reference.infer(batch)
        for runtime in runtimes:
            got = runtime.infer(batch)
            assert got.shape == expected.shape
            assert np.abs(got - expected).max() <= TOLERANCE, (runtime.name, batch.shape)


def test_rec_repair_fixes_concat_ranks(converted):
    _, record = converted[("rec", "pir")]
    assert record["onnx_repairs"] and all("rank-0" in change for change in record["onnx_repairs"])
    _, det_record = converted[("det", "legacy")]
    assert det_record["pir_patches"] == ["1.nearest_interp.scale: float64 -> float32"]


def test_second_conversion_is_reused(converted):
    model_dir, first = converted[("cls", "legacy")]
    before = (model_dir / "inference.onnx").stat().st_mtime_ns
    again = convert_to_onnx(model_dir)
    assert again["reused"] and again["key"] == first["key"]
    assert (model_dir / "inference.onnx").stat().st_mtime_ns == before


def test_changed_weights_are_converted_again(paddle_models, tmp_path):
    model_dir = tmp_path / "cls"
    shutil.copytree(paddle_models[("cls", "pir")], model_dir, ignore=shutil.ignore_patterns("inference.onnx*"))
    first = convert_to_onnx(model_dir)
    with open(model_dir / "inference.pdiparams", "r+b") as f:  # flip one byte of the weights
        f.seek(-1, os.SEEK_END)
        last = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([last[0] ^ 1]))
    second = convert_to_onnx(model_dir)
    assert not second["reused"] and second["key"] != first["key"]


def test_failed_verification_leaves_nothing(paddle_models, tmp_path):
    model_dir = tmp_path / "cls"
    shutil.copytree(paddle_models[("cls", "legacy")], model_dir, ignore=shutil.ignore_patterns("inference.onnx*"))
    with pytest.raises(ConversionError, match="differs from Paddle Inference.*nothing was written"):
        convert_to_onnx(model_dir, tolerance=0.0)  # no real conversion is bit-exact
    leftovers = sorted(p.name for p in model_dir.iterdir())
    assert leftovers == [".inference.onnx.lock", "inference.pdiparams", "inference.pdmodel"]


def test_two_processes_converting_at_once_give_one_valid_file(paddle_models, tmp_path):
    model_dir = tmp_path / "cls"
    shutil.copytree(paddle_models[("cls", "legacy")], model_dir, ignore=shutil.ignore_patterns("inference.onnx*"))
    code = ("import json, sys; from hpi.runtime.converters import convert_to_onnx; "
            "print(json.dumps(convert_to_onnx(sys.argv[1])['reused']))")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(model_dir)], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    reused = sorted(json.loads(p.communicate(timeout=300)[0]) for p in procs)
    assert all(p.returncode == 0 for p in procs)
    assert reused == [False, True]  # one converted, the other waited on the lock and reused it
    runtime = backend("onnxruntime", model_dir, model_dir / "inference.onnx")
    assert runtime.infer(np.zeros((1, 3, 48, 192), np.float32)).shape == (1, 2)


def test_nothing_is_written_to_the_current_folder(paddle_models, tmp_path):
    model_dir = tmp_path / "rec"
    shutil.copytree(paddle_models[("rec", "legacy")], model_dir, ignore=shutil.ignore_patterns("inference.onnx*"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    code = "import sys; from hpi.runtime.converters import convert_to_onnx; convert_to_onnx(sys.argv[1])"
    subprocess.run([sys.executable, "-c", code, str(model_dir)], cwd=cwd, check=True, capture_output=True)
    assert list(cwd.iterdir()) == []
    assert sorted(p.name for p in model_dir.iterdir()) == [
        ".inference.onnx.lock", "inference.onnx", "inference.onnx.hpi.json", "inference.pdiparams",
        "inference.pdmodel", "inference.yml"]


def test_a_relative_model_dir_converts(paddle_models, tmp_path, monkeypatch):
    # the worker runs inside a scratch folder, so every path it is given must be absolute
    shutil.copytree(paddle_models[("cls", "legacy")], tmp_path / "cls", ignore=shutil.ignore_patterns("inference.onnx*"))
    monkeypatch.chdir(tmp_path)
    record = convert_to_onnx("cls")
    assert not record["reused"]
    assert (tmp_path / "cls" / "inference.onnx").is_file()
    assert not list((tmp_path / "cls").glob(".hpi-convert-*"))


class _StoppedBetweenRenames:
    """paddle_to_onnx's `os`, except that its second os.replace raises KeyboardInterrupt (Ctrl-C, or SIGTERM through
    sigterm_unwinds) instead of renaming: the conversion stops between publishing its two files."""

    def __init__(self):
        self.renamed = []

    def __getattr__(self, name):
        return getattr(os, name)

    def replace(self, source, target):
        if self.renamed:
            raise KeyboardInterrupt
        self.renamed.append(os.path.basename(target))
        os.replace(source, target)


def test_a_conversion_stopped_between_its_two_renames_is_done_again_without_force(paddle_models, tmp_path,
                                                                                  monkeypatch):
    """Before, the ONNX file was renamed first: stopped there, it stood without its record, and every later run
    refused it as 'not made by hpi' unless given --force."""
    from hpi.runtime.converters import paddle_to_onnx

    model_dir = tmp_path / "cls"
    shutil.copytree(paddle_models[("cls", "legacy")], model_dir, ignore=shutil.ignore_patterns("inference.onnx*"))
    stop = _StoppedBetweenRenames()
    monkeypatch.setattr(paddle_to_onnx, "os", stop)
    with pytest.raises(KeyboardInterrupt):
        convert_to_onnx(model_dir)
    monkeypatch.undo()
    assert len(stop.renamed) == 1  # one of the two files published, not the other
    record = convert_to_onnx(model_dir)
    assert not record["reused"] and record["verification"]["passed"]
    assert json.loads(record_path(model_dir / "inference.onnx").read_text())["onnx_sha256"] == record["onnx_sha256"]
    runtime = backend("onnxruntime", model_dir, model_dir / "inference.onnx")
    assert runtime.infer(np.zeros((1, 3, 48, 192), np.float32)).shape == (1, 2)
    assert convert_to_onnx(model_dir)["reused"]
    (model_dir / "inference.onnx").write_bytes(b"not the verified file")  # a record vouches only for its own file
    assert not convert_to_onnx(model_dir)["reused"] and convert_to_onnx(model_dir)["reused"]
