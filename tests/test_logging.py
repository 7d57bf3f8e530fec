"""What a user sees on stderr: hpi's own lines only, at every level; the frameworks' logs (ONNX Runtime's and
Paddle's C++ logs, Python warnings raised while they import) follow hpi's level (hpi._logging)."""
import json
import logging
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from capabilities import HAS_ONNXRUNTIME, HAS_PADDLE

from hpi._deps import is_installed
from hpi.runtime.backends.onnxruntime import ONNXRuntimeBackend
from hpi.runtime.device import Device
from hpi.runtime.model_dir import load_model_dir
from hpi.tasks.text_recognition import TextRecognition

if not (HAS_PADDLE and HAS_ONNXRUNTIME and is_installed("paddle2onnx") and is_installed("onnx")):
    pytest.skip("needs the 'paddle' and 'cpu' extras (and onnx)", allow_module_level=True)

ORT_ONLY = {"auto_config": False, "backend": "onnxruntime"}  # an hpi_config
# hpi's logger (configure_cli's format), the CLI's backend line, its error and interrupt lines
HPI_LINE = re.compile(r"\[\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\] hpi |backend: |hpi: ")
GLOG_LINE = re.compile(r"[IWEF]\d{4} ")  # glog: I1125 09:07:19.123 ...
CCACHE = "No ccache found"


def foreign_lines(stderr):
    return [line for line in stderr.splitlines() if not HPI_LINE.match(line)]


def assert_only_hpi_lines(stderr):
    assert foreign_lines(stderr) == [], stderr
    assert "[W:onnxruntime" not in stderr and CCACHE not in stderr
    assert not any(GLOG_LINE.match(line) for line in stderr.splitlines())


@pytest.fixture(scope="module")
def cli(tmp_path_factory, samples_dir):
    """Runs `python -m hpi [--log_level L] text_recognition` on one sample in a clean environment: no framework log
    setting inherited from the caller's (only `user_env`), caches in a temporary folder, no GPU. With use_hpip, the
    hpi_config names onnxruntime unless another is given."""
    home = tmp_path_factory.mktemp("hpi_home")
    env = {key: value for key, value in os.environ.items() if not key.startswith(("GLOG_", "FLAGS_", "ORT_"))}
    env.update(HPI_CACHE_HOME=str(home / "cache"), CUDA_VISIBLE_DEVICES="")

    def run(model_dir, use_hpip, level=None, hpi_config=None, **user_env):
        args = [sys.executable, "-m", "hpi", *(["--log_level", level] if level else []), "text_recognition",
                "-i", str(samples_dir / "hello_world.png"), "--model_dir", str(model_dir), "--device", "cpu"]
        args += ["--use_hpip"] if use_hpip else []
        hpi_config = hpi_config or (ORT_ONLY if use_hpip else None)
        if hpi_config:
            config_file = home / f"hpi_config_{len(list(home.glob('hpi_config_*')))}.yaml"
            config_file.write_text(json.dumps(hpi_config))  # JSON is YAML
            args += ["--hpi_config", str(config_file)]
        done = subprocess.run(args, capture_output=True, text=True, env={**env, **user_env}, timeout=600)
        assert done.returncode == 0 and '"Hello World 2026"' in done.stdout, done.stderr
        return done.stderr

    return run


@pytest.fixture(scope="module")
def converted(cli, models_root, tmp_path_factory):
    """A copy of the Paddle model, run once with --use_hpip at the default level: hpi converts it first (the
    converter's worker and paddle2onnx run too). Returns (model dir, that run's stderr)."""
    model_dir = tmp_path_factory.mktemp("converted") / "PP-OCRv4_mobile_rec"
    shutil.copytree(models_root / "PP-OCRv4_mobile_rec", model_dir)
    stderr = cli(model_dir, use_hpip=True)
    assert (model_dir / "inference.onnx").is_file()
    return model_dir, stderr


@pytest.fixture(scope="module")
def ort_warns(v4_onnx_dir, tmp_path_factory):
    """An ONNX model that ONNX Runtime warns about on every load (an initializer that no node reads)."""
    import onnx
    from onnx import numpy_helper

    model_dir = tmp_path_factory.mktemp("ort_warns") / "rec"
    model_dir.mkdir()
    shutil.copyfile(v4_onnx_dir / "inference.yml", model_dir / "inference.yml")
    model = onnx.load(str(v4_onnx_dir / "inference.onnx"))
    model.graph.initializer.append(numpy_helper.from_array(np.zeros(3, np.float32), "hpi_test_unread"))
    onnx.save(model, str(model_dir / "inference.onnx"))
    return model_dir


# -- the CLI at its default level (INFO) --------------------------------------------------------------------------
def test_use_hpip_on_a_model_hpi_converted_shows_only_hpi_lines(converted):
    _, stderr = converted
    print(stderr)  # the lead quotes it
    assert_only_hpi_lines(stderr)
    assert "converting" in stderr and "backend: onnxruntime" in stderr and "1 line(s) recognized in" in stderr


def test_normal_mode_shows_only_hpi_lines(cli, v4_paddle_dir):
    stderr = cli(v4_paddle_dir, use_hpip=False)
    print(stderr)
    assert_only_hpi_lines(stderr)
    assert "backend: paddle" in stderr


def test_paddles_glog_lines_follow_hpis_level(cli, v4_paddle_dir):
    bf16 = {"backend_config": {"run_mode": "mkldnn_bf16"}}  # a CPU without bf16: Paddle logs an I-line saying so
    user_set = cli(v4_paddle_dir, use_hpip=False, hpi_config=bf16, GLOG_minloglevel="0")
    if not any(GLOG_LINE.match(line) for line in user_set.splitlines()):
        pytest.skip("Paddle logs nothing for mkldnn_bf16 on this CPU")
    assert_only_hpi_lines(cli(v4_paddle_dir, use_hpip=False, hpi_config=bf16))  # hpi's level, where none is set


def test_onnxruntime_warnings_show_at_debug_only(cli, ort_warns):
    assert_only_hpi_lines(cli(ort_warns, use_hpip=True))
    debug = cli(ort_warns, use_hpip=True, level="DEBUG")
    assert "[W:onnxruntime" in debug and "hpi_test_unread" in debug  # the warning is there to hide


# -- other levels -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("use_hpip", [True, False])
def test_error_level_leaves_only_the_backend_line(cli, converted, use_hpip):
    stderr = cli(converted[0], use_hpip=use_hpip, level="ERROR")
    assert len(stderr.splitlines()) == 1 and stderr.startswith("backend: "), stderr
    assert ("backend: onnxruntime" if use_hpip else "backend: paddle") in stderr


def test_debug_shows_paddles_import_warning_through_hpis_logger(cli, v4_paddle_dir):
    probe = subprocess.run([sys.executable, "-W", "always", "-c", "import paddle.inference"],
                           capture_output=True, text=True, timeout=300)
    if CCACHE not in probe.stderr:
        pytest.skip("Paddle raises no ccache warning in this environment")
    stderr = cli(v4_paddle_dir, use_hpip=False, level="DEBUG")
    assert foreign_lines(stderr) == [], stderr
    assert re.search(rf"\] hpi DEBUG: \w*Warning while importing paddle[.\w]*: {CCACHE}", stderr), stderr


# -- in a program: hpi's logger level set directly ----------------------------------------------------------------
def test_hpis_logger_level_silences_its_info_lines(v4_onnx_dir, caplog):
    def construct():
        TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=True, hpi_config=ORT_ONLY).close()

    with caplog.at_level(logging.INFO, logger="hpi"):
        construct()
        assert any(r.levelno == logging.INFO and "runs on onnxruntime" in r.getMessage() for r in caplog.records)
        caplog.clear()
        logging.getLogger("hpi").setLevel(logging.ERROR)
        construct()
        assert [r for r in caplog.records if r.name.startswith("hpi") and r.levelno < logging.ERROR] == []



@pytest.mark.parametrize("level, shown", [(logging.DEBUG, True), (logging.INFO, False), (logging.ERROR, False)])
def test_onnxruntime_follows_hpis_logger_level_in_process(ort_warns, capfd, level, shown):
    hpi_logger = logging.getLogger("hpi")
    before = hpi_logger.level
    hpi_logger.setLevel(level)
    try:
        capfd.readouterr()
        ONNXRuntimeBackend(load_model_dir(ort_warns), Device("cpu")).load().close()
        stderr = capfd.readouterr().err
    finally:
        hpi_logger.setLevel(before)
    assert ("hpi_test_unread" in stderr) == shown, stderr
