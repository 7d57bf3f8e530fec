"""`hpi batch` in-process: inputs, outputs, errors, resume, repair, the lock, Parquet, the CLI."""
import dataclasses
import errno
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hpi.batchjob import OutputLockedError, run_batch
from hpi.batchjob.sources import plan_inputs
from hpi.batchjob.store import ResultStore
from hpi.cli import main
from hpi.errors import ConfigError, HPIError, MissingDependencyError


@pytest.fixture
def run(tiny_dir):
    def run(inputs, output, **options):
        return run_batch(inputs, output, model_dir=tiny_dir, use_hpip=True, **options)
    return run


def test_a_folder_gives_predicts_texts_and_records_the_bad_file(run, corpus, check_texts, read_jsonl, tmp_path):
    summary = run(corpus.root, tmp_path / "out", chunk_size=7)
    check_texts(read_jsonl(summary.results_path), corpus.good)
    errors = read_jsonl(tmp_path / "out" / "errors.jsonl")
    assert [e["input_path"] for e in errors] == [corpus.bad]
    assert "bad.png" in errors[0]["error"] and "decoded" in errors[0]["error"]
    assert (summary.results, summary.errors, summary.skipped, summary.repaired) == (len(corpus.good), 1, 0, 0)
    assert summary.lines_per_s > 0 and "24 lines done" in str(summary)
    # depth first, each folder sorted: a/ before b/c/ before bad.png
    assert [r["input_path"] for r in read_jsonl(summary.results_path)] == \
        [p for p in corpus.good if "/a/" in p] + [p for p in corpus.good if "/b/c/" in p]


def test_a_list_file_resolves_relative_paths_and_takes_the_path_of_labels_lines(run, corpus, check_texts,
                                                                                 read_jsonl, tmp_path):
    listing = tmp_path / "more.txt"
    listing.write_text(f"{corpus.good[0]}\n\nmissing.png\t some label\n", encoding="utf-8")
    summary = run([corpus.list_file, listing], tmp_path / "out")
    check_texts(read_jsonl(summary.results_path), corpus.good)  # listed twice: once (one record per input)
    errors = read_jsonl(tmp_path / "out" / "errors.jsonl")
    assert [e["input_path"] for e in errors] == [corpus.bad, str(tmp_path / "missing.png")]
    assert "does not exist" in errors[1]["error"]


def test_a_glob_pattern_and_input_checks(corpus, tmp_path):
    assert sorted(plan_inputs(str(corpus.root / "**" / "*.jpg"))()) == corpus.good
    with pytest.raises(ConfigError, match="does not exist"):
        plan_inputs(str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="matches no image"):
        plan_inputs(str(tmp_path / "*.png"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="holds no image"):
        plan_inputs(str(tmp_path / "empty"))


def test_resume_does_only_the_rest(run, corpus, check_texts, read_jsonl, tmp_path):
    half = tmp_path / "half.txt"
    half.write_text("\n".join(corpus.good[:10]) + "\n", encoding="utf-8")
    first = run(half, tmp_path / "out")
    assert (first.results, first.skipped) == (10, 0)
    second = run(corpus.root, tmp_path / "out")
    assert (second.results, second.errors, second.skipped) == (len(corpus.good) - 10, 1, 10)
    check_texts(read_jsonl(second.results_path), corpus.good)  # no duplicates
    third = run(corpus.root, tmp_path / "out")  # all done, the bad file included: no model is loaded
    assert (third.results, third.errors, third.skipped) == (0, 0, len(corpus.good) + 1)
    retried = run(corpus.root, tmp_path / "out", retry_errors=True)
    assert (retried.results, retried.errors, retried.skipped) == (0, 1, len(corpus.good))
    assert len(read_jsonl(tmp_path / "out" / "errors.jsonl")) == 1


def test_a_torn_last_line_is_cut_and_its_input_done_again(run, corpus, check_texts, read_jsonl, tmp_path):
    listing = tmp_path / "some.txt"
    listing.write_text("\n".join(corpus.good[:6]) + "\n", encoding="utf-8")
    results = run(listing, tmp_path / "out").results_path
    data = Path(results).read_bytes()
    Path(results).write_bytes(data[:-25])  # a run killed in the middle of writing its last line
    summary = run(listing, tmp_path / "out")
    assert (summary.results, summary.skipped, summary.repaired) == (1, 5, 1)
    check_texts(read_jsonl(results), corpus.good[:6])


def test_a_second_run_on_the_same_output_is_refused(run, corpus, tiny_dir, tmp_path, capsys):
    holder = ResultStore(tmp_path / "out")
    holder.open()
    try:
        with pytest.raises(OutputLockedError, match="in use by another hpi batch run"):
            run(corpus.root, tmp_path / "out")
        assert main(["batch", "-i", str(corpus.root), "-o", str(tmp_path / "out"), "--quiet",
                     "--model_dir", str(tiny_dir), "--use_hpip"]) == 1
        assert "in use by another hpi batch run" in capsys.readouterr().err
    finally:
        holder.close()
    assert run(corpus.good[0], tmp_path / "out").results == 1  # released


def test_parquet_output_and_resume(run, corpus, check_texts, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    half = tmp_path / "half.txt"
    half.write_text("\n".join(corpus.good[:10]) + "\n", encoding="utf-8")
    assert run(half, tmp_path / "out", format="parquet").results == 10
    summary = run(corpus.root, tmp_path / "out", format="parquet", chunk_size=5)
    assert (summary.results, summary.skipped) == (len(corpus.good) - 10, 10)
    folder = Path(summary.results_path)
    assert len(list(folder.glob("part-*.parquet"))) == 1 + 3  # one part per chunk: 10, then 5 + 5 + 4 (+ error)
    table = pq.read_table(folder)
    assert table.column_names == ["input_path", "page_index", "rec_text", "rec_score"]
    check_texts(table.to_pylist(), corpus.good)
    with pytest.raises(ConfigError, match="other format"):
        run(corpus.root, tmp_path / "out")  # jsonl on a parquet output


class _Blocker:
    """A meta path finder for which `pyarrow` is not installed."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] == "pyarrow":
            raise ImportError(f"No module named {name!r} (blocked by the test)")
        return None


def test_parquet_without_pyarrow_names_the_package(corpus, tiny_dir, tmp_path, monkeypatch, capsys):
    for name in [m for m in sys.modules if m.split(".")[0] == "pyarrow"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_Blocker()] + sys.meta_path)
    assert main(["batch", "-i", str(corpus.root), "-o", str(tmp_path / "out"), "--format", "parquet",
                 "--model_dir", str(tiny_dir), "--use_hpip"]) == 1
    assert "Install it with: pip install pyarrow" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_missing_ray_names_the_extra():
    from hpi._deps import require

    with pytest.raises(MissingDependencyError, match=r'pip install "\.\[ray\]" in an hpi checkout'):
        require("ray.__not_installed__")


def test_importing_hpi_and_the_batch_job_does_not_import_ray():
    code = "import sys, hpi, hpi.cli, hpi.batchjob, hpi.batchjob.distributed; print('ray' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_cli(corpus, tiny_dir, check_texts, read_jsonl, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["batch", "-i", str(corpus.list_file), "-o", str(out), "--model_dir", str(tiny_dir), "--use_hpip",
                 "--batch_size", "4", "--quiet"]) == 0
    printed = capsys.readouterr()
    assert "24 lines done, 0 inputs skipped as already done, 1 errors" in printed.out
    assert printed.err.count("\r") == 0  # no progress line when quiet (and stderr is no terminal anyway)
    check_texts(read_jsonl(out / "results.jsonl"), corpus.good)
    assert main(["batch", "-i", str(corpus.root), "-o", str(out), "--model_dir", str(tiny_dir), "--use_hpip"]) == 0
    assert "0 lines done, 25 inputs skipped" in capsys.readouterr().out
    for usage in (["-i", str(tmp_path / "nowhere")], ["-i", str(corpus.root), "--address", "auto"],
                  ["-i", str(corpus.root), "--hpi_config", str(tmp_path / "missing.yaml")]):
        assert main(["batch", "-o", str(tmp_path / "other"), "--model_dir", str(tiny_dir), "--use_hpip",
                     *usage]) == 2, usage
    for argparse_usage in (["--format", "csv"], ["--chunk_size", "0"], ["--num_workers", "0"]):
        with pytest.raises(SystemExit) as exit:
            main(["batch", "-i", str(corpus.root), "-o", str(tmp_path / "other"), *argparse_usage])
        assert exit.value.code == 2
    assert not (tmp_path / "other").exists()  # nothing is made before every argument is checked


def test_progress_line(run, corpus, tmp_path, capfd):
    summary = run(corpus.root, tmp_path / "out", progress=True)
    err = capfd.readouterr().err
    assert summary.results == len(corpus.good)
    assert "\r" in err and "lines/s" in err and err.endswith("\n")


def test_records_are_whole_lines_of_json(run, corpus, tmp_path):
    summary = run(corpus.root, tmp_path / "out", chunk_size=1)
    data = Path(summary.results_path).read_bytes()
    assert data.endswith(b"\n") and all(json.loads(line) for line in data.splitlines())
    assert os.stat(summary.results_path).st_mode & 0o777 == 0o666 & ~_umask()


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_ray_workers_share_the_cpus_and_their_backends_take_that_many_threads(tiny_dir, v4_paddle_dir):
    from hpi.batchjob.distributed import RecognizeBatch, WorkerPlan, _worker_spec, plan_workers
    from hpi.runtime.device import parse_device
    from hpi.runtime.model_spec import ModelSpec

    def threaded_hpi_config(hpi_config, use_hpip, model_name, device, threads):
        spec = ModelSpec.of(model_name, None, device, use_hpip, hpi_config).with_threads(threads)
        return dataclasses.asdict(spec.hpi_config)

    cpu = parse_device("cpu")
    assert plan_workers({"CPU": 8.0}, None, cpu) == WorkerPlan(8, 1.0, 1)
    assert plan_workers({"CPU": 8.0}, 4, cpu) == WorkerPlan(4, 2.0, 2)
    assert plan_workers({"CPU": 2.0}, 2, cpu) == WorkerPlan(2, 1.0, 1)
    assert plan_workers({"CPU": 2.0}, 4, cpu) == WorkerPlan(4, 0.5, 1)  # more actors than CPUs: 1 thread each
    assert threaded_hpi_config(None, True, "PP-OCRv6_tiny_rec", cpu, 1)["backend_config"] == \
        {"cpu_num_threads": 1, "num_streams": 1}  # the keys the candidate backends take
    mine = {"backend": "openvino", "backend_config": {"num_streams": 4}}
    assert threaded_hpi_config(mine, True, "PP-OCRv6_tiny_rec", cpu, 3)["backend_config"] == \
        {"cpu_num_threads": 3, "num_streams": 4}  # the named backend's keys only; the user's value wins
    assert threaded_hpi_config(None, False, "PP-OCRv4_mobile_rec", cpu, 2)["backend_config"] == {"cpu_num_threads": 2}

    spec = ModelSpec.of(None, str(tiny_dir), None, True, None)
    worker = RecognizeBatch(_worker_spec(spec, WorkerPlan(2, 1.0, 1), local=True).portable(),
                            batch_size=8, max_image_pixels=None)
    assert (worker.model.config["cpu_num_threads"], worker.model.config.get("num_streams", 1)) == (1, 1)
    worker.model.close()


def test_a_multi_page_tiff_is_one_input_with_a_record_per_page(run, corpus, read_jsonl, tmp_path):
    from PIL import Image

    frames = [Image.open(path).convert("RGB") for path in corpus.good[:2]]
    tiff = tmp_path / "pages.tiff"
    frames[0].save(tiff, save_all=True, append_images=frames[1:])
    first = run(tiff, tmp_path / "out", chunk_size=1)
    records = read_jsonl(first.results_path)
    assert [(r["input_path"], r["page_index"]) for r in records] == [(str(tiff), 0), (str(tiff), 1)]
    assert (run(tiff, tmp_path / "out").skipped, len(read_jsonl(first.results_path))) == (1, 2)


def test_an_interrupted_run_keeps_whole_inputs_only(tmp_path, read_jsonl):
    store = ResultStore(tmp_path / "out")
    store.open()
    for path, page in (("a.png", None), ("doc.pdf", 0), ("doc.pdf", 1)):
        store.add({"input_path": path, "page_index": page, "rec_text": "x", "rec_score": 1.0})
    store.close(complete=False)  # doc.pdf may have more pages that never came: it is done again next time
    assert [r["input_path"] for r in read_jsonl(tmp_path / "out" / "results.jsonl")] == ["a.png"]


def test_ray_client_addresses_are_refused_with_the_way_that_works(corpus, tiny_dir, tmp_path, capsys):
    pytest.importorskip("ray")
    assert main(["batch", "-i", str(corpus.root), "-o", str(tmp_path / "out"), "--model_dir", str(tiny_dir),
                 "--use_hpip", "--ray", "--address", "ray://head:10001"]) == 2
    assert "--address auto" in capsys.readouterr().err and not (tmp_path / "out").exists()


class _FullDisk:
    """The store module's `os`, except that its `fail`-th write to a file named `name` writes half its bytes, and the
    write after it (the loop's next call, for the rest) fails with ENOSPC: the disk filled up in the middle of a
    chunk. With `cut_fails`, cutting a file back fails too (EIO). Every other call is the real one."""

    def __init__(self, name: str, fail: int, cut_fails: bool = False):
        self.name, self.fail, self.cut_fails, self.writes, self.failed = name, fail, cut_fails, 0, False

    def ftruncate(self, fd, size):
        if self.cut_fails:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return os.ftruncate(fd, size)

    def __getattr__(self, attribute):
        return getattr(os, attribute)

    def write(self, fd, data):
        if not os.readlink(f"/proc/self/fd/{fd}").endswith(self.name) or self.failed:
            return os.write(fd, data)
        self.writes += 1
        if self.writes == self.fail:
            return os.write(fd, bytes(data[:len(data) // 2]))
        if self.writes == self.fail + 1:
            self.failed = True  # later writes go through: the disk has room again
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return os.write(fd, data)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="the stub names files by /proc/self/fd")
@pytest.mark.parametrize("name, cut_fails", [("results.jsonl", False), ("errors.jsonl", False),
                                             ("results.jsonl", True)])
def test_a_write_failing_in_the_middle_of_a_chunk_leaves_no_part_of_it(run, corpus, check_texts, read_jsonl,
                                                                      tmp_path, monkeypatch, name, cut_fails):
    import hpi.batchjob.store as store

    full = _FullDisk(name, fail=2 if name == "results.jsonl" else 1, cut_fails=cut_fails)
    monkeypatch.setattr(store, "os", full)
    out = tmp_path / "out"
    with pytest.raises(HPIError) as failed:
        run(corpus.root, out, chunk_size=7)
    message = str(failed.value)
    assert full.failed and "\n" not in message and name in message and "No space left on device" in message
    for path in out.glob("*.jsonl"):  # whole records, then at most the failed chunk's part (its cut failed)
        lines = path.read_bytes().splitlines(keepends=True)
        torn = 1 if cut_fails and path.name == name else 0
        assert all(json.loads(line) for line in lines[:len(lines) - torn]), path
        assert all(line.endswith(b"\n") for line in lines) != bool(torn), path
    monkeypatch.undo()
    summary = run(corpus.root, out)
    assert summary.repaired == (1 if cut_fails else 0)  # the torn line the failed cut left at the end
    check_texts(read_jsonl(out / "results.jsonl"), corpus.good)  # each input exactly once, every line a record
    assert [e["input_path"] for e in read_jsonl(out / "errors.jsonl")] == [corpus.bad]


class _FullDiskForParts:
    """hpi._fs's `os`, except that the file object of its `fail`-th Parquet part writes half its bytes and then fails
    with ENOSPC."""

    def __init__(self, fail: int):
        self.fail, self.parts = fail, 0

    def __getattr__(self, attribute):
        return getattr(os, attribute)

    def fdopen(self, fd, *args, **kwargs):
        handle = os.fdopen(fd, *args, **kwargs)
        if ".part-" in os.readlink(f"/proc/self/fd/{fd}"):
            self.parts += 1
            if self.parts == self.fail:
                def write(data):
                    handle.raw.write(data[:len(data) // 2])
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                handle.write = write
        return handle


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="the stub names files by /proc/self/fd")
def test_a_parquet_part_failing_to_write_leaves_no_part_of_it(run, corpus, check_texts, tmp_path, monkeypatch):
    pq = pytest.importorskip("pyarrow.parquet")
    import hpi._fs

    monkeypatch.setattr(hpi._fs, "os", _FullDiskForParts(fail=2))
    out = tmp_path / "out"
    with pytest.raises(HPIError, match="could not write .*part-000001.parquet: No space left on device"):
        run(corpus.root, out, format="parquet", chunk_size=7)
    assert sorted(p.name for p in (out / "results.parquet").iterdir()) == ["part-000000.parquet"]  # no temp file
    monkeypatch.undo()
    summary = run(corpus.root, out, format="parquet", chunk_size=7)
    assert (summary.skipped, summary.repaired) == (7, 0)
    check_texts(pq.read_table(out / "results.parquet").to_pylist(), corpus.good)


def _unprivileged() -> list:
    """A command prefix under which folder permissions hold: none for a user; for root, its bounding set without the
    capabilities that override them (root would otherwise write into a 0o555 folder)."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        pytest.skip("running as root without setpriv: folder permissions do not apply")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
@pytest.mark.parametrize("where", [".", "out"])
def test_a_read_only_output_folder_is_a_one_line_error(corpus, tiny_dir, tmp_path, where):
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    read_only.chmod(0o555)
    output = read_only / where
    try:
        done = subprocess.run([*_unprivileged(), sys.executable, "-m", "hpi", "batch", "-i", str(corpus.root), "-o",
                               str(output), "--model_dir", str(tiny_dir), "--use_hpip", "--quiet"],
                              capture_output=True, text=True, timeout=120)
    finally:
        read_only.chmod(0o755)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    named = output / ".hpi-batch.lock" if where == "." else output
    assert f"hpi: error: could not create the {'lock file' if where == '.' else 'output folder'} {named}: " \
           f"Permission denied\n" in done.stderr


def test_a_full_disk_is_a_one_line_error_from_the_cli(corpus, tiny_dir, tmp_path, monkeypatch, capsys):
    import hpi.batchjob.store as store

    monkeypatch.setattr(store, "os", _FullDisk("results.jsonl", fail=1))
    assert main(["batch", "-i", str(corpus.root), "-o", str(tmp_path / "out"), "--model_dir", str(tiny_dir),
                 "--use_hpip", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"hpi: error: could not write {tmp_path / 'out' / 'results.jsonl'}: No space left on device;" in err
