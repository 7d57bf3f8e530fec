"""Edge deployment: `pip install .[cpu]` in a fresh venv, no Paddle, runs high-performance mode on an
ONNX-only model dir. Also proves the wheel ships its data (font, backend defaults)."""
import json
import os
import subprocess
import venv

import pytest
from capabilities import HAS_PADDLE
from helpers import REPO

from hpi._deps import is_installed


@pytest.mark.slow
def test_cpu_extra_without_paddle_runs_an_onnx_model_dir(tmp_path, v4_onnx_dir, samples_dir):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "--quiet", f"{REPO}[cpu]"], check=True,
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
    assert "backend: onnxruntime" in run.stderr
    assert (tmp_path / "out" / "hello_world_res.png").stat().st_size > 0


@pytest.mark.slow
@pytest.mark.skipif(not (HAS_PADDLE and is_installed("paddle2onnx")), reason="converting needs the 'paddle' extra")
def test_a_converted_model_dir_runs_without_paddle(tmp_path, v4_paddle_dir, samples_dir):
    from hpi.converters import convert_to_onnx

    converted = tmp_path / "converted"
    convert_to_onnx(v4_paddle_dir, save_file=converted / "inference.onnx")
    assert (converted / "inference.yml").is_file()  # the ONNX dir carries its dictionary and preprocessing
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    subprocess.run([str(env_dir / "bin" / "python"), "-m", "pip", "install", "--quiet", f"{REPO}[cpu]"], check=True)
    run = subprocess.run([str(env_dir / "bin" / "hpi"), "text_recognition", "-i", str(samples_dir / "hello_world.png"),
                          "--model_dir", str(converted), "--use_hpip"], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["res"]["rec_text"] == "Hello World 2026"
