"""What a server allows and how it batches: one frozen object, checked when made (a bad value is a ConfigError)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import ConfigError
from ..urls import UrlPolicy, server_policy

# A server's default pixel limit is lower than predict()'s (89.5 MP, Pillow's): a request may decode an image of
# this size into memory (4096 x 4096 x 3 = 48 MiB), and many requests run at once. An A4 page rendered at 2x is
# 2.4 MP; a text line is a few thousand pixels. --max_image_pixels 0 lifts the limit.
DEFAULT_SERVE_MAX_IMAGE_PIXELS = 4096 * 4096
# What one request may decode in all (its images, crops and PDF pages together), and what all requests being
# decoded or recognized may hold at once: without them the per-image limit x 256 lines let a 5.6 MB body (or a 30 KB
# PDF) decode ~12 GB. 64 MP is 192 MiB as BGR: 26 A4 pages at 2x, or 256 crops of 250,000 pixels each.
DEFAULT_MAX_REQUEST_PIXELS = 64 * 1024 * 1024
DEFAULT_MAX_PIXELS_IN_FLIGHT = 4 * DEFAULT_MAX_REQUEST_PIXELS


@dataclass(frozen=True)
class ServeSettings:
    """Limits and batching of `hpi serve` (the CLI's flags of the same names)."""

    max_body_mb: float = 20.0            # request body (Content-Length and bytes read); also a URL download's size
    max_image_pixels: Optional[int] = DEFAULT_SERVE_MAX_IMAGE_PIXELS  # per image or PDF page; 0 or None: no limit
    max_lines_per_request: int = 256     # images, crops and PDF pages of one request
    max_queue_lines: int = 1024          # lines waiting for the model, all requests together; beyond: 503
    batch_wait_ms: float = 5.0           # how long the first waiting line waits for others; 0: no cross-request batching
    max_batch_lines: int = 64            # a gathered batch runs as soon as it has this many lines
    batch_workers: int = 2               # gathered batches running at once (measured: 2 beat 1 in every round)
    batch_size: int = 8                  # predict()'s batch_size for each gathered batch
    allow_url_fetch: bool = False        # `file` may be an http(s) URL
    allow_private_urls: bool = False     # ... even one resolving to a private, loopback, link-local... address
    url_timeout_s: float = 10.0          # a URL download's whole time (connect, redirects, body)
    max_request_pixels: Optional[int] = DEFAULT_MAX_REQUEST_PIXELS  # one request's decoded pixels (413 beyond)
    max_pixels_in_flight: Optional[int] = DEFAULT_MAX_PIXELS_IN_FLIGHT  # all requests' decoded pixels (503 beyond)
    pdf_page_timeout_s: float = 10.0     # one PDF page's rendering (422 beyond; the render process is killed)
    header_timeout_s: float = 10.0       # from a connection's first byte (or its last response) to a whole header
    body_timeout_s: float = 60.0         # from a request's header to the end of its body (408 beyond)
    max_connections: int = 512           # open connections; more are closed at once
    shutdown_timeout_s: float = 30.0     # after SIGTERM, how long requests in progress may take to finish

    def __post_init__(self):
        for name in ("max_body_mb", "url_timeout_s", "pdf_page_timeout_s", "header_timeout_s", "body_timeout_s",
                     "shutdown_timeout_s"):
            _check(name, getattr(self, name), lambda v: v > 0, "a number > 0")
        _check("batch_wait_ms", self.batch_wait_ms, lambda v: 0 <= v <= 10_000, "a number of milliseconds, 0 to 10000")
        for name in ("max_lines_per_request", "max_queue_lines", "max_batch_lines", "batch_workers", "batch_size",
                     "max_connections"):
            value = getattr(self, name)
            _check(name, value, lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an integer >= 1")
        if self.max_lines_per_request > self.max_queue_lines:
            raise ConfigError(f"max_lines_per_request ({self.max_lines_per_request}) must not exceed max_queue_lines "
                              f"({self.max_queue_lines}): such a request could never be queued")
        from ..inputs import resolve_max_image_pixels  # not at import: the CLI reads the defaults without OpenCV

        for name in ("max_image_pixels", "max_request_pixels", "max_pixels_in_flight"):
            pixels = getattr(self, name) or 0
            _check(name, pixels, lambda v: isinstance(v, int) and v >= 0, "a whole number of pixels (0: no limit)")
            object.__setattr__(self, name, resolve_max_image_pixels(pixels) if pixels else None)
        if None not in (self.max_request_pixels, self.max_pixels_in_flight) and \
                self.max_request_pixels > self.max_pixels_in_flight:
            raise ConfigError(f"max_request_pixels ({self.max_request_pixels:,}) must not exceed max_pixels_in_flight "
                              f"({self.max_pixels_in_flight:,}): such a request could never be decoded")

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    @property
    def url_policy(self) -> UrlPolicy:
        """How a `file` URL is read, once the operator allows URLs (allow_url_fetch): hpi/urls.py's server policy."""
        return server_policy(allow_private=self.allow_private_urls, timeout_s=self.url_timeout_s,
                             max_bytes=self.max_body_bytes, size_flag="--max_body_mb")

    @property
    def batching(self) -> bool:
        """Whether lines of concurrent requests are gathered into one predict call."""
        return self.batch_wait_ms > 0


def _check(name: str, value, ok, expected: str) -> None:
    try:
        good = isinstance(value, (int, float)) and not isinstance(value, bool) and ok(value)
    except TypeError:
        good = False
    if not good:
        raise ConfigError(f"{name} must be {expected}, got {value!r}")
