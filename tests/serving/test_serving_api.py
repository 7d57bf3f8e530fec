"""POST /text-recognition on a real server: the same text as predict, PaddleX's envelope, files in order, PDF
pages, 16 concurrent clients each getting its own line; the page and the API docs."""
import base64
import io
import threading

from PIL import Image
from serving_helpers import b64, get, metric, post


def test_a_curl_like_request_returns_the_text_of_predict(server, rec_model, samples_dir):
    path = samples_dir / "hello_world.png"
    expected = rec_model.predict(str(path))[0]
    status, body = post(server.url + "/text-recognition", {"file": b64(path), "fileType": 1, "logId": "req-1"})
    assert status == 200, body
    assert body["logId"] == "req-1" and body["errorCode"] == 0 and body["errorMsg"] == "Success"
    (line,) = body["result"]["recResults"]
    assert line == {"recText": "Hello World 2026", "recScore": expected["rec_score"], "pageIndex": None}
    assert expected["rec_text"] == "Hello World 2026"
    with Image.open(path) as image:
        assert body["result"]["dataInfo"] == {"type": "image", "width": image.width, "height": image.height}


def test_file_type_is_inferred_and_a_log_id_made(server, samples_dir):
    status, body = post(server.url + "/text-recognition", {"file": b64(samples_dir / "hello_world.png")})
    assert status == 200 and body["result"]["recResults"][0]["recText"] == "Hello World 2026"
    assert len(body["logId"]) == 36 and body["logId"].count("-") == 4  # a UUID


def test_a_client_log_id_cannot_forge_log_lines(server, samples_dir):
    """A logId with CR/LF was written raw into the server's log lines: it is echoed and logged escaped, and cut to
    MAX_LOG_ID_CHARS; an unprintable one in a rejected request too."""
    from hpi.serving.envelope import MAX_LOG_ID_CHARS, client_log_id

    forged = "req-1\r\n[2026/01/01 00:00:00] hpi ERROR: forged"
    status, body = post(server.url + "/text-recognition", {"file": b64(samples_dir / "hello_world.png"),
                                                          "logId": forged})
    assert status == 200 and body["logId"] == "req-1\\r\\n[2026/01/01 00:00:00] hpi ERROR: forged"
    status, body = post(server.url + "/text-recognition", {"file": "not base64 !", "logId": "x\ny"})
    assert status >= 400 and body["logId"] == "x\\ny"
    assert client_log_id("a" * 1000) == "a" * MAX_LOG_ID_CHARS and client_log_id("") is None
    assert client_log_id("\x1b[31mred") == "\\x1b[31mred"


def test_files_return_one_result_per_line_in_order(server, rec_model, lines):
    paths = lines[0][10:18]
    expected = [rec_model.predict(path)[0]["rec_text"] for path in paths]  # each line alone
    status, body = post(server.url + "/text-recognition", {"files": [b64(p) for p in paths]})
    assert status == 200, body
    assert [r["recText"] for r in body["result"]["recResults"]] == expected
    assert all(r["pageIndex"] is None for r in body["result"]["recResults"])
    assert "dataInfo" not in body["result"]


def test_pdf_pages_carry_their_page_index(server, rec_model, lines, tmp_path):
    pages = [Image.open(path).convert("RGB") for path in lines[0][:3]]
    pdf = tmp_path / "lines.pdf"
    pages[0].save(pdf, save_all=True, append_images=pages[1:], resolution=72)
    expected = rec_model.predict(str(pdf))
    for file_type in (0, None):
        status, body = post(server.url + "/text-recognition", {"file": b64(pdf), "fileType": file_type})
        assert status == 200, body
        results = body["result"]["recResults"]
        assert [r["pageIndex"] for r in results] == [0, 1, 2]
        assert [r["recText"] for r in results] == [e["rec_text"] for e in expected]
        assert body["result"]["dataInfo"]["type"] == "pdf" and body["result"]["dataInfo"]["numPages"] == 3


def test_visualize_returns_each_lines_result_image(server, samples_dir):
    status, body = post(server.url + "/text-recognition", {"file": b64(samples_dir / "hello_world.png"),
                                                           "visualize": True})
    assert status == 200, body
    png = base64.b64decode(body["result"]["recResults"][0]["recImage"])
    with Image.open(io.BytesIO(png)) as drawn, Image.open(samples_dir / "hello_world.png") as line:
        assert drawn.format == "PNG" and drawn.width == line.width and drawn.height > line.height  # text below


def test_16_concurrent_clients_each_get_their_own_line(serve, rec_model, lines):
    paths = lines[0][40:56]
    expected = [rec_model.predict(path)[0]["rec_text"] for path in paths]
    answers = [None] * len(paths)
    start = threading.Barrier(len(paths))

    def client(index):
        start.wait()
        answers[index] = post(live.url + "/text-recognition", {"files": [b64(paths[index])], "logId": str(index)})

    # a long gathering window: the 16 requests share predict calls (batching across requests is exercised)
    with serve(batch_wait_ms=300, max_batch_lines=64) as live:
        threads = [threading.Thread(target=client, args=(i,)) for i in range(len(paths))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        text = get(live.url + "/metrics")[1]
    for index, (status, body) in enumerate(answers):
        assert status == 200 and body["logId"] == str(index), body
        assert body["result"]["recResults"][0]["recText"] == expected[index]
    batches = metric(text, "hpi_batch_lines_count")
    assert metric(text, "hpi_batch_lines_sum") == 16 and batches < 16  # requests shared predict calls


def test_page_and_api_docs(server):
    import urllib.request

    with urllib.request.urlopen(server.url + "/") as response:
        page = response.read().decode("utf-8")
        assert response.headers["Content-Type"].startswith("text/html")
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    for element in ('id="file"', 'id="submit"', 'id="results"', 'id="error"', 'id="result-image"'):
        assert element in page
    assert "http://" not in page and "https://" not in page and "//cdn" not in page  # nothing from elsewhere
    status, spec = get(server.url + "/openapi.json")
    assert status == 200 and '"/text-recognition"' in spec and "TextRecognitionRequest" in spec
    assert get(server.url + "/docs")[0] == 200
