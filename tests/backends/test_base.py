"""The base class's mechanisms, offline, with a stub backend: the context pool (one call per context, a limit,
reuse, closing), racing loads, a failing first context, contexts that live on the backend's own threads, streams
and lone batches, and exceptions on every path."""
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from hpi.runtime.backends import base
from hpi.runtime.backends.base import ContextPool, InferenceBackend
from hpi.runtime.device import Device
from hpi.errors import BackendError
from hpi.runtime.model_dir import ModelDir

LIMIT = 4  # the pool's limit in these tests, whatever this machine's CPUs (base.max_contexts, patched)
WAIT_S = 10  # a call that takes longer is stuck


class Context:
    def __init__(self, number):
        self.number, self.busy, self.threads, self.calls, self.closed = number, False, set(), 0, 0


class StubBackend(InferenceBackend):
    """Output: the batch plus 1. A batch whose first value is negative fails. Every call sleeps a little so that
    threads overlap; what each context saw is recorded."""
    name, model_format, framework = "stub", "onnx", "none"
    streams = 0  # > 1: _load_impl starts that many streams
    delay_s = 0.003

    def __init__(self, model_dir):
        super().__init__(model_dir, Device("cpu"))
        self.lock = threading.Lock()
        self.made, self.loads, self.impl_closes, self.overlaps, self.active, self.most_active = [], 0, 0, 0, 0, 0
        self.fail_new_context = False
        self.stream_threads, self.gate = [], None  # gate: an Event that stream calls wait for

    def _load_impl(self):
        with self.lock:
            self.loads += 1
        time.sleep(0.05)  # a slow load, so that racing loads overlap
        if self.streams > 1:
            self._start_streams(self.streams)

    def _new_context(self):
        if self.fail_new_context:
            raise RuntimeError("no memory for a context")
        with self.lock:
            context = Context(len(self.made))
            self.made.append(context)
        return context

    def _use(self, context):
        with self.lock:
            self.overlaps += context.busy
            context.busy = True
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        context.threads.add(threading.get_ident())
        context.calls += 1
        time.sleep(self.delay_s)
        with self.lock:
            context.busy = False
            self.active -= 1

    def _infer_impl(self, context, batch):
        self._use(context)
        if batch.flat[0] < 0:
            raise ValueError("a bad batch")
        return batch + 1

    def _infer_stream_impl(self, stream, batch):
        self.stream_threads.append((stream, threading.get_ident()))
        if self.gate is not None:
            assert self.gate.wait(WAIT_S)
        if batch.flat[0] < 0:
            raise ValueError("a bad batch on a stream")
        return batch + 1

    def _close_context(self, context):
        context.closed += 1

    def _close_impl(self):
        self.impl_closes += 1


class PerThreadBackend(StubBackend):
    context_per_thread = True


class StreamBackend(StubBackend):
    streams = 2


@pytest.fixture(autouse=True)
def pool_limit(monkeypatch):
    monkeypatch.setattr(base, "max_contexts", lambda: LIMIT)


@pytest.fixture
def model_dir(tmp_path):
    return ModelDir(path=tmp_path, config={}, paddle_program=None, onnx=tmp_path / "inference.onnx")


def batch(value, width=8):
    return np.full((1, 3, 4, width), value, np.float32)


def hammer(backend, threads=16, calls=8):
    """`threads` threads, started together, each inferring its own batches, which must come back as their own.
    Daemon threads: one stuck for ever (a context never given back) fails the test without hanging the run."""
    start, outputs = threading.Barrier(threads), {}

    def run(thread):
        start.wait()
        outputs[thread] = [backend.infer(batch(thread * 100 + call)) for call in range(calls)]

    workers = [threading.Thread(target=run, args=(thread,), daemon=True) for thread in range(threads)]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + WAIT_S
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
    assert sorted(outputs) == list(range(threads)), "calls stuck or failed"
    for thread, got in outputs.items():
        for call, output in enumerate(got):
            np.testing.assert_array_equal(output, batch(thread * 100 + call + 1))


def finishes(work):
    """`work()` on a daemon thread: a call stuck for ever fails the test instead of hanging the run."""
    outcome = {}

    def run():
        try:
            outcome["result"] = work()
        except BaseException as exc:  # pytest's failures too: raised again in the test's thread
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(WAIT_S)
    assert not worker.is_alive(), "a call is stuck"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("result")


def assert_all_closed_once(backend):
    assert backend.made and [context.closed for context in backend.made] == [1] * len(backend.made)


# -- the context pool -------------------------------------------------------------------------------------------
def test_no_context_serves_two_calls_at_once_and_the_pool_stays_within_its_limit(model_dir):
    backend = StubBackend(model_dir).load()
    hammer(backend)
    assert backend.overlaps == 0
    assert len(backend.made) == LIMIT and backend.most_active == LIMIT  # 16 threads, 4 at a time: the rest waited
    assert sum(context.calls for context in backend.made) == 16 * 8  # each context served many calls


def test_a_caller_beyond_the_limit_waits_for_a_free_context():
    made = []
    pool = ContextPool(lambda: made.append(object()) or made[-1], limit=1)
    holding, release, got = threading.Event(), threading.Event(), []

    def hold():
        with pool.borrow() as context:
            got.append(context)
            holding.set()
            release.wait(WAIT_S)

    def wait_then_borrow():
        with pool.borrow() as context:
            got.append(context)

    first, second = (threading.Thread(target=work, daemon=True) for work in (hold, wait_then_borrow))
    first.start()
    assert holding.wait(WAIT_S)
    second.start()
    second.join(0.2)
    assert second.is_alive() and len(got) == 1  # waiting, not failing and not making a second context
    release.set()
    first.join(WAIT_S)
    second.join(WAIT_S)
    assert got == [made[0], made[0]] and len(made) == 1 and pool.size == 1


def test_a_failing_context_leaves_room_for_the_next():
    attempts = []

    def create():
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("out of memory")
        return object()

    pool = ContextPool(create, limit=1)
    with pytest.raises(RuntimeError):
        with pool.borrow():
            pass

    def borrow_again():
        with pool.borrow() as context:  # the failed attempt's place in the limit was given back
            return context

    assert finishes(borrow_again) is not None and pool.size == 1


def test_contexts_are_reused_one_call_after_another(model_dir):
    backend = StubBackend(model_dir)
    for value in range(20):
        np.testing.assert_array_equal(backend.infer(batch(value)), batch(value + 1))
    assert len(backend.made) == 1 and backend.made[0].calls == 20


def test_close_closes_every_context_made_and_a_later_call_loads_again(model_dir):
    backend = StubBackend(model_dir).load()
    hammer(backend)
    backend.close()
    assert_all_closed_once(backend)
    assert backend.impl_closes == 1
    first_made = len(backend.made)
    backend.infer(batch(1))
    assert backend.loads == 2 and len(backend.made) == first_made + 1  # a fresh pool, the old contexts gone
    backend.close()
    backend.close()  # a second close does nothing
    assert_all_closed_once(backend)
    assert backend.impl_closes == 2


# -- loading ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend_class", [StubBackend, PerThreadBackend, StreamBackend])
def test_racing_loads_load_once(model_dir, backend_class):
    backend = backend_class(model_dir)
    start = threading.Barrier(8)

    def load_or_infer(value):
        start.wait()
        if value % 2:
            backend.infer(batch(value))  # loads first
        else:
            backend.load()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(load_or_infer, range(8), timeout=WAIT_S))
    assert backend.loads == 1
    backend.close()
    assert_all_closed_once(backend)


@pytest.mark.parametrize("backend_class", [StubBackend, PerThreadBackend, StreamBackend])
def test_a_failing_first_context_fails_the_load_and_releases_it(model_dir, backend_class):
    backend = backend_class(model_dir)
    backend.fail_new_context = True
    with pytest.raises(BackendError, match="stub could not load .*no memory for a context") as error:
        backend.load()
    assert isinstance(error.value.__cause__, RuntimeError)
    assert backend.impl_closes == 1 and backend.made == []
    assert backend._stream_pool is None and backend._context_workers is None  # no thread left behind
    backend.fail_new_context = False
    np.testing.assert_array_equal(backend.infer(batch(2)), batch(3))  # not marked loaded: the next call loads
    assert backend.loads == 2
    backend.close()
    assert_all_closed_once(backend)


# -- contexts that belong to a thread ---------------------------------------------------------------------------
def test_per_thread_contexts_never_change_thread(model_dir):
    backend = PerThreadBackend(model_dir).load()
    hammer(backend)
    assert backend.overlaps == 0 and len(backend.made) <= LIMIT
    assert all(len(context.threads) == 1 for context in backend.made)
    assert threading.get_ident() not in {ident for context in backend.made for ident in context.threads}
    backend.close()
    assert_all_closed_once(backend)


def test_per_thread_contexts_outlive_the_calling_threads(model_dir):
    """Calls from short-lived threads (a server's request threads): contexts stay with the backend's workers."""
    backend = PerThreadBackend(model_dir).load()
    for round_ in range(10):
        callers = [threading.Thread(target=backend.infer, args=(batch(round_),)) for _ in range(3)]
        for caller in callers:
            caller.start()
        for caller in callers:
            caller.join(WAIT_S)
    assert sum(context.calls for context in backend.made) == 30
    assert len(backend.made) <= LIMIT and all(len(context.threads) == 1 for context in backend.made)
    assert all(context.closed == 0 for context in backend.made)  # none closed while the backend is open
    backend.close()
    assert_all_closed_once(backend)


# -- streams and lone batches -----------------------------------------------------------------------------------
def test_a_lone_batch_runs_in_the_caller_when_idle_and_on_the_streams_otherwise(model_dir):
    backend = StreamBackend(model_dir).load()
    assert backend.stream_count == 2
    future = backend.submit(batch(1), lone=True)
    assert future.done() and backend.stream_threads == []  # ran here, on a context of the pool
    np.testing.assert_array_equal(future.result(), batch(2))

    backend.gate = threading.Event()
    busy = backend.submit(batch(5))  # not lone: to a stream, where it waits at the gate
    lone = backend.submit(batch(7), lone=True)  # another call is in flight: joins the streams
    assert not lone.done()
    backend.gate.set()
    np.testing.assert_array_equal(busy.result(WAIT_S), batch(6))
    np.testing.assert_array_equal(lone.result(WAIT_S), batch(8))
    streams = [stream for stream, _ in backend.stream_threads]
    assert sorted(streams) == [0, 1]  # both streams at once
    assert threading.get_ident() not in {ident for _, ident in backend.stream_threads}
    backend.gate = None
    assert [out.flat[0] for out in backend.infer_many([batch(v) for v in range(6)])] == list(range(1, 7))
    backend.close()
    assert_all_closed_once(backend)
    assert backend._stream_pool is None


class LateBookkeepingBackend(StreamBackend):
    def _call_done(self, *args):
        time.sleep(0.01)  # the thread that ran a stream call is descheduled here, as it may be at any point
        super()._call_done(*args)


def test_a_lone_batch_after_a_finished_one_runs_in_the_caller(model_dir):
    """A stream call is over once its result is in: the backend is idle again for the next lone batch."""
    backend = LateBookkeepingBackend(model_dir).load()
    for value in range(10):
        backend.submit(batch(value)).result(WAIT_S)
        assert backend.submit(batch(value), lone=True).done()
    assert len(backend.stream_threads) == 10  # only the first of each pair went to the streams
    backend.close()


def test_a_cancelled_stream_call_is_not_left_in_flight(model_dir):
    backend = StreamBackend(model_dir).load()
    backend.gate = threading.Event()
    running = [backend.submit(batch(value)) for value in range(2)]  # both streams held at the gate
    queued = backend.submit(batch(9))
    assert queued.cancel()
    backend.gate.set()
    for future in running:
        future.result(WAIT_S)
    assert backend._in_flight == 0
    assert backend.submit(batch(1), lone=True).done()  # idle: runs in the caller
    backend.close()


# -- errors -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend_class", [StubBackend, PerThreadBackend, StreamBackend])
def test_errors_reach_the_caller_and_leak_no_context(model_dir, backend_class):
    backend = backend_class(model_dir).load()

    def fail_every_way():
        for _ in range(2 * LIMIT):
            with pytest.raises(ValueError, match="a bad batch"):
                backend.infer(batch(-1))
        for lone in (True, False):
            futures = [backend.submit(batch(-1), lone=lone) for _ in range(2 * LIMIT)]
            for future in futures:
                with pytest.raises(ValueError, match="a bad batch"):
                    future.result(WAIT_S)

    finishes(fail_every_way)
    # Every context is free again: a leaked one would leave callers waiting for ever (hammer's timeout).
    hammer(backend, threads=8, calls=4)
    assert len(backend.made) <= LIMIT and backend._in_flight == 0
    backend.close()
    assert_all_closed_once(backend)


def test_bad_input_is_refused_before_any_context(model_dir):
    backend = StubBackend(model_dir)
    with pytest.raises(BackendError, match="expected a 4-D NCHW numpy array"):
        backend.infer(np.zeros((3, 4, 8), np.float32))
    with pytest.raises(BackendError, match="4-D NCHW"):
        backend.submit([[1.0]])
    assert backend.loads == 0 and backend.made == []
