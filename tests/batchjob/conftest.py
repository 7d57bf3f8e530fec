"""A small corpus for `hpi batch`: real rendered lines in nested folders, a corrupt image, a list file."""
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

CORPUS_LINES = 24


@dataclass(frozen=True)
class Corpus:
    root: Path
    good: List[str]  # absolute paths of the readable lines, sorted
    bad: str  # a .png holding no image
    list_file: Path  # labels.txt style, relative paths, the bad file and a blank line included


@pytest.fixture(scope="session")
def tiny_dir(models_root) -> Path:
    return models_root / "PP-OCRv6_tiny_rec"


@pytest.fixture(scope="session")
def corpus(tmp_path_factory, lines) -> Corpus:
    paths, labels = lines
    root = tmp_path_factory.mktemp("corpus")
    picked = list(range(0, len(paths), len(paths) // CORPUS_LINES))[:CORPUS_LINES]
    rows = []
    for n, index in enumerate(picked):
        relative = Path("a" if n % 2 else "b/c") / Path(paths[index]).name
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(paths[index], root / relative)
        rows.append(f"{relative.as_posix()}\t{labels[index]}")
    (root / "bad.png").write_bytes(b"this is not a PNG file")
    (root / "notes.md").write_text("not an input: a folder lists images only")
    list_file = root / "labels.txt"
    list_file.write_text("\n".join(rows[:5] + [""] + rows[5:] + ["bad.png"]) + "\n", encoding="utf-8")
    good = sorted(str((root / row.split("\t")[0]).resolve()) for row in rows)
    return Corpus(root.resolve(), good, str((root / "bad.png").resolve()), list_file)


@pytest.fixture(scope="session")
def reference(shared_predictor, tiny_dir, corpus) -> Dict[str, Tuple[str, float]]:
    """In-process predict on the readable lines: path -> (text, score)."""
    from hpi import TextRecognition

    model = shared_predictor(TextRecognition, model_dir=tiny_dir, use_hpip=True)
    return {r["input_path"]: (r["rec_text"], r["rec_score"]) for r in model.predict(corpus.good, batch_size=8)}


@pytest.fixture(scope="session")
def check_texts(reference):
    """Records -> each expected path exactly once, with the text (and score) of in-process predict."""
    def check(records, expected_paths):
        assert sorted(r["input_path"] for r in records) == sorted(expected_paths)
        for record in records:
            text, score = reference[record["input_path"]]
            assert record["rec_text"] == text, record["input_path"]
            assert record["rec_score"] == pytest.approx(score, abs=1e-4)
            assert record["page_index"] is None
            assert set(record) == {"input_path", "page_index", "rec_text", "rec_score"}
    return check


@pytest.fixture(scope="session")
def read_jsonl():
    """path -> its records (a function: helpers are not imported from a conftest)."""
    return lambda path: [json.loads(line) for line in Path(path).read_text("utf-8").splitlines()]
