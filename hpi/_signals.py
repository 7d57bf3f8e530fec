"""SIGTERM that unwinds: for the length of a block, `finally:` clauses run before the process ends.

A library must not keep a user's signal handlers. `sigterm_unwinds()` changes nothing unless it runs on the main
thread and SIGTERM still has its default action (death). Only then, for the block, a SIGTERM raises
`Terminated`, so clean-ups run (a worker process killed, a scratch folder removed); when it reaches the end of the
block the default action is restored and the signal raised again, so the process ends exactly as SIGTERM would
have ended it (status -15, 143 in a shell), only later. A second SIGTERM during the clean-up ends it at once.
SIGINT needs nothing here: Python's default handler already raises KeyboardInterrupt.
"""
from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator


class Terminated(BaseException):
    """SIGTERM arrived inside `sigterm_unwinds()`: a BaseException, so `except Exception` does not stop it."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


def _raise_terminated(signum, frame) -> None:
    signal.signal(signum, signal.SIG_DFL)  # a second SIGTERM during the clean-up ends the process at once
    raise Terminated(signum)


@contextlib.contextmanager
def sigterm_unwinds() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield  # someone chose what SIGTERM does here (or cannot be asked to): leave it to them
        return
    signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    except Terminated as exc:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(exc.signum)  # the default action: the process ends here
        raise SystemExit(128 + exc.signum) from exc  # only if the signal did not end it
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
