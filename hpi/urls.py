"""The one policy for reading an http(s) URL, the library's URL inputs and a server's `file` URLs alike.

A UrlPolicy decides what a download may do; `fetch(url, policy, ...)` applies it:
- schemes: http and https only (SCHEMES), at the start and after every redirect;
- redirects: followed by hand, each target checked like the first URL, at most `max_redirects`;
- size: at most `max_bytes`, checked on Content-Length and while reading (an endless body once ran memory out);
- time: `timeout_s` for each connection and read, and `deadline_s` (if set) for the whole download;
- addresses: every address the host resolves to is checked, and non-public ones (private, loopback, link-local,
  multicast, reserved, unspecified) are refused unless `allow_private`; the connection goes to an address that was
  checked (no second lookup a DNS answer could change);
- proxies: the environment's (http_proxy, https_proxy, no_proxy) only where `use_environment_proxies`, which needs
  `allow_private` (a proxy resolves the host itself, past the address check).

The library (hpi.inputs.fetch_url) reads with `library_policy()`: any address, the environment's proxies, 10
redirects (urllib's, what it followed before), each read within 30 s (URL_TIMEOUT_S), at most an input file's size
(MAX_INPUT_FILE_BYTES). A server reads
with `server_policy(...)` (ServeSettings.url_policy), and only when its operator allows URLs at all: public addresses
unless allowed, no proxies, 3 redirects, one deadline, at most a request body's size.
Every refusal or failure is an InputError naming the URL and its problem.
"""
from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import List, Optional, Union

from .errors import ConfigError, InputError

SCHEMES = ("http", "https")
LIBRARY_MAX_REDIRECTS = 10  # urllib's limit, what library URL inputs followed before this policy
SERVER_MAX_REDIRECTS = 3
USER_AGENT = "hpi"
_REDIRECTS = (301, 302, 303, 307, 308)
_CHUNK = 64 * 1024
_Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


@dataclass(frozen=True)
class UrlPolicy:
    """What one download may do (see the module's docstring). `size_flag`: the option that sets `max_bytes`, named
    when a body is refused for its size (None: the fixed limit on an input)."""

    max_bytes: int
    timeout_s: float
    allow_private: bool = True
    deadline_s: Optional[float] = None
    max_redirects: int = LIBRARY_MAX_REDIRECTS
    use_environment_proxies: bool = False
    size_flag: Optional[str] = None

    def __post_init__(self):
        if self.use_environment_proxies and not self.allow_private:
            raise ConfigError("a URL policy that refuses private addresses cannot use proxies: a proxy resolves the "
                              "host itself, past the address check")

    def too_large(self, declared: Optional[int]) -> str:
        """The problem of a body above max_bytes (`declared`: its Content-Length; None: found while reading)."""
        if self.size_flag is not None:
            return f"is larger than the limit of {self.max_bytes:,} bytes ({self.size_flag})"
        if declared is not None:
            return f"is {declared:,} bytes, above the {self.max_bytes:,}-byte limit on an input"
        return f"sent more than the {self.max_bytes:,}-byte limit on an input"


def library_policy(*, max_bytes: int, timeout_s: float) -> UrlPolicy:
    """The library's: any address, the environment's proxies, LIBRARY_MAX_REDIRECTS, `timeout_s` for each read."""
    return UrlPolicy(max_bytes=max_bytes, timeout_s=timeout_s, use_environment_proxies=True)


def server_policy(*, allow_private: bool, timeout_s: float, max_bytes: int, size_flag: str) -> UrlPolicy:
    """A server's: no proxies, SERVER_MAX_REDIRECTS, `timeout_s` for the whole download."""
    return UrlPolicy(max_bytes=max_bytes, allow_private=allow_private, timeout_s=timeout_s, deadline_s=timeout_s,
                     max_redirects=SERVER_MAX_REDIRECTS, size_flag=size_flag)


def is_url(text: str) -> bool:
    return text[:8].lower().startswith(tuple(scheme + "://" for scheme in SCHEMES))


def fetch(url: str, policy: UrlPolicy, *, label: str, source: str) -> bytes:
    """The body of a GET of `url` under `policy`. Errors read "<label> <problem>" (InputError with `source`)."""
    download = _Download(url, policy, label, source)
    if policy.use_environment_proxies and _proxied(url):
        return download.through_proxy()
    return download.direct()


def forbidden_kind(address: _Address) -> str:
    """'' for a public address, else what it is (loopback, private, ...)."""
    mapped = getattr(address, "ipv4_mapped", None) or getattr(address, "sixtofour", None)
    if mapped is not None:
        address = mapped
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):  # most telling first
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return "" if address.is_global else "non-global"


def _proxied(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme.lower() in urllib.request.getproxies() and not urllib.request.proxy_bypass(parts.hostname or "")


class _Download:
    """One fetch: the policy, the time it may take, and its errors' wording."""

    def __init__(self, url: str, policy: UrlPolicy, label: str, source: str):
        self.first_url, self.policy, self.label, self.source = url, policy, label, source
        self.deadline = None if policy.deadline_s is None else time.monotonic() + policy.deadline_s

    def error(self, problem: str, url: Optional[str] = None, cause: Optional[BaseException] = None) -> InputError:
        where = "" if url in (None, self.first_url) else f" (redirected to {url})"
        error = InputError(f"{self.label}{where} {problem}", source=self.source)
        error.__cause__ = cause
        return error

    def timeout(self) -> float:
        """Seconds the next connection or read may take."""
        if self.deadline is None:
            return self.policy.timeout_s
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.error("took longer than the download limit (--url_timeout_s)")
        return min(left, self.policy.timeout_s)

    def direct(self) -> bytes:
        url = self.first_url
        for _ in range(self.policy.max_redirects + 1):
            response, connection = self._get(url)
            try:
                if response.status in _REDIRECTS:
                    location = response.getheader("Location")
                    if not location:
                        raise self.error(f"redirected (HTTP {response.status}) without a Location", url)
                    url = urllib.parse.urljoin(url, location)
                    continue
                if not 200 <= response.status < 300:
                    raise self.error(f"could not be downloaded: HTTP {response.status} {response.reason}", url)
                return self._read_body(response, lambda: connection.opened, url)
            finally:
                connection.close()
        raise self.error(f"redirected more than {self.policy.max_redirects} times")

    def through_proxy(self) -> bytes:
        """Through the environment's proxy, with urllib (which speaks to proxies); redirects checked as above."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler(), _RedirectHandler(self))
        request = urllib.request.Request(self._checked(self.first_url).geturl(), headers=_HEADERS)
        try:
            with opener.open(request, timeout=self.timeout()) as response:
                return self._read_body(response, lambda: None, getattr(response, "url", None))
        except urllib.error.HTTPError as exc:
            raise self.error(f"could not be downloaded: HTTP {exc.code} {exc.reason}", exc.geturl()) from None
        except (OSError, http.client.HTTPException) as exc:
            raise self.error(f"could not be downloaded: {getattr(exc, 'reason', exc)}", cause=exc) from None

    def _checked(self, url: str) -> urllib.parse.SplitResult:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme.lower() not in SCHEMES or not parts.hostname:
            raise self.error("is not an http(s) URL with a host", url)
        try:
            parts.port
        except ValueError:
            raise self.error("has an invalid port", url) from None
        return parts

    def _get(self, url: str):
        parts = self._checked(url)
        https = parts.scheme.lower() == "https"
        port = parts.port or (443 if https else 80)
        connection = (_PinnedHTTPSConnection if https else _PinnedHTTPConnection)(parts.hostname, port,
                                                                                  self.timeout())
        connection.addresses = self._checked_addresses(parts.hostname, port, url)
        target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
        try:
            connection.request("GET", target, headers=_HEADERS)
            return connection.getresponse(), connection
        except (OSError, http.client.HTTPException) as exc:
            connection.close()
            raise self.error(f"could not be downloaded: {exc}", url, exc) from None

    def _checked_addresses(self, host: str, port: int, url: str) -> List[str]:
        """The addresses of `host` to connect to, in order, once every one of them was checked."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise self.error(f"could not be downloaded: its host could not be resolved: {exc}", url, exc) from None
        texts = list(dict.fromkeys(info[4][0] for info in infos))
        if not texts:
            raise self.error("could not be downloaded: its host resolved to no address", url)
        if not self.policy.allow_private:
            for text in texts:
                address = ipaddress.ip_address(text.split("%", 1)[0])
                kind = forbidden_kind(address)
                if kind:
                    raise self.error(f"is refused: its host resolves to {address}, a {kind} address (the server "
                                     "refuses non-public targets; --allow_private_urls lifts this)", url)
        return texts

    def _read_body(self, response, socket_of, url: str) -> bytes:
        """The body, at most max_bytes; `socket_of()`: the socket to give each read its time (None: as opened)."""
        declared = (response.getheader("Content-Length") or "").strip()
        if declared.isdigit() and int(declared) > self.policy.max_bytes:
            raise self.error(self.policy.too_large(int(declared)), url)
        chunks, total = [], 0
        while True:
            timeout = self.timeout()
            if socket_of() is not None:
                socket_of().settimeout(timeout)  # the response reads from it
            try:
                chunk = response.read1(_CHUNK)
            except (OSError, http.client.HTTPException) as exc:
                raise self.error(f"could not be downloaded: {exc}", url, exc) from None
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > self.policy.max_bytes:
                raise self.error(self.policy.too_large(None), url)
            chunks.append(chunk)


_HEADERS = {"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"}


class _RedirectHandler(urllib.request.HTTPRedirectHandler):
    """urllib's redirects under the download's policy: its limit, http(s) targets only."""

    def __init__(self, download: _Download):
        self.download = download
        self.max_redirections = download.policy.max_redirects

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.download._checked(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)

    def http_error_302(self, req, fp, code, msg, headers):
        try:
            return super().http_error_302(req, fp, code, msg, headers)
        except urllib.error.HTTPError as exc:
            if "redirect" in str(exc.reason):  # urllib's "The HTTP server returned a redirect error that would..."
                raise self.download.error(f"redirected more than {self.max_redirections} times") from None
            raise

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def _connect(addresses: List[str], port: int, timeout: float) -> socket.socket:
    """A connection to the first of `addresses` (checked) that answers."""
    failure: Optional[OSError] = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            failure = exc
    raise failure or OSError("no address to connect to")


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to `addresses` (checked) while naming the host in the request."""

    addresses: List[str] = []
    opened = None  # the socket, kept: http.client drops self.sock when the response reads to the close

    def connect(self):
        self.sock = self.opened = _connect(self.addresses, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """As above, with TLS verified against the host name (SNI and certificate)."""

    addresses: List[str] = []
    opened = None

    def __init__(self, host: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())

    def connect(self):
        sock = _connect(self.addresses, self.port, self.timeout)
        self.sock = self.opened = self._context.wrap_socket(sock, server_hostname=self.host)
