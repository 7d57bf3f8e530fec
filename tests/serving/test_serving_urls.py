"""`file` as a URL: refused unless the server fetches URLs; then public targets only unless private ones are
allowed; redirects, size and time limited. Only loopback is ever contacted here."""
import http.server
import ipaddress
import threading
import time

import pytest
from serving_helpers import b64, post

from hpi.urls import forbidden_kind

ENDPOINT = "/text-recognition"


@pytest.fixture(scope="module")
def origin(samples_dir):
    """A loopback HTTP server: /line.png, /redirect (to it), /loop, /big (2 MiB), /slow, anything else 404."""
    image = (samples_dir / "hello_world.png").read_bytes()
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            if self.path == "/line.png":
                self._send(200, image)
            elif self.path in ("/redirect", "/loop"):
                self.send_response(302)
                self.send_header("Location", "/line.png" if self.path == "/redirect" else "/loop")
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif self.path == "/big":
                self._send(200, b"\0" * (2 * 1024 * 1024))
            elif self.path == "/slow":
                self.send_response(200)
                self.end_headers()
                for _ in range(20):
                    self.wfile.write(b"\0" * 100)
                    self.wfile.flush()
                    time.sleep(0.1)
            else:
                self._send(404, b"no")

        def _send(self, status, body):
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.hits = hits
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def error_of(live, file):
    status, body = post(live.url + ENDPOINT, {"file": file})
    assert 400 <= status < 500 and body["errorCode"] == status and "result" not in body, body
    return body["errorMsg"]


@pytest.mark.parametrize("address, kind", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"), ("10.1.2.3", "private"),
    ("192.168.0.1", "private"), ("172.16.5.4", "private"), ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"), ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("0.0.0.0", "unspecified"),
    ("100.64.0.1", "non-global"), ("8.8.8.8", ""), ("2606:4700:4700::1111", ""),
])
def test_which_addresses_are_refused(address, kind):
    assert forbidden_kind(ipaddress.ip_address(address)) == kind


def test_private_targets_are_refused_before_any_connection(serve, origin):
    before = len(origin.hits)
    with serve(allow_url_fetch=True) as live:
        for url in (origin.url + "/line.png", origin.url.replace("127.0.0.1", "localhost") + "/line.png",
                    "http://[::1]/x.png", "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/a.png"):
            message = error_of(live, url)
            assert "is refused" in message and "--allow_private_urls" in message, message
        assert "loopback" in error_of(live, origin.url + "/line.png")
        assert "not valid base64" in error_of(live, "ftp://example.com/a.png")  # no other scheme is fetched
    assert len(origin.hits) == before  # nothing reached the loopback server


def test_fetching_with_private_targets_allowed(serve, origin):
    with serve(allow_url_fetch=True, allow_private_urls=True, max_body_mb=1, url_timeout_s=0.5) as live:
        for path in ("/line.png", "/redirect"):
            status, body = post(live.url + ENDPOINT, {"file": origin.url + path, "fileType": 1})
            assert status == 200, body
            assert body["result"]["recResults"][0]["recText"] == "Hello World 2026"
        assert "redirected more than 3 times" in error_of(live, origin.url + "/loop")
        assert "larger than the limit of 1,048,576 bytes" in error_of(live, origin.url + "/big")
        assert "HTTP 404" in error_of(live, origin.url + "/missing.png")
        started = time.monotonic()
        message = error_of(live, origin.url + "/slow")
        assert "took longer" in message or "timed out" in message, message
        assert time.monotonic() - started < 1.9  # the server sends for 2 s; the limit is 0.5 s
        assert "base64 images only" in post(live.url + ENDPOINT, {"files": [origin.url + "/line.png"]})[1]["errorMsg"]


@pytest.fixture(scope="module")
def tls_origin(origin, tmp_path_factory):
    """The same handler over HTTPS, with a self-signed certificate for localhost."""
    import shutil
    import ssl
    import subprocess

    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), origin.RequestHandlerClass)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    httpd.port, httpd.cert = httpd.server_address[1], cert
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_https_is_verified_against_the_host_name(serve, tls_origin, monkeypatch):
    url = f"https://localhost:{tls_origin.port}/line.png"
    with serve(allow_url_fetch=True, allow_private_urls=True) as live:
        assert "CERTIFICATE_VERIFY_FAILED" in error_of(live, url)  # self-signed: not trusted by default
        monkeypatch.setenv("SSL_CERT_FILE", str(tls_origin.cert))  # now trusted, for the name localhost only
        status, body = post(live.url + ENDPOINT, {"file": url})
        assert status == 200 and body["result"]["recResults"][0]["recText"] == "Hello World 2026", body
        message = error_of(live, f"https://127.0.0.1:{tls_origin.port}/line.png")  # the address, not the name
        assert "certificate" in message.lower() or "hostname" in message.lower(), message
