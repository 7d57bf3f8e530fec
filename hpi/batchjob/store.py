"""Where `hpi batch` writes, and how a later run knows what is done.

OUT/results.jsonl   one JSON object per line: {"input_path", "page_index", "rec_text", "rec_score"}
OUT/results.parquet a folder of part-NNNNNN.parquet files with those columns (each part renamed into place whole)
OUT/errors.jsonl    {"input_path", "error"} for each input that could not be read
OUT/.hpi-batch.lock held (flock) for the length of a run: a second run on the same OUT is refused

Records are buffered and written in chunks, each as whole lines in one `write` (or one part file), so a killed run
loses at most the chunk in flight. A chunk that fails to write (a full disk, an I/O error) is cut back off the file
and the run stops with an `OutputError`; nothing is written after it, and its inputs are done again next time.
Opening the store reads the `input_path` of every record already there: those inputs are done (errors too, unless
retried). A torn last line, which only a crash in the middle of a write leaves (or a failed write whose cut failed
too), is cut off, and its input is done again.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Callable, List, Optional, Set, Tuple

from .._deps import require
from .._fs import atomic_write
from ..errors import ConfigError, HPIError
from .records import FIELDS

logger = logging.getLogger(__name__)

RESULTS_JSONL = "results.jsonl"
RESULTS_PARQUET = "results.parquet"
ERRORS_JSONL = "errors.jsonl"
LOCK_FILE = ".hpi-batch.lock"
FORMATS = ("jsonl", "parquet")


class OutputLockedError(HPIError):
    """Another run holds the output folder's lock."""


class OutputError(HPIError):
    """The output folder or one of its files could not be made, read or written; the message names it and gives the
    system's reason (permission denied, no space left on device...)."""


@contextlib.contextmanager
def _reported(action: str, path) -> None:
    """An OSError in the block becomes one line naming `path`: the CLI prints it as it prints every HPIError."""
    try:
        yield
    except OSError as exc:
        raise OutputError(f"could not {action} {path}: {exc.strerror or exc}") from exc


class JsonlFile:
    """A JSON-lines file appended in whole lines."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: Optional[int] = None
        self._sealed = False  # a failed chunk could not be cut off: it must stay the last thing in the file

    def load(self, keep: Callable[[str], None]) -> int:
        """keep(input_path) for every whole record; a torn last line is cut off the file. Returns the number of
        lines dropped (the torn one, and any line that is not a record, which stays in the file)."""
        if not self.path.is_file():
            return 0
        dropped, offset, cut = 0, 0, None
        with open(self.path, "rb") as lines:
            for raw in lines:
                if not raw.endswith(b"\n"):
                    cut, dropped = offset, dropped + 1
                    break
                offset += len(raw)
                try:
                    record = json.loads(raw)
                except ValueError:
                    record = None
                if isinstance(record, dict) and isinstance(record.get("input_path"), str):
                    keep(record["input_path"])
                elif raw.strip():
                    dropped += 1
                    logger.warning("%s: line at byte %d is not a record; left in place, ignored", self.path, offset)
        if cut is not None:
            with _reported("cut the torn last line off", self.path):
                os.truncate(self.path, cut)
            logger.warning("%s: cut a torn last line (a run was stopped while writing); its input is done again",
                           self.path)
        return dropped

    def append(self, records: List[dict]) -> None:
        """The records written whole, or not at all: on a failed write the part written is cut off again."""
        if not records:
            return
        if self._sealed:
            raise OutputError(f"{self.path} takes no more records in this run: a failed write could not be undone")
        data = memoryview("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8"))
        with _reported("open", self.path):
            if self._fd is None:  # 0o666 less the umask, as open() gives
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_BINARY", 0),
                                   0o666)
            size = os.fstat(self._fd).st_size
        try:
            while data:
                data = data[os.write(self._fd, data):]
        except OSError as exc:
            self._cut_back(size)
            raise OutputError(f"could not write {self.path}: {exc.strerror or exc}; the records of this chunk are "
                              f"not in it and are done again on the next run") from exc

    def _cut_back(self, size: int) -> None:
        """The file back to `size` bytes. Should that fail too, nothing more is written to it, so the part of the
        chunk stays at its end, where the next open's load() cuts its torn last line: never between records."""
        try:
            os.ftruncate(self._fd, size)
        except OSError as exc:
            self._sealed = True
            logger.warning("%s: could not cut a failed write back off (%s); the next run cuts it", self.path, exc)

    def truncate(self) -> None:
        with _reported("empty", self.path):
            if self.path.is_file():
                os.truncate(self.path, 0)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                with _reported("write", self.path):
                    os.fsync(fd)
            finally:
                os.close(fd)


_PART = re.compile(r"part-(\d{6,})\.parquet")


class ParquetParts:
    """A folder of Parquet files, one per chunk, each written to a temp file and renamed into place."""

    def __init__(self, folder: Path):
        require("pyarrow")  # before any model loads: names the package to install
        import pyarrow as pa

        self.folder = folder
        self.schema = pa.schema([("input_path", pa.string()), ("page_index", pa.int64()), ("rec_text", pa.string()),
                                 ("rec_score", pa.float64())])
        self._next = 0

    def load(self, keep: Callable[[str], None]) -> int:
        import pyarrow.parquet as pq

        if not self.folder.is_dir():
            return 0
        dropped = 0
        for entry in sorted(os.listdir(self.folder)):
            path = self.folder / entry
            if entry.startswith(".part-") and entry.endswith(".tmp"):
                path.unlink()  # a part that a killed run never renamed into place (we hold the lock)
                continue
            match = _PART.fullmatch(entry)
            if not match:
                continue
            self._next = max(self._next, int(match.group(1)) + 1)
            try:
                column = pq.read_table(path, columns=["input_path"]).column("input_path").to_pylist()
            except Exception as exc:  # not a readable Parquet file: moved aside, its inputs are done again
                path.rename(path.with_name(entry + ".unreadable"))
                logger.warning("%s is not readable (%s): moved aside, its inputs are done again", path, exc)
                dropped += 1
                continue
            for input_path in column:
                keep(input_path)
        return dropped

    def append(self, records: List[dict]) -> None:
        if not records:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pylist([{k: r[k] for k in FIELDS} for r in records], schema=self.schema)
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        part = self.folder / f"part-{self._next:06d}.parquet"
        with _reported("write", part):  # a failed part is never renamed into place: there is no half of it
            atomic_write(part, sink.getvalue().to_pybytes())
        self._next += 1

    def close(self) -> None:
        pass


class ResultStore:
    """An output folder for one run: `open()` locks it, repairs it and returns the input paths already done."""

    def __init__(self, output, fmt: str = "jsonl", *, retry_errors: bool = False, chunk_size: int = 1000):
        if fmt not in FORMATS:
            raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
        self.folder = Path(output)
        other = self.folder / (RESULTS_PARQUET if fmt == "jsonl" else RESULTS_JSONL)
        with _reported("look into the output folder", self.folder):  # a parent we may not search
            if self.folder.exists() and not self.folder.is_dir():
                raise ConfigError(f"output {str(self.folder)!r} exists and is not a folder")
            if other.exists():
                raise ConfigError(f"{other} holds results in the other format: resume with --format "
                                  f"{'parquet' if fmt == 'jsonl' else 'jsonl'}, or choose another output folder")
        self.format = fmt
        self.results_path = self.folder / (RESULTS_JSONL if fmt == "jsonl" else RESULTS_PARQUET)
        self.errors_path = self.folder / ERRORS_JSONL
        self._results = JsonlFile(self.results_path) if fmt == "jsonl" else ParquetParts(self.results_path)
        self._errors = JsonlFile(self.errors_path)
        self.retry_errors = retry_errors
        self.chunk_size = chunk_size
        self._lock_fd: Optional[int] = None
        self._pending_results: List[dict] = []
        self._pending_errors: List[dict] = []
        self.results = self.errors = self.repaired = 0  # written (or cut) by this run

    def open(self) -> Set[str]:
        with _reported("create the output folder", self.folder):
            self.folder.mkdir(parents=True, exist_ok=True)
        self._lock()
        try:
            if self.format == "parquet":
                with _reported("create", self.results_path):
                    self.results_path.mkdir(exist_ok=True)
            done: Set[str] = set()
            with _reported("read", self.results_path):
                self.repaired = self._results.load(done.add)
            if self.retry_errors:
                self._errors.truncate()  # inputs that failed before are done again, and recorded again if they fail
            else:
                with _reported("read", self.errors_path):
                    self.repaired += self._errors.load(done.add)
            return done
        except BaseException:
            self._unlock()
            raise

    def add(self, record: dict) -> None:
        """A result record, or an error record ({"input_path", "error"})."""
        (self._pending_errors if "error" in record else self._pending_results).append(record)

    def counts(self) -> Tuple[int, int]:
        """Results and errors of this run, buffered ones included."""
        return self.results + len(self._pending_results), self.errors + len(self._pending_errors)

    def maybe_flush(self) -> None:
        """Call only where every input added so far is complete (all pages of a document)."""
        if len(self._pending_results) + len(self._pending_errors) >= self.chunk_size:
            self.flush()

    def flush(self) -> None:
        # Taken out of the buffer before writing: a chunk that fails to write is not written again by close()
        # (the file may hold part of it); its inputs are done again next time.
        errors, self._pending_errors = self._pending_errors, []
        self._errors.append(errors)
        self.errors += len(errors)
        results, self._pending_results = self._pending_results, []
        self._results.append(results)
        self.results += len(results)

    def close(self, complete: bool = True) -> None:
        """Flush what is buffered and release the lock. After an interruption (`complete=False`) the records of
        the last input are dropped, since a document's later pages may be missing: it is done again next time."""
        try:
            if not complete:
                self._drop_last_input()
            self.flush()
        finally:
            try:
                self._results.close()
                self._errors.close()
            finally:
                self._unlock()

    def _drop_last_input(self) -> None:
        last = self._pending_results[-1]["input_path"] if self._pending_results else None
        while self._pending_results and self._pending_results[-1]["input_path"] == last:
            self._pending_results.pop()
        self._pending_errors = [e for e in self._pending_errors if e["input_path"] != last]

    def _lock(self) -> None:
        path = self.folder / LOCK_FILE
        try:
            import fcntl
        except ImportError:  # Windows: no lock; two runs on one folder would both append
            return
        with _reported("create the lock file", path):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OutputLockedError(f"output folder {str(self.folder)!r} is in use by another hpi batch run (it "
                                    f"holds {path}); wait for it to end, or choose another output folder") from None
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the flock; the empty file stays
            self._lock_fd = None
