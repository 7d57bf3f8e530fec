"""Bad and oversize requests get a 4xx with a clear errorMsg in PaddleX's envelope, and the server goes on."""
import http.client
import json
import struct
import threading
import time
import zlib

import pytest
from serving_helpers import b64, get, metric, post

ENDPOINT = "/text-recognition"


@pytest.fixture()
def still_answers(server, samples_dir):
    """After the test: the same server still recognizes a good request."""
    yield
    status, body = post(server.url + ENDPOINT, {"file": b64(samples_dir / "hello_world.png")})
    assert status == 200 and body["result"]["recResults"][0]["recText"] == "Hello World 2026"


def expect_error(status_body, status: int, *phrases: str):
    got, body = status_body
    assert got == status, body
    assert set(body) == {"logId", "errorCode", "errorMsg"} and body["errorCode"] == status
    for phrase in phrases:
        assert phrase in body["errorMsg"], body["errorMsg"]
    return body


def png_header(width: int, height: int) -> bytes:
    """The start of a PNG declaring width x height: a decompression bomb's header (no pixels needed)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


@pytest.mark.usefixtures("still_answers")
class TestBadInputs:
    def test_bad_base64(self, server):
        expect_error(post(server.url + ENDPOINT, {"file": "@@not base64@@", "logId": "x"}), 422, "file",
                     "not valid base64")

    def test_bytes_that_are_not_an_image(self, server):
        body = expect_error(post(server.url + ENDPOINT, {"files": [b64(b"hello, I am text")], "logId": "mine"}),
                            422, "files[0]", "could not be decoded as an image")
        assert body["logId"] == "mine"  # the request's logId, on errors too

    def test_a_pdf_sent_as_an_image(self, server):
        expect_error(post(server.url + ENDPOINT, {"file": b64(b"%PDF-1.4\n%%EOF\n"), "fileType": 1}), 422,
                     "is a PDF where an image was expected", "fileType 0 or null")

    def test_a_server_side_path_is_never_opened(self, server, samples_dir):
        path = str((samples_dir / "hello_world.png").resolve())  # a real image the server could read
        expect_error(post(server.url + ENDPOINT, {"file": path}), 422, "never opens its own files")
        expect_error(post(server.url + ENDPOINT, {"file": "file://" + path}), 422, "never opens its own files")

    def test_a_url_while_fetching_is_off(self, server):
        expect_error(post(server.url + ENDPOINT, {"file": server.url + "/health"}), 422, "does not fetch URLs",
                     "--allow_url_fetch")

    def test_an_image_above_the_pixel_limit(self, server):
        expect_error(post(server.url + ENDPOINT, {"file": b64(png_header(5000, 5000))}), 422,
                     "5000x5000 = 25,000,000 pixels, above the limit of 16,777,216")

    def test_too_many_lines(self, server, samples_dir):
        line = b64(samples_dir / "hello_world.png")
        expect_error(post(server.url + ENDPOINT, {"files": [line] * 9}), 413, "more than 8 lines",
                     "--max_lines_per_request")

    def test_a_body_above_the_limit_by_content_length(self, server):
        body = json.dumps({"file": "A" * (1024 * 1024)}).encode()
        expect_error(post(server.url + ENDPOINT, body, raw=True), 413, "above the limit of 1,048,576 bytes",
                     "--max_body_mb")

    def test_a_chunked_body_above_the_limit(self, server):
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        chunks = (b'{"file": "' + b"A" * 65536 for _ in range(40))  # 2.6 MB, no Content-Length
        try:
            connection.request("POST", ENDPOINT, body=chunks, encode_chunked=True,
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            expect_error((response.status, json.loads(response.read())), 413, "above the limit")
        finally:
            connection.close()

    def test_not_json_and_wrong_fields(self, server):
        expect_error(post(server.url + ENDPOINT, b"{nope", raw=True), 422, "not valid JSON")
        expect_error(post(server.url + ENDPOINT, {"file": "aaaa", "fileType": 7}), 422, "fileType")
        expect_error(post(server.url + ENDPOINT, {"fileType": 1}), 422, "either `file`")
        expect_error(post(server.url + ENDPOINT, {"files": ["aaaa", 3]}), 422, "files[1]")


def test_a_full_queue_answers_503_and_the_waiting_request_is_answered(serve, samples_dir):
    line = b64(samples_dir / "hello_world.png")
    with serve(max_queue_lines=2, max_lines_per_request=2, batch_wait_ms=1500) as live:
        first = []
        waiting = threading.Thread(target=lambda: first.append(post(live.url + ENDPOINT, {"files": [line, line]})))
        waiting.start()
        deadline = time.monotonic() + 20
        while metric(get(live.url + "/metrics")[1], "hpi_queue_lines") < 2:  # the first request is queued
            assert time.monotonic() < deadline
            time.sleep(0.02)
        expect_error(post(live.url + ENDPOINT, {"file": line}), 503, "queue limit of 2 lines", "--max_queue_lines")
        waiting.join(60)
        status, body = first[0]
        assert status == 200 and [r["recText"] for r in body["result"]["recResults"]] == ["Hello World 2026"] * 2
        metrics = get(live.url + "/metrics")[1]
    assert metric(metrics, "hpi_http_errors_total", code="503") == 1
