"""The runtime's mechanics, offline, with stub backends (no framework, no model): the base class (options and
their spellings, the context pool: one call per context, a limit, reuse, closing; racing loads, a failing first
context, contexts that live on the backend's own threads, streams and lone batches, exceptions on every path) and
the selector walking stub candidates registered for the test only. What real frameworks do with real models is
tested in test_backends.py and tests/test_selector.py."""
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from hpi.errors import BackendError, ConfigError, NoBackendAvailableError
from hpi.runtime import selector
from hpi.runtime.backends import BACKENDS, base
from hpi.runtime.backends.base import DYNAMIC_SHAPES_OPTION, ContextPool, InferenceBackend, one_of, positive_int
from hpi.runtime.candidates import Candidate
from hpi.runtime.config import HPIConfig
from hpi.runtime.device import Device
from hpi.runtime.model_dir import ModelDir

LIMIT = 4  # the pool's limit in these tests, whatever this machine's CPUs (base.max_contexts, patched)
WAIT_S = 10  # a call that takes longer is stuck


class Context:
    def __init__(self, number):
        self.number, self.busy, self.threads, self.calls, self.closed = number, False, set(), 0, 0


class StubBackend(InferenceBackend):
    """Output: the batch plus 1. A batch whose first value is negative fails. Every call sleeps a little so that
    threads overlap; what each context saw is recorded."""
    name, model_format, framework = "stub", "onnx", "numpy"  # numpy: installed wherever hpi is
    streams = 0  # > 1: _load_impl starts that many streams
    delay_s = 0.003
    option_checks = {
        "cpu_num_threads": (positive_int, "a positive integer"),
        "cpu_threads": (positive_int, "another spelling of cpu_num_threads"),
        "precision": (one_of("fp32", "fp16"), "'fp32' or 'fp16'"),
        "dynamic_shapes": DYNAMIC_SHAPES_OPTION,
    }
    option_aliases = {"cpu_threads": "cpu_num_threads"}

    def __init__(self, model_dir, device=Device("cpu"), options=None):
        super().__init__(model_dir, device, options)
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
    return stub_model_dir(tmp_path)


def stub_model_dir(path, config=None):
    """An ONNX model dir that exists only as data: nothing is read from disk."""
    return ModelDir(path=path, config=config or {}, paddle_program=None, onnx=path / "inference.onnx")


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
    [future] = backend.submit_batches([batch(1)])  # a lone batch
    assert future.done() and backend.stream_threads == []  # ran here, on a context of the pool
    np.testing.assert_array_equal(future.result(), batch(2))

    backend.gate = threading.Event()
    busy = backend.submit(batch(5))  # not lone: to a stream, where it waits at the gate
    [lone] = backend.submit_batches([batch(7)])  # another call is in flight: joins the streams
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
        assert backend.submit_batches([batch(value)])[0].done()
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
    assert backend.submit_batches([batch(1)])[0].done()  # idle: runs in the caller
    backend.close()


# -- errors -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend_class", [StubBackend, PerThreadBackend, StreamBackend])
def test_errors_reach_the_caller_and_leak_no_context(model_dir, backend_class):
    backend = backend_class(model_dir).load()

    def fail_every_way():
        for _ in range(2 * LIMIT):
            with pytest.raises(BackendError, match=r"stub failed on a batch of shape \(1, 3, 4, 8\): ValueError: "
                                                   "a bad batch") as error:
                backend.infer(batch(-1))
            assert isinstance(error.value.__cause__, ValueError)  # the framework's own error, kept
        lone = [backend.submit_batches([batch(-1)])[0] for _ in range(2 * LIMIT)]
        together = [backend.submit(batch(-1)) for _ in range(2 * LIMIT)]
        for future in lone + together:
            with pytest.raises(BackendError, match="a bad batch") as error:
                future.result(WAIT_S)
            assert isinstance(error.value.__cause__, ValueError)

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


class FrameworkErrorOnStreams(StreamBackend):
    def _infer_stream_impl(self, stream, batch):
        raise OSError("device lost")


def test_errors_of_our_own_pass_unchanged_and_stream_errors_are_wrapped(model_dir):
    class OwnError(StubBackend):
        def _infer_impl(self, context, batch):
            raise BackendError("tensorrt: input outside the profile")

    with pytest.raises(BackendError, match="^tensorrt: input outside the profile$"):
        OwnError(model_dir).infer(batch(1))
    backend = FrameworkErrorOnStreams(model_dir).load()
    futures = backend.submit_batches([batch(1), batch(2)])  # two batches: both to the streams
    for future in futures:
        with pytest.raises(BackendError, match=r"stub failed on a batch of shape .*OSError: device lost"):
            future.result(WAIT_S)
    backend.close()


# -- options: checked, one spelling each ------------------------------------------------------------------------
@pytest.mark.parametrize("options, message", [
    ({"threads": 2}, r"unknown option 'threads' for backend 'stub'; allowed: cpu_num_threads, cpu_threads, "
                     r"dynamic_shapes, precision"),
    ({"cpu_num_threads": 0}, r"invalid value 0 for stub.cpu_num_threads: expected a positive integer"),
    ({"cpu_num_threads": True}, r"invalid value True for stub.cpu_num_threads"),  # a bool is not a count
    ({"cpu_threads": "2"}, r"invalid value '2' for stub.cpu_threads: expected a positive integer"),
    ({"precision": "int4"}, r"invalid value 'int4' for stub.precision: expected 'fp32' or 'fp16'"),
    ({"dynamic_shapes": {"x": [[1, 3, 8, 8]]}}, r"dynamic_shapes\['x'\] must be \[min, opt, max\]"),
    ({"cpu_threads": 2, "cpu_num_threads": 3}, r"stub: cpu_num_threads and cpu_threads are the same option "
                                               r"\(cpu_num_threads\) with different values"),
])
def test_bad_options_name_the_key_and_what_is_allowed(model_dir, options, message):
    with pytest.raises(ConfigError, match=message):
        StubBackend(model_dir, options=options)


@pytest.mark.parametrize("given, held", [
    ({"cpu_threads": 2}, {"cpu_num_threads": 2}),  # PaddleX's Paddle key
    ({"cpu_threads": 2, "cpu_num_threads": 2}, {"cpu_num_threads": 2}),  # both spellings, one value: fine
    ({"precision": "f32"}, {"precision": "fp32"}),  # OpenVINO's own names
    ({"precision": "f16"}, {"precision": "fp16"}),
    ({"precision": "fp16"}, {"precision": "fp16"}),
])
def test_older_spellings_are_held_and_shown_in_the_one_spelling(model_dir, given, held):
    backend = StubBackend(model_dir, options=given)
    assert backend.options == held
    assert {key: backend.config[key] for key in held} == held and "cpu_threads" not in backend.config


def test_dynamic_shapes_the_option_then_the_model_dir(tmp_path):
    rec = {"x": [[1, 3, 48, 160], [1, 3, 48, 320], [8, 3, 48, 3200]]}
    as_profile = {"x": tuple(tuple(shape) for shape in rec["x"])}
    known = stub_model_dir(tmp_path, {"Global": {"model_name": "PP-OCRv4_mobile_rec"}})
    assert StubBackend(known).dynamic_shapes() == as_profile  # the catalog's, for a model it knows
    given = {"x": [[1, 3, 8, 8]] * 3}
    assert StubBackend(known, options={"dynamic_shapes": given}).dynamic_shapes() == {"x": ((1, 3, 8, 8),) * 3}
    unknown = StubBackend(stub_model_dir(tmp_path, {"Global": {"model_name": "mine"}}))
    assert unknown.dynamic_shapes() is None  # the model's own dynamic axes
    with pytest.raises(BackendError, match="the stub build needs the range of input shapes"):
        unknown.required_dynamic_shapes("the stub build")


# -- lifecycle --------------------------------------------------------------------------------------------------
def test_a_backend_is_a_context_manager_and_loads_on_first_use(model_dir):
    backend = StubBackend(model_dir)
    assert backend.loads == 0 and backend.made == []  # made, not loaded: nothing held yet
    with backend as loaded:
        assert loaded is backend and backend.loads == 1 and len(backend.made) == 1  # the first context: at load
        backend.infer(batch(1))
    assert backend.impl_closes == 1
    assert_all_closed_once(backend)
    backend.infer(batch(1))  # used after closing: loads again
    assert backend.loads == 2
    backend.close()


def test_the_device_must_be_one_the_backend_runs_on(model_dir):
    with pytest.raises(ConfigError, match=r"backend 'stub' does not run on gpu:0; it supports cpu"):
        StubBackend(model_dir, Device("gpu", 0))


# -- submit, submit_batches and items_per_request ---------------------------------------------------------------
def test_without_streams_everything_runs_now_in_the_callers_thread(model_dir):
    backend = StubBackend(model_dir).load()
    assert backend.items_per_request(8) == 8  # a batch of what the caller asked for
    futures = [backend.submit(batch(1))] + backend.submit_batches([batch(2), batch(3)])
    assert all(future.done() for future in futures)  # done before submit returned: no thread ran them
    assert [future.result().flat[0] for future in futures] == [2, 3, 4]
    assert {ident for context in backend.made for ident in context.threads} == {threading.get_ident()}
    backend.close()


def test_with_streams_each_item_is_a_request_and_batches_run_on_the_streams(model_dir):
    backend = StreamBackend(model_dir).load()
    assert backend.items_per_request(8) == 1  # one item per request: the streams run them side by side
    backend.gate = threading.Event()
    futures = backend.submit_batches([batch(1), batch(2)])  # two: to the streams, held at the gate
    assert not any(future.done() for future in futures)
    backend.gate.set()
    assert [future.result(WAIT_S).flat[0] for future in futures] == [2, 3]
    assert sorted(stream for stream, _ in backend.stream_threads) == [0, 1]
    assert threading.get_ident() not in {ident for _, ident in backend.stream_threads}
    backend.close()
    assert backend.items_per_request(8) == 8  # streams gone with the close


# -- the selector, walking stub candidates ----------------------------------------------------------------------
class Works(StubBackend):
    name = "stub_works"
    option_checks = {**StubBackend.option_checks, "speed": (positive_int, "a positive integer")}


class FailsToLoad(StubBackend):
    name = "stub_fails"

    def _load_impl(self):
        raise RuntimeError("no kernel for this CPU")


class NotInstalled(StubBackend):
    name, framework = "stub_not_installed", "hpi_no_such_framework"


class GpuOnly(StubBackend):
    name, device_kinds = "stub_gpu_only", ("gpu",)


class PaddleFormat(StubBackend):
    name, model_format = "stub_paddle_format", "paddle"


class RefusesItsConfig(StubBackend):
    name = "stub_bad_config"

    def _check_for_device(self):
        raise ConfigError("stub_bad_config: this option does not run here")


STUBS = (Works, FailsToLoad, NotInstalled, GpuOnly, PaddleFormat, RefusesItsConfig)


@pytest.fixture
def candidates(monkeypatch):
    """Registers the stub backends for this test only, and makes `order(...)` the default candidate order."""
    for stub in STUBS:
        monkeypatch.setitem(BACKENDS, stub.name, stub)
    order = []
    monkeypatch.setattr(selector, "default_candidates", lambda model_name, device: list(order))

    def set_order(*backends):
        order[:] = [Candidate(stub.name, {}) for stub in backends]
    return set_order


def test_the_selector_falls_through_to_the_first_candidate_that_loads(candidates, model_dir, caplog):
    candidates(NotInstalled, FailsToLoad, GpuOnly, PaddleFormat, Works, FailsToLoad)
    with caplog.at_level(logging.INFO, logger="hpi"):
        backend = selector.load_backend(model_dir, Device("cpu"), True, HPIConfig())
    assert isinstance(backend, Works) and backend._loaded
    assert "backend stub_fails failed to load, trying the next one" in caplog.text
    assert "skipping backend stub_not_installed: hpi_no_such_framework is not installed" in caplog.text
    backend.close()


def test_no_candidate_loads_and_the_error_lists_every_reason_in_order(candidates, model_dir):
    candidates(NotInstalled, FailsToLoad, GpuOnly, PaddleFormat)
    with pytest.raises(NoBackendAvailableError) as error:
        selector.load_backend(model_dir, Device("cpu"), True, HPIConfig())
    reasons = str(error.value).splitlines()[1:]
    assert reasons == [
        "  - stub_not_installed: hpi_no_such_framework is not installed",
        f"  - stub_fails: failed to load (stub_fails could not load {str(model_dir.onnx)!r}: no kernel for this CPU)",
        "  - stub_gpu_only: does not run on cpu",
        "  - stub_paddle_format: needs a paddle model, the model dir has onnx"]


def test_a_config_error_stops_the_walk(candidates, model_dir):
    """A candidate refusing its options is the user's mistake to fix, not a reason to run something else."""
    candidates(RefusesItsConfig, Works)
    with pytest.raises(ConfigError, match="this option does not run here"):
        selector.load_backend(model_dir, Device("cpu"), True, HPIConfig())


def test_backend_config_goes_to_the_candidates_that_take_each_key(candidates, model_dir):
    candidates(FailsToLoad, Works)
    backend = selector.load_backend(model_dir, Device("cpu"), True,
                                    HPIConfig(backend_config={"speed": 3, "precision": "f16"}))
    assert backend.options == {"speed": 3, "precision": "fp16"}  # and in the one spelling
    backend.close()
    named = selector.load_backend(model_dir, Device("cpu"), True, HPIConfig(backend="stub_works"))
    assert isinstance(named, Works)
    named.close()
