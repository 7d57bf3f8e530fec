import json
import subprocess
import sys

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
