"""What `hpi batch` takes as inputs when they overlap or hold things that are not files."""
import os
import shutil

from hpi.batchjob import run_batch


def test_overlapping_inputs_give_one_record_per_input(tiny_dir, corpus, check_texts, read_jsonl, tmp_path):
    """A folder, a glob of some of its files and a list naming them again gave two records for one input."""
    listed = tmp_path / "again.txt"
    listed.write_text("\n".join(corpus.good[:3] + corpus.good[:1]) + "\n")
    summary = run_batch([corpus.root / "a", str(corpus.root / "a" / "*"), listed], tmp_path / "out",
                        model_dir=tiny_dir, use_hpip=True, chunk_size=4)
    expected = sorted(set([p for p in corpus.good if "/a/" in p] + corpus.good[:3]))
    check_texts(read_jsonl(summary.results_path), expected)
    assert summary.results == len(expected)


def test_a_fifo_in_a_folder_is_recorded_as_an_error_not_skipped(tiny_dir, corpus, reference, read_jsonl, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copyfile(corpus.good[0], folder / "line.png")
    os.mkfifo(folder / "stream.png")
    summary = run_batch(folder, tmp_path / "out", model_dir=tiny_dir, use_hpip=True)
    records = read_jsonl(summary.results_path)
    assert [(r["input_path"], r["rec_text"]) for r in records] == [(str(folder / "line.png"),
                                                                      reference[corpus.good[0]][0])]
    errors = read_jsonl(tmp_path / "out" / "errors.jsonl")
    assert [e["input_path"] for e in errors] == [str(folder / "stream.png")]
    assert "is not a regular file" in errors[0]["error"]
