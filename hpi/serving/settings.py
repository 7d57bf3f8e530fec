"""What a server allows and how it batches: one frozen object, checked when made (a bad value is a ConfigError)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import ConfigError

# A server's default pixel limit is lower than predict()'s (89.5 MP, Pillow's): a request may decode an image of
# this size into memory (4096 x 4096 x 3 = 48 MiB), and many requests run at once. An A4 page rendered at 2x is
# 2.4 MP; a text line is a few thousand pixels. --max_image_pixels 0 lifts the limit.
DEFAULT_SERVE_MAX_IMAGE_PIXELS = 4096 * 4096


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

    def __post_init__(self):
        for name in ("max_body_mb", "url_timeout_s"):
            _check(name, getattr(self, name), lambda v: v > 0, "a number > 0")
        _check("batch_wait_ms", self.batch_wait_ms, lambda v: 0 <= v <= 10_000, "a number of milliseconds, 0 to 10000")
        for name in ("max_lines_per_request", "max_queue_lines", "max_batch_lines", "batch_workers", "batch_size"):
            value = getattr(self, name)
            _check(name, value, lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1, "an integer >= 1")
        if self.max_lines_per_request > self.max_queue_lines:
            raise ConfigError(f"max_lines_per_request ({self.max_lines_per_request}) must not exceed max_queue_lines "
                              f"({self.max_queue_lines}): such a request could never be queued")
        from ..inputs import resolve_max_image_pixels  # not at import: the CLI reads the defaults without OpenCV

        pixels = 0 if self.max_image_pixels is None else self.max_image_pixels
        object.__setattr__(self, "max_image_pixels", resolve_max_image_pixels(pixels) if pixels else None)

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

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
