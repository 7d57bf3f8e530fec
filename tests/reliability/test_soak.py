"""A short soak: many threads through ONE shared TextRecognition for a while, bad inputs mixed in.

Each of THREADS threads sends LINES_PER_THREAD real lines (drawn from DISTINCT_LINES lines whose text was
computed beforehand in one thread, each line alone) in chunks of random sizes, with about one bad input in
BAD_EVERY (0-byte files, garbage bytes, missing paths, empty arrays), half of them through predict() and half
through predict_iter(), and a callback for the bad inputs. Afterwards: no wrong text, every result in its place
with its input_path, every bad input reported once, in its place, with its `.source`; no thread nor file
descriptor left behind; resident memory that stops growing. No timing is asserted: the figures are printed
(`pytest -s`).
"""
import gc
import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import pytest
from helpers import texts

from hpi import TextRecognition
from hpi.inputs import image_size

THREADS = 8
LINES_PER_THREAD = 2000
BAD_EVERY = 50  # about one bad input in this many
DISTINCT_LINES = 160
# Lines up to this width once resized to the model's 48 px height: a mix of the lines that share the 320 px
# minimum (most of the set) and wider ones (batched by width), while the widest lines, which would make the soak
# several times slower without exercising anything else, stay out.
MAX_RESIZED_WIDTH = 480
MAX_CHUNK = 150  # chunk sizes are drawn from 1..MAX_CHUNK: single lines, one window, many windows
BATCH_SIZE = 8
RSS_CHECKPOINTS = 4  # RSS sampled when this many equal parts of the work are done (and once before)
# Growth allowed over the second half of the soak. Generous: the allocator keeps some freed memory and threads
# meet new shapes late (+27 MB seen, flattening, in a process that had run the whole suite); a leak of one image
# or result per line (16,000 of them) would be far above it (the one this found grew ~270 MB per 1,000 lines).
MAX_RSS_GROWTH_SECOND_HALF_MB = 64
# Above the RSS at the start by more than this, the soak stops at once and fails, rather than take the machine's
# memory (a run that kept each window with a bad input alive reached 4.6 GB). A healthy run grows ~300 MB in all.
MAX_RSS_RUNAWAY_MB = 1024

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self (Linux only)")

Expected = Tuple[str, str, Optional[str]]  # ("ok", input_path, text) or ("bad", source, None)


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _thread_names() -> List[str]:
    return sorted(thread.name for thread in threading.enumerate())


def _distinct_lines(paths: List[str]) -> List[str]:
    """DISTINCT_LINES lines spread evenly over the widths up to MAX_RESIZED_WIDTH (widths from the PNG header)."""
    def resized_width(path: str) -> float:
        width, height = image_size(Path(path).read_bytes())
        return width * 48 / height

    fitting = sorted((path for path in paths if resized_width(path) <= MAX_RESIZED_WIDTH), key=resized_width)
    step = len(fitting) / DISTINCT_LINES
    return [fitting[int(i * step)] for i in range(DISTINCT_LINES)]


class BadInputs:
    """Bad inputs, each one new (its own file or path), so that each report can be matched to one input."""

    def __init__(self, folder: Path):
        self.folder, self.count = folder, 0
        self._lock = threading.Lock()

    def make(self, rng: random.Random, position_in_chunk: int) -> Tuple[object, str]:
        """(the input, the `.source` its InputError must carry)."""
        with self._lock:
            self.count += 1
            number = self.count
        kind = rng.choice(["empty_file", "garbage", "missing", "empty_array"])
        if kind == "empty_array":
            return np.zeros((0, 0, 3), np.uint8), f"input[{position_in_chunk}]"
        path = self.folder / f"{kind}_{number}.png"
        if kind == "empty_file":
            path.write_bytes(b"")
        elif kind == "garbage":
            path.write_bytes(rng.randbytes(rng.randint(1, 4096)))
        return str(path), str(path)


class Soak:
    """The shared state of one soak: the work of each thread, what came back, and the counts."""

    def __init__(self, model: TextRecognition, pool: List[str], reference: dict, bad: BadInputs):
        self.model, self.pool, self.reference, self.bad = model, pool, reference, bad
        self.progress = [0] * THREADS  # good lines done, per thread
        self.problems: List[str] = []
        self.bad_inputs = self.reported = self.wrong_text = 0
        self.stop = threading.Event()  # set when memory runs away: the threads end early
        self._lock = threading.Lock()

    def chunks(self, rng: random.Random):
        """Chunks of a thread's work: (inputs, expected events), LINES_PER_THREAD good lines in all."""
        left = LINES_PER_THREAD
        while left:
            size = min(left, rng.randint(1, MAX_CHUNK))
            left -= size
            inputs: List[object] = []
            expected: List[Expected] = []
            for _ in range(size):
                while rng.random() < 1 / BAD_EVERY:
                    item, source = self.bad.make(rng, len(inputs))
                    inputs.append(item)
                    expected.append(("bad", source, None))
                path = rng.choice(self.pool)
                inputs.append(path)
                expected.append(("ok", path, self.reference[path]))
            yield inputs, expected

    def run(self, index: int) -> None:
        """Thread `index`: odd ones through predict_iter, even ones through predict."""
        rng = random.Random(1000 + index)
        try:
            for inputs, expected in self.chunks(rng):
                if self.stop.is_set():
                    return
                got: List[Expected] = []
                report = lambda error: got.append(("bad", error.source, None))  # noqa: E731
                if index % 2:  # results and reports interleaved, as they come
                    for result in self.model.predict_iter(inputs, batch_size=BATCH_SIZE, on_bad_input=report):
                        got.append(("ok", result["input_path"], result["rec_text"]))
                else:  # reports during the call, then the results in order
                    results = self.model.predict(inputs, batch_size=BATCH_SIZE, on_bad_input=report)
                    got.extend(("ok", result["input_path"], result["rec_text"]) for result in results)
                    expected = [e for e in expected if e[0] == "bad"] + [e for e in expected if e[0] == "ok"]
                self.compare(index, got, expected)
                self.progress[index] += sum(1 for kind, _, _ in expected if kind == "ok")
        except BaseException as exc:  # noqa: BLE001 - reported by the test, whatever it is
            self.problems.append(f"thread {index} raised {type(exc).__name__}: {exc}")

    def compare(self, index: int, got: List[Expected], expected: List[Expected]) -> None:
        with self._lock:
            self.bad_inputs += sum(1 for kind, _, _ in expected if kind == "bad")
            self.reported += sum(1 for kind, _, _ in got if kind == "bad")
            self.wrong_text += sum(1 for g, e in zip(got, expected) if g[0] == "ok" and g[:2] == e[:2] and g != e)
        if got == expected:
            return
        if len(got) != len(expected):
            self.problems.append(f"thread {index}: {len(got)} results and reports for {len(expected)} inputs")
        mismatches = [(position, g, e) for position, (g, e) in enumerate(zip(got, expected)) if g != e]
        for position, g, e in mismatches[:3]:
            self.problems.append(f"thread {index}, position {position} of a chunk: got {g}, expected {e}")


@pytest.mark.slow
def test_soak_shared_model(models_root, lines, tmp_path):
    model = TextRecognition(model_dir=models_root / "PP-OCRv6_tiny_rec", device="cpu", use_hpip=True,
                            hpi_config={"backend": "onnxruntime"})
    try:
        pool = _distinct_lines(lines[0])
        reference = dict(zip(pool, texts(model.predict(pool, batch_size=1))))  # each line alone, one thread
        assert len(set(reference.values())) > DISTINCT_LINES // 2, "the lines should mostly differ in text"
        warm_up = [threading.Thread(target=lambda: model.predict(pool[:40], batch_size=BATCH_SIZE))
                   for _ in range(THREADS)]  # every execution context and stream made before counting
        for thread in warm_up:
            thread.start()
        for thread in warm_up:
            thread.join()
        gc.collect()  # what earlier tests left unclosed goes now, not in the middle of the count
        threads_before, fds_before = _thread_names(), _open_fds()

        soak = Soak(model, pool, reference, BadInputs(tmp_path))
        workers = [threading.Thread(target=soak.run, args=(index,), name=f"soak-{index}") for index in range(THREADS)]
        total = THREADS * LINES_PER_THREAD
        checkpoints = [total * (part + 1) // RSS_CHECKPOINTS for part in range(RSS_CHECKPOINTS)]
        rss = [_rss_mb()]
        start = time.perf_counter()
        for worker in workers:
            worker.start()
        while any(worker.is_alive() for worker in workers):
            time.sleep(0.05)
            while len(rss) <= RSS_CHECKPOINTS and sum(soak.progress) >= checkpoints[len(rss) - 1]:
                rss.append(_rss_mb())
            if not soak.stop.is_set() and _rss_mb() > rss[0] + MAX_RSS_RUNAWAY_MB:
                soak.stop.set()
                runaway = f"at {sum(soak.progress)} lines: {_rss_mb():.0f} MB, from {rss[0]:.0f} MB"
        wall = time.perf_counter() - start
        for worker in workers:
            worker.join()
        while len(rss) <= RSS_CHECKPOINTS:  # the last checkpoints, reached as the threads ended
            rss.append(_rss_mb())
        threads_after, fds_after = _thread_names(), _open_fds()
    finally:
        model.close()

    done = sum(soak.progress)
    print(f"\nsoak: {done} lines + {soak.bad_inputs} bad inputs, {THREADS} threads, {wall:.1f} s "
          f"({done / wall:.0f} lines/s); RSS MB at 0/{RSS_CHECKPOINTS}..{RSS_CHECKPOINTS}/{RSS_CHECKPOINTS}: "
          f"{', '.join(f'{value:.1f}' for value in rss)}; threads {len(threads_before)} -> {len(threads_after)}, "
          f"fds {fds_before} -> {fds_after}")
    assert not soak.problems, f"{len(soak.problems)} problem(s), the first ones:\n" + "\n".join(soak.problems[:20])
    assert not soak.stop.is_set(), (
        f"resident memory ran away ({runaway}; allowed {MAX_RSS_RUNAWAY_MB} MB above the start): the soak was "
        "stopped early. Something keeps what each call used (images, windows, errors) alive")
    assert soak.wrong_text == 0
    assert done == total
    assert soak.bad_inputs > total // BAD_EVERY // 2, "the soak should have mixed bad inputs in"
    assert soak.reported == soak.bad_inputs, "every bad input must be reported exactly once"
    # No new thread or descriptor (one of another test's objects may still end meanwhile: fewer is no leak)
    assert set(threads_after) <= set(threads_before), \
        f"threads left behind: before {threads_before}, after {threads_after}"
    assert fds_after <= fds_before, f"file descriptors left open: {fds_before} before, {fds_after} after"
    half = RSS_CHECKPOINTS // 2
    growth = rss[-1] - rss[half]
    assert growth < MAX_RSS_GROWTH_SECOND_HALF_MB, (
        f"resident memory kept growing: +{growth:.1f} MB over the second half of the soak (allowed "
        f"{MAX_RSS_GROWTH_SECOND_HALF_MB} MB); RSS MB at each checkpoint: {[round(value, 1) for value in rss]}")
