"""Fetching a request's `file` URL without letting a client reach what the server can reach.

Off unless the server allows it. Then: http and https only; every address the host resolves to is checked, and
private, loopback, link-local, multicast, reserved and unspecified ones are refused (unless private targets are
allowed); the connection goes to the address that was checked (no second lookup a DNS answer could change);
redirects are followed by hand, each target checked the same way, at most MAX_REDIRECTS; one deadline covers the
whole download and the body may not exceed the size limit (checked on Content-Length and while reading).
Environment proxies are not used. Every refusal or failure is an InputError naming the URL's problem.
"""
from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
import urllib.parse
from typing import List, Tuple, Union

from ..errors import InputError

MAX_REDIRECTS = 3
_CHUNK = 64 * 1024
_Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]


def is_url(text: str) -> bool:
    return text[:8].lower().startswith(("http://", "https://"))


def fetch(url: str, *, source: str, allow_private: bool, timeout_s: float, max_bytes: int) -> bytes:
    """The body of a GET of `url`, within the rules above."""
    deadline = time.monotonic() + timeout_s
    for _ in range(MAX_REDIRECTS + 1):
        response, connection = _get(url, source, allow_private, deadline)
        try:
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise InputError(f"{source}: {url} redirected (HTTP {response.status}) without a Location",
                                     source=source)
                url = urllib.parse.urljoin(url, location)
                continue
            if not 200 <= response.status < 300:
                raise InputError(f"{source}: {url} could not be downloaded: HTTP {response.status} "
                                 f"{response.reason}", source=source)
            return _read_body(response, connection, url, source, deadline, max_bytes)
        finally:
            connection.close()
    raise InputError(f"{source}: {url} redirected more than {MAX_REDIRECTS} times", source=source)


def _get(url: str, source: str, allow_private: bool, deadline: float):
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise InputError(f"{source}: {url!r} is not an http(s) URL with a host", source=source)
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise InputError(f"{source}: {url!r} has an invalid port", source=source) from None
    address = _checked_address(parts.hostname, port, url, source, allow_private)
    timeout = _remaining(deadline, url, source)
    connection_class = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(parts.hostname, port, timeout=timeout)
    connection.pinned_address = address
    target = urllib.parse.urlunsplit(("", "", parts.path or "/", parts.query, ""))
    try:
        connection.request("GET", target, headers={"User-Agent": "hpi-serve", "Accept": "*/*",
                                                   "Accept-Encoding": "identity"})
        return connection.getresponse(), connection
    except (OSError, http.client.HTTPException) as exc:
        connection.close()
        raise InputError(f"{source}: {url} could not be downloaded: {exc}", source=source) from exc


def _checked_address(host: str, port: int, url: str, source: str, allow_private: bool) -> str:
    """One address of `host` to connect to, after every address it resolves to was checked."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise InputError(f"{source}: the host of {url} could not be resolved: {exc}", source=source) from exc
    addresses: List[Tuple[str, _Address]] = []
    for info in infos:
        text = info[4][0]
        address = ipaddress.ip_address(text.split("%", 1)[0])
        addresses.append((text, address))
    if not addresses:
        raise InputError(f"{source}: the host of {url} resolved to no address", source=source)
    if not allow_private:
        for _, address in addresses:
            kind = forbidden_kind(address)
            if kind:
                raise InputError(f"{source}: {url} is refused: its host resolves to {address}, a {kind} address "
                                 "(the server refuses non-public targets; --allow_private_urls lifts this)",
                                 source=source)
    return addresses[0][0]


def forbidden_kind(address: _Address) -> str:
    """'' for a public address, else what it is (loopback, private, ...)."""
    mapped = getattr(address, "ipv4_mapped", None) or getattr(address, "sixtofour", None)
    if mapped is not None:
        address = mapped
    for kind in ("loopback", "link_local", "multicast", "unspecified", "reserved", "private"):  # most telling first
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return "" if address.is_global else "non-global"


def _read_body(response, connection, url: str, source: str, deadline: float, max_bytes: int) -> bytes:
    too_big = f"{source}: {url} is larger than the limit of {max_bytes:,} bytes (--max_body_mb)"
    length = response.getheader("Content-Length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise InputError(too_big, source=source)
    chunks, total = [], 0
    while True:
        connection.opened.settimeout(_remaining(deadline, url, source))  # the response reads from it
        try:
            chunk = response.read1(_CHUNK)
        except (OSError, http.client.HTTPException) as exc:
            raise InputError(f"{source}: {url} could not be downloaded: {exc}", source=source) from exc
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > max_bytes:
            raise InputError(too_big, source=source)
        chunks.append(chunk)


def _remaining(deadline: float, url: str, source: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise InputError(f"{source}: {url} took longer than the download limit (--url_timeout_s)", source=source)
    return left


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to `pinned_address` (checked) while naming the host in the request."""

    pinned_address = ""
    opened = None  # the socket, kept: http.client drops self.sock when the response reads to the close

    def connect(self):
        self.sock = self.opened = socket.create_connection((self.pinned_address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """As above, with TLS verified against the host name (SNI and certificate)."""

    pinned_address = ""
    opened = None

    def __init__(self, host: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())

    def connect(self):
        sock = socket.create_connection((self.pinned_address, self.port), self.timeout)
        self.sock = self.opened = self._context.wrap_socket(sock, server_hostname=self.host)
