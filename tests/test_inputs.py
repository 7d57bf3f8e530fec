"""Every input form predict() accepts, on the real model (ONNX Runtime/OpenVINO, high-performance mode)."""
import http.server
import threading
from functools import partial

import cv2
import numpy as np
import pytest
from capabilities import HAS_PDFIUM
from PIL import Image

from hpi import TextRecognition
from hpi.errors import InputError

TEXT = "Hello World 2026"


@pytest.fixture(scope="module")
def model(v4_onnx_dir):
    return TextRecognition(model_dir=v4_onnx_dir, device="cpu", use_hpip=True)


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
    (42, "unsupported input of type int"),
    (np.zeros((0, 10, 3), np.uint8), "empty image"),
    (np.zeros((10, 10, 5), np.uint8), "got shape"),
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
