"""hpi.streaming on real image files: windows read ahead in one helper thread, bad inputs in their place (raised,
skipped or reported, without the traceback that kept windows alive), results in input order, the window in flight
finished before an error in the next comes out."""
import gc
import threading
import weakref

import pytest
from helpers import DATA

from hpi.errors import ConfigError, InputError
from hpi.inputs import iter_inputs
from hpi.streaming import Window, bad_input_handler, chunks, overlapped, read_ahead, readable_images

IMAGES = sorted(str(path) for path in (DATA / "ocr_images").glob("*.jpg"))[:5]


def reader_threads():
    return [thread for thread in threading.enumerate() if thread.name.startswith("hpi-read")]


def test_chunks_are_taken_as_asked_for():
    taken = []

    def numbers():
        for number in range(7):
            taken.append(number)
            yield number

    stream = chunks(numbers(), 3)
    assert next(stream) == [0, 1, 2] and taken == [0, 1, 2]
    assert list(stream) == [[3, 4, 5], [6]]


def test_windows_after_the_first_are_read_in_one_helper_thread_in_order():
    where = []

    def prepare(chunk):
        where.append(threading.current_thread().name)
        return Window.read(chunk)

    windows = list(read_ahead(prepare, chunks(iter_inputs(IMAGES), 2)))
    assert [item.input_path for window in windows for item in window.items] == IMAGES
    assert all(image is not None and image.ndim == 3 for window in windows for image in window.images)
    assert where[0] == threading.current_thread().name
    assert len(set(where[1:])) == 1 and where[1].startswith("hpi-read")
    assert not reader_threads()


def test_a_single_window_starts_no_thread():
    where = []
    windows = read_ahead(lambda chunk: where.append(threading.current_thread().name) or Window.read(chunk),
                         chunks(iter_inputs(IMAGES[:2]), 2))
    assert len(list(windows)) == 1 and where == [threading.current_thread().name]


def test_stopping_early_ends_the_helper_thread():
    windows = read_ahead(Window.read, chunks(iter_inputs(IMAGES), 1))
    next(windows)
    windows.close()
    assert not reader_threads()


def test_a_bad_input_keeps_its_place_without_its_traceback(tmp_path):
    missing = str(tmp_path / "missing.jpg")
    window = Window.read(list(iter_inputs([IMAGES[0], missing, IMAGES[1]])))
    assert window.readable() == [0, 2] and window.images[1] is None
    error = window.errors[1]
    assert isinstance(error, InputError) and error.source == missing and error.__traceback__ is None
    window.values = ["a", None, "c"]
    reported = []
    assert [value for _, _, value in window.in_order(reported.append)] == ["a", "c"] and reported == [error]
    with pytest.raises(InputError, match="missing.jpg"):
        list(window.in_order(bad_input_handler("raise")))


def test_a_window_with_a_bad_input_is_freed_without_a_collection(tmp_path):
    """The leak the traceback kept: a window with a bad input lived until a full garbage collection."""
    gc.disable()
    try:
        window = Window.read(list(iter_inputs([IMAGES[0], str(tmp_path / "missing.jpg")])))
        alive = weakref.ref(window)
        del window
        assert alive() is None
    finally:
        gc.enable()


def test_an_input_found_bad_later_is_refused_in_its_place():
    window = Window.read(list(iter_inputs(IMAGES[:3])))
    window.values = [1, 2, 3]
    window.refuse(1, InputError("too long a line", source="input[1]"))
    assert window.readable() == [0, 2]
    reported = []
    assert [value for _, _, value in window.in_order(reported.append)] == [1, 3]
    assert [error.source for error in reported] == ["input[1]"]


def test_bad_inputs_are_raised_skipped_with_a_warning_or_handed_over(tmp_path, caplog):
    missing = str(tmp_path / "missing.jpg")
    inputs = [IMAGES[0], missing, IMAGES[1]]
    with pytest.raises(InputError):
        list(readable_images(iter_inputs(inputs), bad_input_handler("raise")))
    got = [item.input_path for item, _ in readable_images(iter_inputs(inputs), bad_input_handler("skip"))]
    assert got == [IMAGES[0], IMAGES[1]] and missing in caplog.text
    reported = []
    assert len(list(readable_images(iter_inputs(inputs), bad_input_handler(reported.append)))) == 2
    assert [error.source for error in reported] == [missing]
    with pytest.raises(ConfigError, match="on_bad_input"):
        bad_input_handler("ignore")


def test_each_window_is_submitted_before_the_one_before_is_finished():
    events = []

    def submit(window):
        events.append(("submit", window))
        return window

    def finish(window):
        events.append(("finish", window))
        yield window

    assert list(overlapped(iter([1, 2, 3]), submit, finish)) == [1, 2, 3]
    assert events == [("submit", 1), ("submit", 2), ("finish", 1), ("submit", 3), ("finish", 2), ("finish", 3)]


def test_an_error_getting_the_next_window_comes_after_the_window_in_flight():
    def windows():
        yield 1
        raise RuntimeError("the next window failed")

    results = []
    with pytest.raises(RuntimeError, match="next window"):
        for result in overlapped(windows(), lambda window: window, lambda window: iter([window])):
            results.append(result)
    assert results == [1]
