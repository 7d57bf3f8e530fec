"""File-system safety used wherever hpi writes: atomic writes, a lock between processes, scratch folders.

Files and folders hpi leaves behind get the modes the process umask allows, as `open()` and `mkdir` give.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import Iterator, List


def current_umask() -> int:
    """The process umask, read without setting it (os.umask can only swap it, racing other threads' files)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:  # Linux 4.7+
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temp file beside `path`, then rename: readers never see a half-written file.

    The temp file is created with mode 0o666 less the umask, as `open(path, "wb")` would (mkstemp's 0o600 would
    make every file private).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def umask_modes(folder: Path) -> None:
    """Give `folder` and everything in it the modes made here would have: 0o777 / 0o666 less the umask.

    For a tree made by mkdtemp (0o700) or extracted from an archive (its own modes) before it is renamed into place.
    """
    mask = current_umask()
    for root, _, files in os.walk(folder):
        os.chmod(root, 0o777 & ~mask)
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~mask)


SCRATCH_TAG = r"[0-9a-f]{12}"  # what make_scratch_dir appends to the prefix
MKDTEMP_TAG = r"[a-z0-9_]{8}"  # what tempfile.mkdtemp appended (folders of older hpi versions)


def make_scratch_dir(parent: Path, prefix: str) -> Path:
    """A new private folder `<prefix><12 hex digits>` in `parent`: name it in `remove_scratch_dirs` by
    `re.escape(prefix) + SCRATCH_TAG`."""
    path = Path(parent) / f"{prefix}{secrets.token_hex(6)}"
    path.mkdir(mode=0o700)
    return path


def remove_scratch_dirs(parent: Path, name: str, older_than_s: float = 0.0) -> List[str]:
    """Remove the folders in `parent` whose whole name matches the regex `name` (and untouched for `older_than_s`).

    For scratch folders of a process that died mid-way. Call it only while holding the lock that their owners
    hold while they work (`file_lock` yielding True), so that none of them is still in use.
    """
    pattern, removed, now = re.compile(name), [], time.time()
    with os.scandir(parent) as entries:
        for entry in entries:
            if pattern.fullmatch(entry.name) and entry.is_dir(follow_symlinks=False) and \
                    now - entry.stat(follow_symlinks=False).st_mtime >= older_than_s:
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.name)
    return sorted(removed)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[bool]:
    """An exclusive lock between processes (POSIX flock) held for the block; the lock file stays, empty.

    Yields True. On Windows there is no such lock here and it yields False; atomic renames still keep every file
    whole.
    """
    try:
        import fcntl
    except ImportError:
        yield False
        return
    with open(path, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def sha256_files(*paths: Path) -> str:
    """SHA-256 over the contents of `paths` in order, read in blocks (model weights can be large)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
