"""Hostile clients: requests that would decode too much, PDF pages that render too long, clients that leave, and
slow or idle connections. Each is refused or cut, and the server goes on answering."""
import socket
import threading
import time

import cv2
import numpy as np
import pytest
from capabilities import HAS_PDFIUM
from helpers import slow_pdf
from serving_helpers import b64, post
from test_serving_limits import expect_error

ENDPOINT = "/text-recognition"
needs_pdfium = pytest.mark.skipif(not HAS_PDFIUM, reason="PDF input needs pypdfium2 (extra 'pdf')")


def blank_png(width: int, height: int) -> str:
    """A real, decodable image of width x height that compresses to a few KB (a bomb by its decoded size)."""
    return b64(cv2.imencode(".png", np.full((height, width, 3), 255, np.uint8))[1].tobytes())


def recognizes(live, samples_dir) -> bool:
    status, body = post(live.url + ENDPOINT, {"file": b64(samples_dir / "hello_world.png")})
    return status == 200 and body["result"]["recResults"][0]["recText"] == "Hello World 2026"


def test_a_request_beyond_its_pixel_budget_is_refused_before_decoding(serve, samples_dir):
    """Each image under the per-image limit, together above the request's: 413 naming the image that crossed it
    (the per-image limit x 256 lines let one 5.6 MB request decode ~12 GB). Every pixel goes back to the pool."""
    big = blank_png(800, 800)  # 640,000 pixels each
    with serve(max_request_pixels=1_000_000) as live:
        expect_error(post(live.url + ENDPOINT, {"files": [big, big, big]}), 413, "files[1] would bring the request's "
                     "decoded images to 1,280,000 pixels", "limit of 1,000,000 (--max_request_pixels)")
        assert live.app.state.pixels.held == 0
        status, body = post(live.url + ENDPOINT, {"files": [big]})
        assert status == 200 and len(body["result"]["recResults"]) == 1
        assert recognizes(live, samples_dir) and live.app.state.pixels.held == 0


@needs_pdfium
def test_a_pdf_page_that_renders_too_long_is_cut_and_the_server_goes_on(serve, samples_dir):
    with serve(pdf_page_timeout_s=0.5) as live:
        expect_error(post(live.url + ENDPOINT, {"file": b64(slow_pdf())}), 422, "file page 0",
                     "took longer than 0.5 s")
        assert recognizes(live, samples_dir) and live.app.state.pixels.held == 0


@needs_pdfium
def test_pixels_held_by_requests_in_progress_bound_the_next(serve, samples_dir):
    """A PDF page being rendered holds its pixels: a request that would go past the server's pixels in flight gets
    503 with Retry-After while it renders, and is served once it is done."""
    page_pixels = 1224 * 1584  # a Letter page at 2x
    with serve(max_request_pixels=page_pixels, max_pixels_in_flight=page_pixels, pdf_page_timeout_s=5) as live:
        slow = threading.Thread(target=post, args=(live.url + ENDPOINT, {"file": b64(slow_pdf())}))
        slow.start()
        deadline = time.monotonic() + 30
        while live.app.state.pixels.held < page_pixels:
            assert time.monotonic() < deadline, "the PDF page never started rendering"
            time.sleep(0.02)
        expect_error(post(live.url + ENDPOINT, {"file": b64(samples_dir / "hello_world.png")}), 503,
                     "--max_pixels_in_flight")
        slow.join(60)
        assert recognizes(live, samples_dir) and live.app.state.pixels.held == 0


@needs_pdfium
def test_a_client_that_leaves_stops_its_pdf_render(serve, samples_dir):
    """The render of a client that went away is killed at once, not at the page's time limit (here a minute)."""
    from hpi import pdf_render

    body = b'{"file": "%s"}' % b64(slow_pdf()).encode()
    with serve(pdf_page_timeout_s=60) as live:
        ended = pdf_render.ended_processes()
        with socket.create_connection(("127.0.0.1", live.port)) as client:
            client.sendall(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                           b"\r\n" % (ENDPOINT.encode(), len(body)) + body)
            deadline = time.monotonic() + 30
            while live.app.state.pixels.held == 0:  # its page is rendering
                assert time.monotonic() < deadline, "the PDF page never started rendering"
                time.sleep(0.02)
        deadline = time.monotonic() + 30
        while pdf_render.ended_processes() == ended:
            assert time.monotonic() < deadline, "the render went on after its client left"
            time.sleep(0.05)
        while live.app.state.pixels.held:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert recognizes(live, samples_dir)


def closed_by_server(sock: socket.socket, within: float = 30) -> bool:
    """True once the server closes `sock` (read returns EOF or a reset), False if it stays open `within` seconds."""
    sock.settimeout(within)
    try:
        while sock.recv(4096):
            pass
        return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


@pytest.mark.parametrize("sent", [b"", b"POST /text-recognition HTTP/1.1\r\nHost: x\r\n"], ids=["idle", "partial"])
def test_a_connection_without_a_whole_header_is_closed_at_the_header_timeout(serve, samples_dir, sent):
    with serve(header_timeout_s=0.5) as live:
        with socket.create_connection(("127.0.0.1", live.port)) as client:
            client.sendall(sent)
            assert closed_by_server(client)
        assert recognizes(live, samples_dir)


def test_a_body_that_stalls_is_cut_at_the_body_timeout(serve, samples_dir):
    with serve(body_timeout_s=0.5) as live:
        with socket.create_connection(("127.0.0.1", live.port)) as client:
            client.sendall(b"POST /text-recognition HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 1000\r\n\r\n{\"file\": \"")
            assert closed_by_server(client)
        assert recognizes(live, samples_dir)


def test_connections_beyond_the_cap_are_closed_on_arrival(serve, samples_dir):
    with serve(max_connections=4, header_timeout_s=60) as live:
        idle = [socket.create_connection(("127.0.0.1", live.port)) for _ in range(4)]
        try:
            time.sleep(0.2)  # all four accepted
            with socket.create_connection(("127.0.0.1", live.port)) as extra:
                assert closed_by_server(extra, within=10)
        finally:
            for sock in idle:
                sock.close()
        deadline = time.monotonic() + 10
        while not recognizes(live, samples_dir):  # the idle ones are closed on our side: room again
            assert time.monotonic() < deadline
            time.sleep(0.1)


def test_sigterm_with_stalled_clients_exits_within_the_shutdown_timeout(tiny_model_dir, samples_dir):
    """300 clients stalled in the middle of their bodies (a body timeout far away): after SIGTERM the server waited for
    them forever; now it cuts them after --shutdown_timeout_s and exits 0."""
    from serving_helpers import ServeProcess

    server = ServeProcess("--model_dir", str(tiny_model_dir), "--use_hpip", "--device", "cpu",
                          "--shutdown_timeout_s", "1", "--body_timeout_s", "600")
    stalled = []
    try:
        assert recognizes(server, samples_dir)
        for _ in range(300):
            client = socket.create_connection(("127.0.0.1", server.port))
            client.sendall(b"POST /text-recognition HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            stalled.append(client)
        time.sleep(0.5)  # every header read: requests in progress
        status, stderr = server.stop(timeout=60)
        assert status == 0, stderr[-2000:]
    finally:
        server.stop()
        for client in stalled:
            client.close()


@pytest.mark.parametrize("body", [b"[" * 100_000 + b"]" * 100_000,
                                  b'{"file": "x", "logId": ' + b'{"a": ' * 30_000 + b"1" + b"}" * 30_001],
                         ids=["array", "objects"])
def test_deeply_nested_json_is_refused_in_the_envelope(server, samples_dir, body, caplog):
    """100,000 nested brackets made the JSON parser raise RecursionError: a plain-text 500 outside the envelope and
    three tracebacks in the log per request."""
    expect_error(post(server.url + ENDPOINT, body, raw=True), 422, "nests JSON more than 32 levels deep")
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text
    assert recognizes(server, samples_dir)
