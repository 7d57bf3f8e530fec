"""`hpi serve` as a process: SIGTERM with requests in flight answers each of them and exits 0; usage errors and a
model that cannot be loaded end it with the CLI's exit codes."""
import subprocess
import sys
import threading
import time

import pytest
from helpers import REPO
from serving_helpers import ServeProcess, b64, get, metric, post

from hpi.cli import main


def test_sigterm_answers_every_accepted_request_then_exits_0(tiny_model_dir, samples_dir):
    server = ServeProcess("--model_dir", str(tiny_model_dir), "--use_hpip", "--device", "cpu",
                          "--batch_wait_ms", "1500")  # requests wait in the queue: in flight when SIGTERM comes
    try:
        line = b64(samples_dir / "hello_world.png")
        answers = {}

        def client(index):
            answers[index] = post(server.url + "/text-recognition", {"file": line, "logId": str(index)})

        threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 20
        while metric(get(server.url + "/metrics")[1], "hpi_queue_lines") < 6:
            assert time.monotonic() < deadline, "the requests were not queued"
            time.sleep(0.02)
        server.terminate()
        for thread in threads:
            thread.join(60)
        code, stderr = server.stop()
    finally:
        server.stop()
    assert code == 0, stderr
    assert "Traceback" not in stderr, stderr
    for index in range(6):
        status, body = answers[index]
        assert status == 200 and body["logId"] == str(index), body
        assert body["result"]["recResults"][0]["recText"] == "Hello World 2026"
    with pytest.raises(OSError):
        get(server.url + "/health", timeout=2)  # nothing listens any more


def test_a_model_that_cannot_be_loaded_ends_serve_with_status_1(tmp_path):
    run = subprocess.run([sys.executable, "-m", "hpi", "serve", "--model_dir", str(tmp_path), "--port", "0"],
                         capture_output=True, text=True, cwd=REPO, timeout=60)
    assert run.returncode == 1, run.stderr
    assert "hpi: error:" in run.stderr and str(tmp_path) in run.stderr


def test_usage_errors_exit_2_before_anything_loads(capsys):
    assert main(["serve"]) == 2
    assert "give --model_name, --model_dir, or both" in capsys.readouterr().err
    assert main(["serve", "--model_dir", str(REPO), "--max_lines_per_request", "9", "--max_queue_lines", "8"]) == 2
    assert "must not exceed max_queue_lines" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["serve", "--model_dir", str(REPO), "--port", "x"])
    assert exit_info.value.code == 2


def test_a_missing_serve_extra_is_named():
    from hpi._deps import require
    from hpi.errors import MissingDependencyError

    for module in ("fastapi.__no_such_module__", "uvicorn.__no_such_module__"):
        with pytest.raises(MissingDependencyError, match=r'pip install "\.\[serve\]" in an hpi checkout'):
            require(module)
