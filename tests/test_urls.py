"""hpi/urls.py: the one URL policy of the library's URL inputs and the server's `file` URLs. Loopback servers only;
the server's side (private targets refused, its limits) is in tests/serving/test_serving_urls.py."""
import http.server
import threading

import pytest

from hpi.errors import ConfigError, InputError
from hpi.urls import LIBRARY_MAX_REDIRECTS, UrlPolicy, fetch, library_policy, server_policy


class _Origin(http.server.BaseHTTPRequestHandler):
    """/data: b"hello"; /to/N: N more redirects before /data; /ftp: a redirect to ftp://. As a proxy (an absolute
    URL in the request line) it answers the same, and records what it was asked for."""

    asked = []

    def do_GET(self):
        self.asked.append(self.path)
        path = self.path.split("://", 1)[-1].partition("/")[2] if "://" in self.path else self.path.lstrip("/")
        if path.startswith("to/"):
            left = int(path[3:])
            self._redirect("/data" if left == 0 else f"/to/{left - 1}")
        elif path == "ftp":
            self._redirect("ftp://example.com/a.png")
        else:
            self.send_response(200)
            self.send_header("Content-Length", "5")
            self.end_headers()
            self.wfile.write(b"hello")

    def _redirect(self, location):
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def origin():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Origin)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def get(url, policy):
    return fetch(url, policy, label=f"input '{url}'", source=url)


def test_the_library_follows_urllibs_number_of_redirects_to_http_targets_only(origin):
    policy = library_policy(max_bytes=1 << 20, timeout_s=5)
    assert get(f"{origin}/to/{LIBRARY_MAX_REDIRECTS - 1}", policy) == b"hello"
    with pytest.raises(InputError, match=f"redirected more than {LIBRARY_MAX_REDIRECTS} times"):
        get(f"{origin}/to/{LIBRARY_MAX_REDIRECTS}", policy)
    with pytest.raises(InputError, match=r"\(redirected to ftp://example.com/a.png\) is not an http\(s\) URL"):
        get(f"{origin}/ftp", policy)


def test_the_library_goes_through_the_environments_proxy_and_a_server_never(origin, monkeypatch):
    monkeypatch.setenv("http_proxy", origin)
    monkeypatch.setenv("no_proxy", "")
    _Origin.asked.clear()
    assert get("http://hpi-test.invalid/data", library_policy(max_bytes=1 << 20, timeout_s=5)) == b"hello"
    assert _Origin.asked == ["http://hpi-test.invalid/data"]  # the proxy was asked for the absolute URL
    with pytest.raises(InputError, match=r"is not an http\(s\) URL"):  # redirects through the proxy: checked too
        get("http://hpi-test.invalid/ftp", library_policy(max_bytes=1 << 20, timeout_s=5))
    server = server_policy(allow_private=True, timeout_s=5, max_bytes=1 << 20, size_flag="--max_body_mb")
    with pytest.raises(InputError, match="could not be downloaded"):  # no proxy: the name does not resolve
        get("http://hpi-test.invalid/data", server)


def test_a_policy_refusing_private_addresses_cannot_use_a_proxy():
    with pytest.raises(ConfigError, match="cannot use proxies"):
        UrlPolicy(max_bytes=1, timeout_s=1, allow_private=False, use_environment_proxies=True)
