"""What `hpi batch` reads: folders, glob patterns and list files, turned lazily into absolute image paths.

Each input is checked when the job is planned (it exists, a folder or pattern holds at least one image), so a typo
is a usage error before any model loads; the paths themselves are enumerated as the job consumes them, so a folder
of millions of crops is never listed whole. Paths are made absolute with `os.path.abspath` (no `stat`): they are
the keys that resume compares, whatever folder a later run starts in, and what Ray workers open.
"""
from __future__ import annotations

import glob
import itertools
import os
from typing import Callable, Iterable, Iterator, List, Sequence, Union

from ..errors import ConfigError
from ..inputs import IMAGE_SUFFIXES, PDF_SUFFIX

# What a folder or a pattern contributes: the files hpi.inputs reads (images, multi-page TIFF and PDF).
SUFFIXES = tuple(IMAGE_SUFFIXES) + (PDF_SUFFIX,)
LIST_SUFFIX = ".txt"
GLOB_CHARS = frozenset("*?[")

PathLike = Union[str, "os.PathLike[str]"]


def has_suffix(name: str) -> bool:
    return name.lower().endswith(SUFFIXES)


def plan_inputs(inputs: Union[PathLike, Sequence[PathLike]]) -> Callable[[], Iterator[str]]:
    """Check `inputs` (one or a list of: a folder, a glob pattern, a `.txt` list file, an image file) now and
    return a function that enumerates their absolute paths, lazily, each time it is called (the progress line
    counts them on a second pass)."""
    given: List[str] = [os.fspath(inputs)] if isinstance(inputs, (str, os.PathLike)) else \
        [os.fspath(entry) for entry in inputs]
    if not given:
        raise ConfigError("no input given: name a folder, a glob pattern, a .txt list of paths or image files")
    makers = [_plan_one(text) for text in given]
    return lambda: _once_each(itertools.chain.from_iterable(make() for make in makers))


def _once_each(paths: Iterable[str]) -> Iterator[str]:
    """Each path the first time it comes: inputs that overlap (a folder and a glob of its files, a list naming a
    file twice) gave two records for one input. Holds the paths seen, as resume holds the paths done."""
    seen = set()
    for path in paths:
        if path not in seen:
            seen.add(path)
            yield path


def _plan_one(text: str) -> Callable[[], Iterator[str]]:
    path = os.path.expanduser(text)
    if os.path.isdir(path):
        make, empty = (lambda: walk_folder(path)), "is a folder that holds no image or PDF files"
    elif os.path.isfile(path):
        if path.lower().endswith(LIST_SUFFIX):
            return lambda: read_list_file(path)  # an empty list is an empty job, not an error
        return lambda: iter([os.path.abspath(path)])  # any other file is one input (a bad one is reported as such)
    elif GLOB_CHARS & set(text):
        make, empty = (lambda: glob_images(path)), "is a glob pattern that matches no image or PDF files"
    else:
        raise ConfigError(f"input {text!r} does not exist (give a folder, a glob pattern, a .txt list or a file)")
    if next(make(), None) is None:  # reads one folder entry (or pattern match) at most, not the whole tree
        raise ConfigError(f"input {text!r} {empty}")
    return make


def walk_folder(folder: str) -> Iterator[str]:
    """Image and PDF files under `folder`, recursively, depth first, each folder's entries sorted by name.

    One folder's listing is held at a time (sorted); entry types come from the listing itself (no `stat` per
    file on Linux). Symbolic links to folders are not followed, as `Path.rglob` does not. An entry named like an
    image that is not a file (a FIFO, a device) is an input too, reported as not a regular file when it is read,
    not skipped without a record."""
    try:
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError:
        return  # an unreadable subfolder contributes nothing (a top-level one was checked when planned)
    for entry in entries:
        try:
            if entry.is_dir(follow_symlinks=False):
                yield from walk_folder(entry.path)
            elif has_suffix(entry.name):
                yield os.path.abspath(entry.path)
        except OSError:
            continue


def glob_images(pattern: str) -> Iterator[str]:
    """Image and PDF files matching `pattern` (`**` spans folders), in the order the file system lists them."""
    for match in glob.iglob(pattern, recursive=True):
        if has_suffix(match):
            yield os.path.abspath(match)


def read_list_file(list_path: str) -> Iterator[str]:
    """The paths of a list file, one per line; PaddleOCR's `labels.txt` lines (`path<TAB>text`) give their path.

    Blank lines are skipped; relative paths resolve against the list's folder. An entry without an image
    suffix that is a folder is walked; any other entry is passed on as it is, to be reported if it cannot be read."""
    base = os.path.dirname(os.path.abspath(list_path))
    with open(list_path, encoding="utf-8-sig") as lines:
        for line in lines:
            entry = line.rstrip("\r\n").split("\t", 1)[0].strip()
            if not entry:
                continue
            path = os.path.join(base, os.path.expanduser(entry))  # an absolute entry stays itself
            if not has_suffix(path) and os.path.isdir(path):
                yield from walk_folder(path)
            else:
                yield os.path.abspath(path)


def chunked(items: Iterable[str], size: int) -> Iterator[List[str]]:
    """Lists of up to `size` consecutive items."""
    iterator = iter(items)
    while True:
        chunk = list(itertools.islice(iterator, size))
        if not chunk:
            return
        yield chunk
