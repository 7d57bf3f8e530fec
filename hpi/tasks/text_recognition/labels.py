"""A labeled set in PaddleOCR's format: DATASET/labels.txt, one `relative/path<TAB>text` a line."""
from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

from ...errors import ConfigError


class DatasetError(ConfigError):
    """A benchmark dataset that cannot be read; the message names the file and, for a bad line, its number."""


LABELS_FORMAT = '"relative/path<TAB>text"'


def read_dataset(dataset: Path) -> Tuple[List[str], List[str]]:
    """(image paths, texts) from DATASET/labels.txt, one `relative/path<TAB>text` a line; blank lines are skipped."""
    dataset = Path(dataset)
    if not dataset.is_dir():
        raise DatasetError(f"dataset {str(dataset)!r} is not a folder (expected one holding labels.txt, "
                           f"{LABELS_FORMAT} per line)")
    return read_labels_file(dataset / "labels.txt")


def read_labels_file(labels_file: Path) -> Tuple[List[str], List[str]]:
    """(image paths, texts) of a PaddleOCR labels file; paths are relative to the file's folder."""
    labels_file = Path(labels_file)
    dataset = labels_file.parent
    try:
        text = labels_file.read_text("utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{labels_file} does not exist (expected {LABELS_FORMAT} per line)") from None
    except UnicodeDecodeError as exc:
        line = labels_file.read_bytes().count(b"\n", 0, exc.start) + 1
        raise DatasetError(f"{labels_file} line {line}: not UTF-8 ({exc.reason})") from None
    except OSError as exc:
        raise DatasetError(f"{labels_file} cannot be read: {exc.strerror or exc}") from None
    paths, texts = [], []
    for number, line in enumerate(text.split("\n"), 1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        relative, tab, label = line.partition("\t")
        if not tab or not relative.strip():
            raise DatasetError(f"{labels_file} line {number}: expected {LABELS_FORMAT}, got {line[:80]!r}")
        if not (dataset / relative).is_file():
            raise DatasetError(f"{labels_file} line {number}: image {relative!r} not found in {str(dataset)!r}")
        paths.append(str(dataset / relative))
        texts.append(label)
    if not paths:
        raise DatasetError(f"{labels_file} lists no images (expected {LABELS_FORMAT} per line)")
    return paths, texts
