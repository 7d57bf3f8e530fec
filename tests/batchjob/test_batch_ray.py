"""`hpi batch --ray` on a local Ray cluster of 2 CPUs (one cluster for the module: Ray starts slowly)."""
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.data")

from hpi.batchjob import run_batch  # noqa: E402
from hpi.cli import main  # noqa: E402

pytestmark = pytest.mark.slow  # a Ray cluster (make test-slow); the in-process batch job is in test_batch.py


@pytest.fixture(scope="module", autouse=True)
def cluster():
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")  # a new cluster
    yield
    ray.shutdown()


def test_ray_gives_predicts_texts_and_records_the_bad_file(corpus, tiny_dir, check_texts, read_jsonl, tmp_path):
    summary = run_batch(corpus.root, tmp_path / "out", model_dir=tiny_dir, use_hpip=True, ray=True, num_workers=2,
                        chunk_size=5)
    assert (summary.results, summary.errors, summary.skipped, summary.ray, summary.workers) == \
        (len(corpus.good), 1, 0, True, 2)
    check_texts(read_jsonl(summary.results_path), corpus.good)
    errors = read_jsonl(tmp_path / "out" / "errors.jsonl")
    assert [e["input_path"] for e in errors] == [corpus.bad] and "decoded" in errors[0]["error"]
    assert ray.is_initialized()  # a cluster it did not start is left running


def test_ray_resumes_an_in_process_run_from_the_cli(corpus, tiny_dir, check_texts, read_jsonl, tmp_path,
                                                   capsys):
    half = tmp_path / "half.txt"
    half.write_text("\n".join(corpus.good[:10]) + "\n", encoding="utf-8")
    assert run_batch(half, tmp_path / "out", model_dir=tiny_dir, use_hpip=True).results == 10
    assert main(["batch", "-i", str(corpus.list_file), "-o", str(tmp_path / "out"), "--model_dir", str(tiny_dir),
                 "--use_hpip", "--ray", "--num_workers", "1", "--quiet"]) == 0
    assert f"{len(corpus.good) - 10} lines done, 10 inputs skipped as already done, 1 errors" in \
        capsys.readouterr().out
    check_texts(read_jsonl(tmp_path / "out" / "results.jsonl"), corpus.good)


def test_a_model_no_actor_can_load_fails_with_its_reason(corpus, tiny_dir, tmp_path):
    import shutil

    from hpi.errors import BackendError

    broken = tmp_path / "model"
    shutil.copytree(tiny_dir, broken)
    (broken / "inference.onnx").write_bytes(b"\x08\x07garbage")
    with pytest.raises(BackendError, match="Ray Data job failed .*no backend could run"):
        run_batch(corpus.root, tmp_path / "out", model_dir=broken, use_hpip=True, ray=True, num_workers=1)
    assert run_batch(corpus.good[:1], tmp_path / "out", model_dir=tiny_dir, use_hpip=True).results == 1  # unlocked
