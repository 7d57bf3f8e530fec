"""Every input form predict() accepts, on the real model (ONNX Runtime/OpenVINO, high-performance mode), and
every way an input can be wrong (on the input layer alone: each becomes an item whose load() raises InputError)."""
import http.server
import re
import socket
import struct
import threading
import warnings
import zlib
from functools import partial
from pathlib import Path

import cv2
import numpy as np
import pytest
from capabilities import HAS_PDFIUM
from PIL import Image

from hpi import inputs
from hpi.errors import ConfigError, HPIError, InputError
from hpi.inputs import DEFAULT_MAX_IMAGE_PIXELS, MAX_IMAGE_PIXELS_ENV, iter_inputs, resolve_max_image_pixels

TEXT = "Hello World 2026"


@pytest.fixture(scope="module")
def model(rec_on):
    return rec_on()


@pytest.fixture(scope="module")
def hello(samples_dir):
    return cv2.imread(str(samples_dir / "hello_world.png"))  # BGR


def test_numpy_bgr_gray_and_bgra(model, hello):
    gray = cv2.cvtColor(hello, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(hello, cv2.COLOR_BGR2BGRA)
    results = model.predict([hello, gray, gray[:, :, None], bgra])
    assert [r["rec_text"] for r in results] == [TEXT] * 4
    assert all(r["input_path"] is None and r["page_index"] is None for r in results)


def test_directory_is_recursive_sorted_and_images_only(model, tmp_path, samples_dir):
    (tmp_path / "sub").mkdir()
    (tmp_path / "b.png").write_bytes((samples_dir / "hello_world.png").read_bytes())
    (tmp_path / "sub" / "a.png").write_bytes((samples_dir / "invoice_total.png").read_bytes())
    (tmp_path / "notes.txt").write_text("not an image")
    results = model.predict(str(tmp_path))
    assert [r["input_path"] for r in results] == [str(tmp_path / "b.png"), str(tmp_path / "sub" / "a.png")]
    assert results[0]["rec_text"] == TEXT


def test_list_of_mixed_inputs_keeps_order(model, hello, samples_dir):
    results = model.predict([str(samples_dir / "invoice_total.png"), hello, str(samples_dir)], batch_size=3)
    assert results[0]["input_path"].endswith("invoice_total.png")
    assert results[1]["input_path"] is None and results[1]["rec_text"] == TEXT
    assert len(results) == 2 + 4


def test_multipage_tiff_sets_page_index(model, hello, tmp_path, samples_dir):
    invoice = Image.open(samples_dir / "invoice_total.png").convert("RGB")
    path = tmp_path / "pages.tiff"
    Image.fromarray(hello[:, :, ::-1]).save(path, save_all=True, append_images=[invoice])
    results = model.predict(str(path))
    assert [(r["page_index"], r["rec_text"]) for r in results] == [(0, TEXT), (1, "合计金额：1234.56元")]


@pytest.mark.skipif(not HAS_PDFIUM, reason="PDF input needs pypdfium2 (extra 'pdf')")
def test_pdf_pages(model, hello, tmp_path):
    path = tmp_path / "doc.pdf"
    page = Image.fromarray(hello[:, :, ::-1])
    page.save(path, save_all=True, append_images=[page.copy()], resolution=72)
    results = model.predict(str(path))
    assert [r["page_index"] for r in results] == [0, 1]
    assert all(r["rec_text"] == TEXT and r["input_path"] == str(path) for r in results)


def test_http_url(model, samples_dir):
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(samples_dir))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/hello_world.png"
        (result,) = model.predict(url)
        assert result["rec_text"] == TEXT and result["input_path"] == url
        with pytest.raises(InputError, match="could not be downloaded"):
            model.predict(f"http://127.0.0.1:{server.server_port}/missing.png")
    finally:
        server.shutdown()


@pytest.mark.parametrize("bad, message", [
    ("/nonexistent/line.png", "does not exist"),
    (42, "input has unsupported type int"),
    (np.zeros((0, 10, 3), np.uint8), "empty image"),
    (np.zeros((10, 10, 5), np.uint8), "has shape"),
    (np.zeros((10, 10, 3), np.float32), "scaled to \\[0, 1\\]"),
])
def test_bad_inputs_name_the_input_and_the_problem(model, bad, message):
    with pytest.raises(InputError, match=message):
        model.predict(bad)


def test_undecodable_file_and_unsupported_type(model, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    with pytest.raises(InputError, match="broken.png.*could not be decoded"):
        model.predict(str(broken))
    text = tmp_path / "a.txt"
    text.write_text("x")
    with pytest.raises(InputError, match="not a supported file type"):
        model.predict(str(text))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="holds no image"):
        model.predict(str(empty))


def test_batch_size_must_be_positive(model, hello):
    from hpi.errors import ConfigError

    with pytest.raises(ConfigError, match="batch_size"):
        model.predict(hello, batch_size=0)


# -- the input layer: every failure is an InputError naming the input ---------------------------------------------

@pytest.fixture(autouse=True)
def _no_limit_from_the_environment(monkeypatch):
    monkeypatch.delenv(MAX_IMAGE_PIXELS_ENV, raising=False)


def _png(path, height=32, width=64):
    cv2.imwrite(str(path), np.full((height, width, 3), 200, np.uint8))
    return str(path)


def _load_error(item) -> InputError:
    with pytest.raises(InputError) as caught:
        item.load()
    assert isinstance(caught.value, HPIError) and isinstance(caught.value, ValueError)
    return caught.value


def _png_bomb(path, width, height):
    """A valid all-black 1-bit PNG of width x height: about 50 KB on disk for 20000 x 20000, 1.2 GB as BGR."""
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    rows = (b"\x00" + bytes((width + 7) // 8)) * 1000
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(rows) for _ in range(height // 1000)) + packer.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
                     + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return str(path)


def test_empty_file_is_an_input_error_naming_it(tmp_path):
    path = tmp_path / "a.png"
    path.write_bytes(b"")
    (item,) = iter_inputs(str(path))
    error = _load_error(item)
    assert error.source == item.source == str(path)
    assert str(error) == f"input '{path}' is empty (0 bytes)"


@pytest.mark.parametrize("content", [
    b"not a png",  # garbage
    b"Hello, this is a text file renamed to .png\n" * 20,
    "truncated header",
    "truncated data",
])
def test_undecodable_bytes_name_the_file(tmp_path, content):
    whole = (tmp_path / "whole.png")
    _png(whole, 64, 256)
    data = whole.read_bytes()
    content = {"truncated header": data[:20], "truncated data": data[:len(data) // 2]}.get(content, content)
    path = tmp_path / "broken.png"
    path.write_bytes(content)
    (item,) = iter_inputs(str(path))
    error = _load_error(item)
    assert error.source == str(path) and "broken.png' could not be decoded" in str(error)


def test_opencv_errors_become_input_errors(tmp_path, monkeypatch):
    path = _png(tmp_path / "a.png")

    def imdecode(*args):
        raise cv2.error("OpenCV(5.0.0) (-215:Assertion failed) !buf.empty()")

    monkeypatch.setattr(inputs.cv2, "imdecode", imdecode)
    error = _load_error(next(iter_inputs(path)))
    assert error.source == path and "could not be decoded" in str(error) and "-215" in str(error)


def test_png_bomb_is_refused_from_its_header(tmp_path, monkeypatch):
    path = _png_bomb(tmp_path / "bomb.png", 20000, 20000)
    assert (tmp_path / "bomb.png").stat().st_size < 100_000
    monkeypatch.setattr(inputs.cv2, "imdecode", lambda *args: pytest.fail("decoded before the size check"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nor any Pillow DecompressionBombWarning
        error = _load_error(next(iter_inputs(path)))
    assert error.source == path
    assert f"is 20000x20000 = 400,000,000 pixels, above the limit of {DEFAULT_MAX_IMAGE_PIXELS:,}" in str(error)


@pytest.mark.parametrize("suffix, params, gray", [
    (".png", [], False), (".jpg", [], False), (".jpg", [cv2.IMWRITE_JPEG_PROGRESSIVE, 1], False),
    (".bmp", [], False), (".webp", [], False), (".webp", [cv2.IMWRITE_WEBP_QUALITY, 80], False),
    (".ppm", [], False), (".pgm", [], True), (".pbm", [], True), (".ras", [], False),
])
def test_pixel_limit_is_checked_before_decoding(tmp_path, monkeypatch, suffix, params, gray):
    image = np.full((31, 67) if gray else (31, 67, 3), 255, np.uint8)
    path = str(tmp_path / f"line{suffix}")
    assert cv2.imwrite(path, image, params)
    (item,) = iter_inputs(path, max_image_pixels=31 * 67)
    assert item.load().shape == (31, 67, 3)
    monkeypatch.setattr(inputs.cv2, "imdecode", lambda *args: pytest.fail("decoded before the size check"))
    (item,) = iter_inputs(path, max_image_pixels=31 * 67 - 1)
    assert "is 67x31 = 2,077 pixels, above the limit of 2,076" in str(_load_error(item))


def test_pixel_limit_after_decoding_where_the_header_is_not_read(tmp_path):
    path = tmp_path / "line.png"  # TIFF bytes under a .png name: OpenCV decodes them, sized afterwards
    Image.new("RGB", (67, 31)).save(path, format="TIFF")
    (item,) = iter_inputs(str(path), max_image_pixels=2000)
    assert "67x31" in str(_load_error(item))


def test_tiff_frames_meet_this_limit_before_pillows(tmp_path, monkeypatch):
    import PIL.Image

    path = tmp_path / "pages.tiff"
    Image.new("RGB", (100, 60), "white").save(path, save_all=True, append_images=[Image.new("RGB", (120, 60))])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Pillow DecompressionBombWarning
        first, second = iter_inputs(str(path), max_image_pixels=6000)
        assert first.load().shape == (60, 100, 3)
        error = _load_error(second)
    assert second.source == error.source == f"{path} page 1" and second.page_index == 1
    assert str(error).startswith(f"input '{path} page 1' is 120x60 = 7,200 pixels, above the limit of 6,000")
    # Pillow's own check, where it is the lower one (it runs again as a frame loads), is an InputError too
    monkeypatch.setattr(PIL.Image, "MAX_IMAGE_PIXELS", 1000)
    error = _load_error(next(iter_inputs(str(path))))
    assert error.source == f"{path} page 0" and "PIL.Image.MAX_IMAGE_PIXELS" in str(error)


def test_over_limit_array_is_refused_before_any_copy():
    huge = np.broadcast_to(np.zeros(1, np.uint8), (10000, 10000))  # 100 MP, no memory behind it
    error = _load_error(next(iter_inputs(huge)))
    assert error.source == "input" and "input is 10000x10000 = 100,000,000 pixels" in str(error)
    assert next(iter_inputs(huge[:100], max_image_pixels=1_000_000)).load().shape == (100, 10000, 3)
    line = np.full((8, 16, 3), 300, np.int32)  # other real numbers are still clipped to uint8, as before
    assert next(iter_inputs(line, max_image_pixels=128)).load().max() == 255
    assert next(iter_inputs(line.astype(np.float64))).load().dtype == np.uint8


@pytest.mark.parametrize("array, message", [
    (np.ones((8, 8, 3), bool), "unsupported pixel type bool"),
    (np.ones((8, 8, 3), np.complex64), "unsupported pixel type complex64"),
    (np.full((8, 8, 3), 200, object), "unsupported pixel type object"),
    (np.full((8, 8), "x"), "unsupported pixel type <U1"),
    (np.full((8, 8, 3), np.nan, np.float32), "NaN or infinite"),
    (np.array([[np.inf, 200.0]]), "NaN or infinite"),
    (np.zeros((8,), np.uint8), "has shape \\(8,\\)"),
    (np.zeros((2, 8, 8, 3), np.uint8), "has shape \\(2, 8, 8, 3\\)"),
])
def test_unsupported_arrays(array, message):
    error = _load_error(next(iter_inputs(array)))
    assert error.source == "input" and str(error).startswith("input ")
    assert re.search(message, str(error))


def test_a_bad_entry_fails_in_its_place_and_expansion_goes_on(tmp_path):
    good = _png(tmp_path / "good.png")
    items = list(iter_inputs([good, str(tmp_path / "missing.png"), good]))
    assert len(items) == 3
    assert items[0].load().shape == items[2].load().shape == (32, 64, 3)
    error = _load_error(items[1])
    assert items[1].source == error.source == str(tmp_path / "missing.png")
    assert items[1].input_path == str(tmp_path / "missing.png")
    assert str(error) == f"input '{tmp_path / 'missing.png'}' does not exist"


def test_arrays_are_named_by_their_place_in_the_list(tmp_path):
    good = _png(tmp_path / "good.png")
    bad = np.zeros((4, 4, 2), np.uint8)
    items = list(iter_inputs([good, good, good, bad, [good, bad, 7]]))
    assert [item.source for item in items] == [good] * 3 + ["input[3]", good, "input[4][1]", "input[4][2]"]
    assert [item.input_path for item in items[3:]] == [None, good, None, None]
    assert _load_error(items[3]).source == "input[3]"
    assert str(_load_error(items[5])).startswith("input[4][1] has shape (4, 4, 2)")
    assert str(_load_error(items[6])).startswith("input[4][2] has unsupported type int")
    (lone,) = iter_inputs(42)
    assert _load_error(lone).source == "input"


def test_expansion_never_raises_for_one_entry(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "bad.tiff").write_bytes(b"II*\x00 not really")
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    entries = [str(tmp_path / "notes.txt"), str(tmp_path / "empty"), str(tmp_path / "bad.tiff"),
               f"http://127.0.0.1:{port}/doc.tiff", f"http://127.0.0.1:{port}/line.png", b"bytes"]
    items = list(iter_inputs(entries))
    assert [item.source for item in items] == entries[:-1] + ["input[5]"]
    messages = [str(_load_error(item)) for item in items]
    for message, expected in zip(messages, ["is not a supported file type", "holds no image", "could not be decoded as "
                                            "a TIFF", "could not be downloaded", "could not be downloaded",
                                            "unsupported type bytes"]):
        assert expected in message


@pytest.mark.skipif(not HAS_PDFIUM, reason="PDF input needs pypdfium2 (extra 'pdf')")
def test_pdf_that_cannot_be_opened_is_one_failed_item(tmp_path):
    path = tmp_path / "bad.pdf"
    path.write_bytes(b"%PDF-1.7 truncated")
    (item,) = iter_inputs([str(path)])
    error = _load_error(item)
    assert error.source == str(path) and "could not be opened as a PDF" in str(error)


@pytest.mark.skipif(not HAS_PDFIUM, reason="PDF input needs pypdfium2 (extra 'pdf')")
def test_pdf_page_over_the_limit_is_refused_before_rendering(tmp_path):
    import pypdfium2 as pdfium

    path = tmp_path / "doc.pdf"
    document = pdfium.PdfDocument.new()
    document.new_page(6000, 6000)  # points: 12000 x 12000 pixels at PaddleX's 2x
    document.new_page(100, 50)
    document.save(str(path))
    document.close()
    first, second = iter_inputs(str(path))
    assert second.load().shape == (100, 200, 3)
    error = _load_error(first)
    assert (first.page_index, first.source, error.source) == (0, f"{path} page 0", f"{path} page 0")
    assert "page 0' is 12000x12000 = 144,000,000 pixels, above the limit" in str(error)


def test_limit_from_argument_environment_or_default(tmp_path, monkeypatch):
    path = _png(tmp_path / "line.png")  # 64 x 32 = 2048 pixels
    assert resolve_max_image_pixels() == DEFAULT_MAX_IMAGE_PIXELS
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, " 2_000 ")
    assert resolve_max_image_pixels() == 2000
    assert "above the limit of 2,000" in str(_load_error(next(iter_inputs(path))))
    assert next(iter_inputs(path, max_image_pixels=2048)).load().shape == (32, 64, 3)  # the argument wins
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, "0")
    assert resolve_max_image_pixels() is None
    assert next(iter_inputs(path)).load().shape == (32, 64, 3)
    assert resolve_max_image_pixels(0) is None


@pytest.mark.parametrize("value", ["lots", "1e8", "-1", "2.5"])
def test_bad_limit_in_the_environment_is_a_config_error(monkeypatch, value):
    monkeypatch.setenv(MAX_IMAGE_PIXELS_ENV, value)
    with pytest.raises(ConfigError, match=f"environment variable {MAX_IMAGE_PIXELS_ENV} must be a whole number.*"
                                          f"got {value!r}"):
        iter_inputs([])  # raised at once, before anything is read


@pytest.mark.parametrize("value", [-1, 2.5, True, "100"])
def test_bad_limit_argument_is_a_config_error(value):
    with pytest.raises(ConfigError, match="max_image_pixels must be a whole number"):
        iter_inputs([], max_image_pixels=value)


_THREADED_PDFS = """
import sys, threading
from hpi import TextRecognition
model = TextRecognition(model_dir=sys.argv[1], device="cpu", use_hpip=True)
paths, results = sys.argv[2:], {}
def read(thread):
    results[thread] = [(r["page_index"], r["rec_text"]) for path in paths for r in model.predict(path, batch_size=2)]
threads = [threading.Thread(target=read, args=(t,)) for t in range(8)]
for t in threads: t.start()
for t in threads: t.join()
print(len({tuple(r) for r in results.values()}), len(results), results[0][:2])
"""


@pytest.mark.skipif(not HAS_PDFIUM, reason="PDF input needs pypdfium2 (extra 'pdf')")
def test_threads_sharing_a_predictor_read_pdfs_without_crashing(v4_onnx_dir, hello, tmp_path):
    """pdfium is not thread-safe: 8 threads sharing one predictor over PDFs crashed the process (SIGSEGV/SIGTRAP in
    libpdfium) and, on a first use, got a half-imported pypdfium2 ("could not be opened"). Run in a child process, so
    that a crash fails this test instead of ending the suite."""
    import subprocess
    import sys

    paths = []
    for index in range(4):
        path = tmp_path / f"doc{index}.pdf"
        page = Image.fromarray(hello[:, :, ::-1])
        page.save(path, save_all=True, append_images=[page.copy(), page.copy()], resolution=72)
        paths.append(str(path))
    run = subprocess.run([sys.executable, "-c", _THREADED_PDFS, str(v4_onnx_dir), *paths], capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, f"the process ended with {run.returncode}: {run.stderr[-2000:]}"
    distinct, threads, first = run.stdout.split(maxsplit=2)
    assert (distinct, threads) == ("1", "8")  # every thread read every page, the same
    assert first.strip() == repr([(0, TEXT), (1, TEXT)])


def test_only_regular_files_are_read(model, tmp_path):
    """A FIFO named like an image blocked the reader forever, and a link to /dev/zero read until memory ran out:
    both are refused at once, naming the input; a file above the size limit is refused before it is read."""
    import os

    fifo = tmp_path / "line.png"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.jpg"
    zero.symlink_to("/dev/zero")
    outcome = {}

    def read_them():
        try:
            for path in (fifo, zero):
                with pytest.raises(InputError, match="is not a regular file") as error:
                    model.predict(str(path))
                assert error.value.source == str(path)
            outcome["done"] = True
        except BaseException as exc:  # reported below, in the test's thread
            outcome["error"] = exc

    reader = threading.Thread(target=read_them, daemon=True)
    reader.start()
    reader.join(60)
    assert not reader.is_alive(), "reading a FIFO or /dev/zero did not return"
    assert outcome == {"done": True}, outcome.get("error")


def test_a_file_above_the_size_limit_is_refused_before_it_is_read(model, hello, tmp_path, monkeypatch):
    path = tmp_path / "line.png"
    cv2.imwrite(str(path), hello)
    monkeypatch.setattr(inputs, "MAX_INPUT_FILE_BYTES", path.stat().st_size - 1)
    with pytest.raises(InputError, match="above the .*-byte limit on an input file"):
        model.predict(str(path))


@pytest.mark.parametrize("suffix", [".jp2", ".hdr", ".pam", ".pfm", ".tif"])
def test_every_format_is_sized_before_it_is_decoded(suffix, monkeypatch):
    """OpenCV decodes by content: a JPEG 2000, Radiance HDR, PAM or PFM under any name was decoded whole before the
    size check (a 1 KB JPEG 2000 of 16384 x 16384: +1.8 GB, 11 s). Now each is sized from its header, or refused."""
    image = np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(suffix, image.astype(np.float32) if suffix in (".hdr", ".pfm") else image)
    assert ok
    data, origin = encoded.tobytes(), inputs.Origin.of_path(f"line{suffix}")
    monkeypatch.setattr(inputs.cv2, "imdecode", lambda *args: pytest.fail("decoded before the size check"))
    with pytest.raises(InputError) as refused:
        inputs.decode_image(data, origin, inputs.DecodeLimits(100))
    expected = ("not a format whose size is read from its header" if suffix == ".hdr" else
                "60x40 = 2,400 pixels, above the limit")
    assert expected in str(refused.value) and refused.value.source == f"line{suffix}"
    monkeypatch.undo()
    if suffix != ".hdr":  # within the limit: decoded as before
        assert inputs.decode_image(data, origin, inputs.DecodeLimits(10_000)).shape == (40, 60, 3)
    assert inputs.decode_image(data, origin, inputs.DecodeLimits()).shape == (40, 60, 3)  # no limit: OpenCV decides, as PaddleX


@pytest.mark.skipif(not HAS_PDFIUM, reason="PDF input needs pypdfium2 (extra 'pdf')")
def test_a_pdf_page_that_renders_too_long_is_cut_at_its_limit(model, hello, tmp_path, monkeypatch):
    """A 3 KB page of 40,000 wide strokes kept pdfium busy for minutes, with no way to stop it: now the page fails at
    its time limit, naming it, the other pages are read, and the next PDF renders as before."""
    from helpers import slow_pdf

    from hpi import pdf_render

    slow = tmp_path / "slow.pdf"
    slow.write_bytes(slow_pdf())
    good = tmp_path / "good.pdf"
    Image.fromarray(hello[:, :, ::-1]).save(good, resolution=72)
    monkeypatch.setenv(pdf_render.PAGE_TIMEOUT_ENV, "0.5")
    ended = pdf_render.ended_processes()
    results = model.predict([str(slow), str(good)], on_bad_input="skip")
    assert [(r["input_path"], r["page_index"], r["rec_text"]) for r in results] == [(str(good), 0, TEXT)]
    assert pdf_render.ended_processes() == ended + 1
    with pytest.raises(InputError, match=r"slow\.pdf page 0' could not be rendered: took longer than 0\.5 s"):
        model.predict(str(slow))
    monkeypatch.setenv(pdf_render.PAGE_TIMEOUT_ENV, "nan")
    with pytest.raises(ConfigError, match=f"{pdf_render.PAGE_TIMEOUT_ENV} must be a number of seconds > 0"):
        model.predict(str(good))


_MEMORY_LIMITED_PDF = """
import sys
from hpi.errors import InputError
from hpi.inputs import iter_inputs
big, small = sys.argv[1:]
for path in (big, small, big, small):
    try:
        image = next(iter(iter_inputs(path, max_image_pixels=0))).load()
        print(path, image.shape)
    except InputError as exc:
        print(path, "InputError", exc)
"""


@pytest.mark.skipif(not HAS_PDFIUM, reason="PDF input needs pypdfium2 (extra 'pdf')")
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="the render memory limit is Linux's")
def test_a_pdf_page_beyond_the_render_memory_limit_fails_alone(tmp_path):
    """Rendering beyond HPI_PDF_MEMORY_MB fails that page with an InputError naming it; the pages after it render."""
    import os
    import subprocess
    import sys

    from helpers import pdf_file

    big = tmp_path / "poster.pdf"
    big.write_bytes(pdf_file([], width=4000, height=4000))  # 8000 x 8000 at 2x: 192 MB of pixels
    small = tmp_path / "small.pdf"
    small.write_bytes(pdf_file([], content=b"0 0 1 1 re f\n"))
    env = {**os.environ, "HPI_PDF_MEMORY_MB": "64"}
    run = subprocess.run([sys.executable, "-c", _MEMORY_LIMITED_PDF, str(big), str(small)], capture_output=True,
                         text=True, timeout=300, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert len(lines) == 4, run.stdout
    for line in lines[0::2]:
        assert line == (f"{big} InputError input '{big} page 0' could not be rendered: needs more memory than a "
                        "render may use (64 MB, environment variable HPI_PDF_MEMORY_MB)"), line
    assert lines[1] == lines[3] == f"{small} (1584, 1224, 3)"


def test_a_fifo_in_a_folder_is_an_input_refused_by_name(hello, tmp_path):
    """A FIFO named like an image inside a folder was skipped without a word: it is listed, and reading it says why."""
    import os

    cv2.imwrite(str(tmp_path / "a.png"), hello)
    os.mkfifo(tmp_path / "b.png")
    items = list(iter_inputs(str(tmp_path)))
    assert [item.source for item in items] == [str(tmp_path / "a.png"), str(tmp_path / "b.png")]
    assert items[0].load().shape == hello.shape
    with pytest.raises(InputError, match="b.png' is not a regular file"):
        items[1].load()


class _EndlessBody(http.server.BaseHTTPRequestHandler):
    """A server whose body never ends (no Content-Length), or declares more than it may."""

    def do_GET(self):
        self.send_response(200)
        if self.path == "/declared.png":
            self.send_header("Content-Length", str(10 << 30))
        self.end_headers()
        try:
            while True:
                self.wfile.write(b"\\0" * (1 << 16))
        except OSError:  # the reader stopped
            pass

    def log_message(self, *args):
        pass


def test_a_url_body_above_the_input_size_limit_is_refused(monkeypatch):
    """The library read a URL's body whole: an endless one ran memory out. Now at most an input file's limit."""
    monkeypatch.setattr(inputs, "MAX_INPUT_FILE_BYTES", 1 << 20)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EndlessBody)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        with pytest.raises(InputError, match=r"sent more than the 1,048,576-byte limit on an input"):
            inputs.fetch_url(f"{base}/endless.png")
        (item,) = iter_inputs(f"{base}/declared.png")
        with pytest.raises(InputError, match=r"is 10,737,418,240 bytes, above the 1,048,576-byte limit"):
            item.load()
    finally:
        server.shutdown()
