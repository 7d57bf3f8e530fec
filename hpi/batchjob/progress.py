"""A one-line progress bar on stderr, redrawn at most a few times a second (no dependency).

The number of inputs still to do is counted by a background thread on a second, name-only pass over the inputs,
so the job itself never waits for a listing of millions of files: until the count is in, the line shows counts and
speed without a bar.
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Callable, Container, Iterable, Optional, TextIO

REDRAW_S = 0.2
BAR_WIDTH = 24


class Progress:
    def __init__(self, enabled: bool, stream: Optional[TextIO] = None):
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.total: Optional[int] = None
        self.results = self.errors = 0
        self._started = time.monotonic()
        self._drawn = 0.0
        self._closed = False

    def count_in_background(self, paths: Callable[[], Iterable[str]], done: Container[str]) -> None:
        """Count the paths not in `done` in a daemon thread; the bar appears when the count is in."""
        if not self.enabled:
            return

        def count() -> None:
            total = 0
            try:
                for path in paths():
                    if self._closed:
                        return  # the job ended first: stop listing
                    total += path not in done
            except Exception:  # the count is only for show; the job reports its own errors
                return
            self.total = total

        threading.Thread(target=count, name="hpi-batch-count", daemon=True).start()

    def update(self, results: int, errors: int) -> None:
        self.results, self.errors = results, errors
        now = time.monotonic()
        if self.enabled and now - self._drawn >= REDRAW_S:
            self._drawn = now
            self._draw(now)

    def close(self) -> None:
        self._closed = True
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()

    def _draw(self, now: float) -> None:
        elapsed = max(now - self._started, 1e-9)
        handled = self.results + self.errors
        rate = self.results / elapsed
        text = f"{self.results:,} lines, {self.errors:,} errors, {rate:.1f} lines/s"
        if self.total:
            share = min(handled / self.total, 1.0)
            filled = int(share * BAR_WIDTH)
            eta = (self.total - handled) / (handled / elapsed) if handled else None
            text = (f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {share:6.1%} {handled:,}/{self.total:,} inputs | "
                    f"{text}" + (f" | ETA {_clock(eta)}" if eta is not None else ""))
        self.stream.write(f"\r{text}\033[K")
        self.stream.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
