import json
import os
import shlex
import shutil
import subprocess
import sys

import pytest
from helpers import DATA, model_dir_or_skip

from hpi.cli import main


def test_cli_prints_results_and_saves_json_and_image(v4_onnx_dir, samples_dir, tmp_path, capsys):
    code = main(["text_recognition", "-i", str(samples_dir / "hello_world.png"), "--model_dir", str(v4_onnx_dir),
                 "--device", "cpu", "--enable_hpi", "True", "--batch_size", "2", "--save_path", str(tmp_path)])
    assert code == 0
    captured = capsys.readouterr()
    printed = json.loads(captured.out)
    assert printed["res"]["rec_text"] == "Hello World 2026"
    assert "backend: " in captured.err
    assert json.loads((tmp_path / "hello_world_res.json").read_text("utf-8"))["rec_text"] == "Hello World 2026"
    assert (tmp_path / "hello_world_res.png").stat().st_size > 0


def test_python_dash_m_and_clear_errors(tmp_path):
    run = subprocess.run([sys.executable, "-m", "hpi", "text_recognition", "-i", "x.png", "--model_dir",
                          str(tmp_path / "missing")], capture_output=True, text=True)
    assert run.returncode == 2
    assert "model_dir" in run.stderr and "does not exist" in run.stderr
    assert "Traceback" not in run.stderr


# -- exit status: 0 success, 1 runtime failure, 2 usage error (before any download or model load), 130 Ctrl-C --
MODEL = "PP-OCRv4_mobile_rec"


def hpi(*args, env=None, **kwargs):
    return subprocess.run([sys.executable, "-m", "hpi", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300, **kwargs)


@pytest.fixture
def offline(tmp_path):
    """Downloads fail fast: the mirror is a closed loopback port, PaddleX's hosts are left out and, were they
    tried, their proxy is that closed port too; no GPU is visible; caches go to tmp_path."""
    closed = "http://127.0.0.1:9"
    return {"HPI_MODEL_MIRROR": f"{closed}/closed", "HPI_MODEL_SOURCES": "mirror", "HPI_DOWNLOAD_TIMEOUT": "2",
            "http_proxy": closed, "https_proxy": closed, "PADDLE_PDX_CACHE_HOME": str(tmp_path / "paddlex"),
            "HPI_CACHE_HOME": str(tmp_path / "hpi"), "CUDA_VISIBLE_DEVICES": ""}


def test_a_failed_download_exits_1(offline, samples_dir):
    run = hpi("text_recognition", "-i", samples_dir / "hello_world.png", "--model_name", MODEL, "--device", "cpu",
              env=offline)
    assert run.returncode == 1
    assert f"could not download model '{MODEL}'" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("args, message", [
    (["text_recognition", "-i", "x.png", "--model_name", MODEL, "--batch_size", "0"],
     "argument --batch_size: expected an integer >= 1, got '0'"),
    (["text_recognition", "-i", "x.png", "--model_name", MODEL, "--device", "gpu"],
     "argument --device: device 'gpu:0' was asked for, but no NVIDIA GPU is visible here"),
    (["text_recognition", "-i", "x.png", "--model_name", MODEL, "--hpi_config", "{tmp}/turbo.yaml"],
     "hpi: error: hpi_config.backend_config keys ['turbo'] are options of no backend"),
    (["benchmark", "--model_name", MODEL, "--output", "{tmp}/out", "--threads", "2,0"],
     "argument --threads: expected a comma list of integers >= 1, got '2,0'"),
])
def test_usage_errors_exit_2_before_any_download(args, message, offline, tmp_path):
    (tmp_path / "turbo.yaml").write_text("backend_config:\n  turbo: 1\n")
    run = hpi(*[a.format(tmp=tmp_path) for a in args], env=offline)
    assert (run.returncode, message in run.stderr) == (2, True), run.stderr
    assert "could not download" not in run.stderr and "Traceback" not in run.stderr


def test_a_backend_failure_exits_1(v4_onnx_dir, tmp_path, capsys):
    broken = tmp_path / "model"
    shutil.copytree(v4_onnx_dir, broken)
    (broken / "inference.onnx").write_bytes(b"\x08\x07garbage")
    code = main(["text_recognition", "-i", "x.png", "--model_dir", str(broken), "--use_hpip", "--device", "cpu"])
    assert code == 1
    assert "hpi: error: no backend could run" in capsys.readouterr().err


def test_a_reader_that_leaves_early_ends_hpi_quietly():
    # `| head -1` meets the closed pipe most times, not always; `| true` has left before hpi writes anything.
    for command in ["models --json | head -1", "models --json | true", "models | true"]:
        run = subprocess.run(f"{shlex.quote(sys.executable)} -m hpi {command}; echo \"hpi exit ${{PIPESTATUS[0]}}\" >&2",
                             shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=120)
        assert run.stderr in ("hpi exit 0\n", "hpi exit 1\n"), run.stderr  # 1 when a write met the closed pipe
        assert run.stdout == ("[\n" if "head" in command else "")


def test_benchmark_dataset_errors_are_one_line_naming_the_file_and_line(v4_paddle_dir, samples_dir, tmp_path):
    from hpi.tasks.text_recognition.labels import DatasetError, read_dataset
    from hpi.errors import HPIError

    run = hpi("benchmark", "--model_dir", v4_paddle_dir, "--output", tmp_path / "out", "--dataset", "nope")
    assert run.returncode == 2
    assert run.stderr.splitlines() == ["hpi: error: dataset 'nope' is not a folder (expected one holding labels.txt, "
                                       "\"relative/path<TAB>text\" per line)"]
    dataset = tmp_path / "lines"
    dataset.mkdir()
    shutil.copy(samples_dir / "hello_world.png", dataset / "a.png")
    (dataset / "labels.txt").write_text("a.png\tHello World 2026\n\na.png Hello World 2026\n", encoding="utf-8")
    run = hpi("benchmark", "--model_dir", v4_paddle_dir, "--output", tmp_path / "out", "--dataset", dataset)
    assert run.returncode == 2
    assert run.stderr.splitlines() == [f"hpi: error: {dataset / 'labels.txt'} line 3: expected "
                                       "\"relative/path<TAB>text\", got 'a.png Hello World 2026'"]
    with pytest.raises(DatasetError, match=r"labels.txt line 3: expected") as error:  # the API gets it too
        read_dataset(dataset)
    assert isinstance(error.value, HPIError)
    (dataset / "labels.txt").write_text("a.png\tHello\nb.png\tWorld\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"labels.txt line 2: image 'b.png' not found"):
        read_dataset(dataset)


@pytest.mark.parametrize("args", [["text_recognition", "-i", "{samples}/hello_world.png", "--model_dir", "{paddle}"],
                                  ["tune", "--model_dir", "{onnx}", "--lines", "2"]])
def test_a_gpu_asked_for_on_this_machine_fails_clearly(args, offline, v4_paddle_dir, v4_onnx_dir, samples_dir,
                                                        tmp_path):
    args = [a.format(samples=samples_dir, paddle=v4_paddle_dir, onnx=v4_onnx_dir) for a in args]
    run = hpi(*args, "--device", "gpu", env=offline)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.splitlines()[-1] == (
        f"hpi {args[0]}: error: argument --device: device 'gpu:0' was asked for, but no NVIDIA GPU is visible here "
        "(CUDA_VISIBLE_DEVICES='' hides every GPU); use device='cpu'")
    assert not (tmp_path / "hpi").exists()  # tune cached nothing


def test_ctrl_c_exits_130_with_one_line(monkeypatch, capsys):
    import hpi.cli.models

    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(hpi.cli.models, "run", interrupted)
    assert main(["models"]) == 130
    assert capsys.readouterr().err == "hpi: interrupted\n"


def test_cli_skips_bad_inputs_and_lists_them(v4_onnx_dir, samples_dir, tmp_path, capsys):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    good = str(samples_dir / "hello_world.png")
    argv = ["text_recognition", "-i", good, str(empty), good, "--model_dir", str(v4_onnx_dir), "--device", "cpu",
            "--use_hpip", "--save_path", str(tmp_path / "out")]
    assert main(argv) == 1  # PaddleX's way by default: the first bad input stops the run, with its name
    captured = capsys.readouterr()
    assert "empty.png" in captured.err and "Traceback" not in captured.err
    assert main(argv + ["--on_bad_input", "skip"]) == 0
    captured = capsys.readouterr()
    assert captured.out.count("Hello World 2026") == 2
    assert "empty.png" in captured.err and "1 bad input(s) skipped" in captured.err
    # the same file name twice in one call: two result files, none overwritten
    assert sorted(p.name for p in (tmp_path / "out").glob("*.json")) == ["hello_world_1_res.json",
                                                                         "hello_world_res.json"]


# -- the parser loads nothing heavy; the model options are read once --------------------------------------------
def test_help_imports_no_serving_stack_numpy_or_opencv():
    """`hpi --help` and `hpi serve --help` build every command's parser: none of them may import the serving stack
    (FastAPI, uvicorn), NumPy or OpenCV; checks that need them run when a value is parsed."""
    code = ("import sys\n"
            "from hpi.cli import main\n"
            "for argv in (['--help'], ['serve', '--help'], ['ocr', '--help']):\n"
            "    try:\n"
            "        main(argv)\n"
            "    except SystemExit:\n"
            "        pass\n"
            "heavy = ('hpi.serving', 'fastapi', 'uvicorn', 'numpy', 'cv2', 'PIL', 'hpi.runtime', 'hpi.pipelines')\n"
            "print([m for m in heavy if m in sys.modules], file=sys.stderr)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stderr.strip() == "[]", run.stderr


# Runs hpi.cli.main(argv) and counts the times the process opens the file named first (an audit hook sees every
# open(), Python's and the C extensions' alike through io.open/os.open).
COUNT_OPENS = """
import os, sys
target, opened = os.path.realpath(sys.argv[1]), []

def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)) \\
            and os.path.realpath(os.fsdecode(args[0])) == target:
        opened.append(event)

sys.addaudithook(hook)
from hpi.cli import main
code = main(sys.argv[2:])
print(f"exit {code}, opened {len(opened)}", file=sys.stderr)
"""


@pytest.mark.parametrize("command", ["text_recognition", "ocr", "batch"])
def test_hpi_config_file_is_read_once(command, models_root, tmp_path):
    config = tmp_path / "f.yaml"
    config.write_text("backend: onnxruntime\nbackend_config:\n  cpu_num_threads: 1\n", encoding="utf-8")
    rec = model_dir_or_skip(models_root, "PP-OCRv4_mobile_rec_onnx")
    if command == "ocr":
        det = model_dir_or_skip(models_root, "PP-OCRv4_mobile_det_onnx")
        models = ["--text_detection_model_dir", det, "--text_recognition_model_dir", rec,
                  "--use_textline_orientation", "False"]
        image = DATA / "ocr_images" / "ppocr_00009282.jpg"
    else:
        models, image = ["--model_dir", rec], DATA / "samples" / "hello_world.png"
    if command == "batch":
        models += ["-o", tmp_path / "out", "--quiet"]
    argv = [command, "-i", image, "--hpi_config", config, "--use_hpip", "--device", "cpu", *models]
    run = subprocess.run([sys.executable, "-c", COUNT_OPENS, config, *map(str, argv)], capture_output=True,
                         text=True, timeout=300)
    assert run.stderr.splitlines()[-1] == "exit 0, opened 1", run.stderr[-2000:]
