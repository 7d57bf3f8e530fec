"""The README's ```bash/```sh and ```python blocks, run as written in a temp dir laid out as a clone after
`make models`.

Rules: install lines (`pip install`, `git clone`) are left out; a block with a `# readme-test: skip (why)` line is
skipped; a block starting `hpi serve ... &` has its server started (on a free port in place of 8080), probed on
/ready, the rest of the block run against it, then stopped with SIGTERM. Blocks that name no model folder use the
OCR pipeline's default models, made by the `pypi` model source from the wheels of .cache/wheels (`make models`);
until that source exists they are expected to fail.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from capabilities import HAS_ONNXRUNTIME, HAS_OPENVINO
from helpers import REPO
from hpi._deps import is_installed

SKIP_MARKER = re.compile(r"^\s*#\s*readme-test:\s*skip\b(.*)$", re.MULTILINE)
INSTALL_LINE = re.compile(r"^\s*(pip3?|python3? -m pip) install\b|^\s*git clone\b")
SERVE_LINE = re.compile(r"^\s*hpi serve\b")
README_PORT = "8080"
TIMEOUT_S = 600

pytestmark = pytest.mark.skipif(not (HAS_ONNXRUNTIME and HAS_OPENVINO), reason="the README installs the cpu extra")


def readme_blocks():
    """(id, language, text) of every bash, sh and python block of README.md, in order."""
    text = (REPO / "README.md").read_text("utf-8")
    blocks = []
    for number, match in enumerate(re.finditer(r"^```(bash|sh|python)\n(.*?)^```", text, re.MULTILINE | re.DOTALL)):
        language, body = match.groups()
        first = next((line.strip() for line in body.splitlines()
                      if line.strip() and not line.startswith("#") and not INSTALL_LINE.match(line)), "")
        name = re.sub(r"[^A-Za-z0-9]+", "_", first)[:40]
        blocks.append(pytest.param(language, body, id=f"{number}-{language}-{name}"))
    return blocks


def logical_lines(script: str):
    """Shell lines with their backslash continuations joined."""
    return script.replace("\\\n", " ").splitlines()


def without_install_lines(script: str) -> str:
    return "\n".join(line for line in logical_lines(script) if not INSTALL_LINE.match(line))


def uses_default_models(language: str, script: str) -> bool:
    """True for `hpi ocr` / `hpi serve --pipeline OCR` / `OCR(...)` with no model folder named."""
    if language == "python":
        return "OCR(" in script and "model_dir" not in script.split("OCR(", 1)[1].split(")", 1)[0]
    return any(re.match(r"\s*hpi (ocr|serve)\b", line) and "_model_dir" not in line for line in logical_lines(script))


def pypi_source_available() -> bool:
    from hpi.errors import ConfigError
    from hpi.runtime.sources import model_sources

    try:
        return any(source.name == "pypi" for source in model_sources("PP-OCRv6_small_rec"))
    except ConfigError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def clone(tmp_path, models_root, monkeypatch):
    """A temp dir that looks like a clone after `make models` (tests/ and .cache/test_models), and the env to run in."""
    (tmp_path / "tests").symlink_to(REPO / "tests", target_is_directory=True)
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "test_models").symlink_to(models_root, target_is_directory=True)
    env = dict(os.environ, PADDLE_PDX_CACHE_HOME=str(tmp_path / "paddlex"), HPI_MODEL_SOURCES="pypi",
               HPI_CACHE_HOME=str(tmp_path / "hpi-cache"),
               PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    for key in ("PADDLE_PDX_CACHE_HOME", "HPI_MODEL_SOURCES"):
        monkeypatch.setenv(key, env[key])
    return tmp_path, env


def provide_default_models(tmp: Path):
    """The wheels the `pypi` source makes the default models from, where it looks first."""
    if not pypi_source_available():
        pytest.xfail("the PyPI model source (HPI_MODEL_SOURCES=pypi, official models from PyPI wheels) has not "
                     "landed yet: the pipeline's default models cannot be had here")
    wheels = sorted((REPO / ".cache" / "wheels").glob("*.whl"))
    if not wheels:
        pytest.fail(f"no wheels in {REPO / '.cache' / 'wheels'}: run `make models`")
    target = tmp / "paddlex" / "wheels"
    target.mkdir(parents=True)
    for wheel in wheels:
        try:
            os.link(wheel, target / wheel.name)
        except OSError:
            shutil.copy2(wheel, target / wheel.name)


def run(args, cwd, env, **kwargs):
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S, **kwargs)


def check(result, what):
    assert result.returncode == 0, \
        f"{what} exited {result.returncode}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result.stdout


def wait_ready(port: int, server: subprocess.Popen, log: Path):
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"hpi serve exited {server.returncode} before it was ready:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"hpi serve not ready within {TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


def run_serving_block(script: str, tmp: Path, env: dict) -> str:
    """Start the block's `hpi serve` (the lines before it are its setup), run the rest against it, stop it."""
    if not (is_installed("fastapi") and is_installed("uvicorn")):
        pytest.skip("the serve extra is not installed")
    port = free_port()
    lines = logical_lines(script.replace(README_PORT, str(port)))
    at = next(i for i, line in enumerate(lines) if SERVE_LINE.match(line))
    setup, command, rest = lines[:at], lines[at].split("#", 1)[0].strip().rstrip("&").strip(), lines[at + 1:]
    log = tmp / "serve.log"
    with log.open("w") as out:
        server = subprocess.Popen(["bash", "-c", "\n".join(setup + ["exec " + command])], cwd=tmp, env=env,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(port, server, log)
        return check(run(["bash", "-e", "-o", "pipefail", "-c", "\n".join(setup + rest)], tmp, env), "the block")
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.parametrize("language,block", readme_blocks())
def test_readme_block(language, block, clone):
    tmp, env = clone
    skip = SKIP_MARKER.search(block)
    if skip:
        pytest.skip(f"marked in the README: {skip.group(1).strip() or 'readme-test: skip'}")
    script = block if language == "python" else without_install_lines(block)
    if not [line for line in script.splitlines() if line.strip() and not line.lstrip().startswith("#")]:
        pytest.skip("install lines only")
    if uses_default_models(language, script):
        provide_default_models(tmp)

    if language == "python":
        (tmp / "readme_block.py").write_text(script, "utf-8")
        out = check(run([sys.executable, "readme_block.py"], tmp, env), "the block")
    elif any(SERVE_LINE.match(line) for line in logical_lines(script)):
        out = run_serving_block(script, tmp, env)
        answer = json.loads(out)
        assert answer["errorCode"] == 0, answer
        assert answer["result"]["ocrResults"][0]["prunedResult"]["rec_texts"], answer
        return
    else:
        out = check(run(["bash", "-e", "-o", "pipefail", "-c", script], tmp, env), "the block")
    assert out.strip(), "the block printed nothing"
    if "output" in script:
        assert any((tmp / "output").iterdir()), "the block wrote nothing to output/"
