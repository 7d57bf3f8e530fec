"""Faults around a real conversion: the caller killed (SIGKILL, SIGTERM, SIGINT), what the next run finds, the
warnings ONNX Runtime prints on load, and the modes of the files written under a umask."""
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from hpi._signals import sigterm_unwinds

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the worker through /proc")

WORKER_MODULE = "hpi.runtime.converters._worker"
GONE_WITHIN_S = 15  # generous: the worker is expected gone at once


def start_convert(model_dir, *extra):
    # SIGINT's default action in the child, however pytest was started: a shell's background job (`make test &`)
    # inherits SIGINT ignored, and Python then leaves it ignored, so the child would never see the SIGINT sent below
    return subprocess.Popen([sys.executable, "-m", "hpi", "convert", "--model_dir", str(model_dir), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _stat_fields(pid):
    """(state, ppid) of a process, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) ", comm may hold spaces
    return fields[0], int(fields[1])


def alive(pid):
    fields = _stat_fields(pid)
    return fields is not None and fields[0] not in ("Z", "X")  # a zombie has ended, only not yet reaped


def worker_of(parent_pid):
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (_stat_fields(entry.name) or (None, None))[1] == parent_pid:
            try:
                if WORKER_MODULE in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    return int(entry.name)
            except OSError:
                pass
    return None


def wait_for_worker(proc, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        pid = worker_of(proc.pid)
        if pid is not None:
            return pid
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the conversion worker never started")


def seconds_until_gone(pid, limit=GONE_WITHIN_S):
    """Seconds until `pid` ended, or None if it still runs after `limit` (then it is killed here)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if not alive(pid):
            return time.monotonic() - started
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    return None


def scratch_dirs(folder):
    return sorted(p.name for p in Path(folder).glob(".hpi-convert-*"))


@pytest.fixture(scope="module")
def after_sigkill(models_root, tmp_path_factory):
    """A real conversion of PP-OCRv4_mobile_rec whose `hpi convert` was SIGKILLed once its worker ran, then the
    next `hpi convert` of the same model, with scratch folders of other targets and of older versions about."""
    model_dir = tmp_path_factory.mktemp("sigkill") / "rec"
    shutil.copytree(models_root / "PP-OCRv4_mobile_rec", model_dir)
    proc = start_convert(model_dir)
    worker = wait_for_worker(proc)
    proc.kill()
    proc.communicate()
    gone_s = seconds_until_gone(worker)
    stale = scratch_dirs(model_dir)
    finished = [name for name in stale if (model_dir / name / "report.json").exists()]

    others = {".hpi-convert-other.onnx-0123456789ab": 0,  # another target's: its lock, maybe at work
              ".hpi-convert-k2j3h4g5": 0,  # converter 1 (no target in the name), recent: maybe at work
              ".hpi-convert-a1b2c3d4": 7200}  # converter 1, untouched for two hours: dead
    for name, age in others.items():
        (model_dir / name).mkdir()
        (model_dir / name / "raw.onnx").write_bytes(b"partial")
        os.utime(model_dir / name, (time.time() - age, time.time() - age))
    again = subprocess.run([sys.executable, "-m", "hpi", "convert", "--model_dir", str(model_dir)],
                           capture_output=True, text=True, timeout=900)
    return SimpleNamespace(model_dir=model_dir, gone_s=gone_s, stale=stale, finished=finished, again=again)


def test_sigkill_ends_the_worker_and_the_next_run_removes_its_scratch(after_sigkill):
    assert after_sigkill.gone_s is not None, f"the worker still ran {GONE_WITHIN_S} s after its parent died"
    assert len(after_sigkill.stale) == 1 and after_sigkill.finished == []  # killed mid-way, its scratch left
    assert after_sigkill.again.returncode == 0, after_sigkill.again.stderr
    assert "converted in" in after_sigkill.again.stdout
    assert scratch_dirs(after_sigkill.model_dir) == [".hpi-convert-k2j3h4g5", ".hpi-convert-other.onnx-0123456789ab"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_and_sigint_kill_the_worker_and_remove_the_scratch(models_root, tmp_path, signum):
    model_dir = tmp_path / "cls"
    shutil.copytree(models_root / "ch_ppocr_mobile_v2_cls_infer", model_dir)
    proc = start_convert(model_dir)
    worker = wait_for_worker(proc)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    # ended by the signal itself after the clean-up (SIGTERM's default action, or Python's exit after an uncaught
    # KeyboardInterrupt), or the shell's 128 + signal
    assert proc.returncode in (-signum, 128 + signum), err
    assert seconds_until_gone(worker) is not None
    assert sorted(p.name for p in model_dir.iterdir()) == [".inference.onnx.lock", "inference.pdiparams",
                                                         "inference.pdmodel"]


def test_converted_onnx_loads_without_unused_initializers(after_sigkill):
    onnx_path = after_sigkill.model_dir / "inference.onnx"
    code = "import onnxruntime, sys; onnxruntime.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])"
    done = subprocess.run([sys.executable, "-c", code, str(onnx_path)], capture_output=True, text=True, check=True)
    assert "Removing initializer" not in done.stderr  # ONNX Runtime warns at its default log level
    assert "onnx_cleanup" in (after_sigkill.model_dir / "inference.onnx.hpi.json").read_text()


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_written_files_follow_the_umask(models_root, tmp_path, umask):
    model_dir = tmp_path / "cls"
    shutil.copytree(models_root / "ch_ppocr_mobile_v2_cls_infer", model_dir)
    out = tmp_path / "out"
    code = ("import os, sys; from pathlib import Path; os.umask(int(sys.argv[1], 8))\n"
            "from hpi._fs import atomic_write; from hpi.runtime.converters import convert_to_onnx\n"
            "atomic_write(Path(sys.argv[3]) / 'atomic.txt', b'x')\n"
            "convert_to_onnx(sys.argv[2], save_file=Path(sys.argv[3]) / 'inference.onnx')")
    subprocess.run([sys.executable, "-c", code, oct(umask), str(model_dir), str(out)], check=True,
                   capture_output=True)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [out, *out.iterdir()]}
    assert modes == {"out": 0o777 & ~umask, "atomic.txt": 0o666 & ~umask, ".inference.onnx.lock": 0o666 & ~umask,
                     "inference.onnx": 0o666 & ~umask, "inference.onnx.hpi.json": 0o666 & ~umask}


@pytest.mark.skipif(signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL, reason="SIGTERM is handled here")
def test_sigterm_unwinds_only_borrows_a_default_handler():
    # Earlier tests in this process may have left a handler of their own (ray.init installs one): start from
    # the default, as a fresh process does, and put theirs back after.
    before = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        _check_sigterm_unwinds_borrows_only_the_default()
    finally:
        signal.signal(signal.SIGTERM, before)


def _check_sigterm_unwinds_borrows_only_the_default():
    with sigterm_unwinds():
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

    def mine(signum, frame):
        pass

    signal.signal(signal.SIGTERM, mine)
    try:
        with sigterm_unwinds():
            assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    seen = []

    def off_the_main_thread():
        with sigterm_unwinds():
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=off_the_main_thread)
    thread.start()
    thread.join()
    assert seen == [signal.SIG_DFL]
