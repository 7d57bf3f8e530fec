"""Prometheus text exposition (format 0.0.4), written by hand: counters, a gauge and histograms, thread-safe."""
from __future__ import annotations

import math
import threading
from typing import Dict, List, Sequence, Tuple

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Labels = Tuple[Tuple[str, str], ...]


class _Metric:
    kind = ""

    def __init__(self, name: str, help_text: str):
        self.name, self.help = name, help_text
        self._lock = threading.Lock()

    def render(self) -> List[str]:
        return [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"] + self._samples()

    def _samples(self) -> List[str]:
        raise NotImplementedError


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_text: str):
        super().__init__(name, help_text)
        self._values: Dict[Labels, float] = {}

    def inc(self, amount: float = 1, **labels: str) -> None:
        key = _key(labels)
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def value(self, **labels: str) -> float:
        with self._lock:
            return self._values.get(_key(labels), 0)

    def _samples(self) -> List[str]:
        with self._lock:
            values = sorted(self._values.items())
        return [f"{self.name}{_labels(key)} {_number(value)}" for key, value in values]


class Gauge(_Metric):
    kind = "gauge"

    def __init__(self, name: str, help_text: str):
        super().__init__(name, help_text)
        self._value = 0.0

    def set(self, value: float) -> None:
        with self._lock:
            self._value = value

    def _samples(self) -> List[str]:
        with self._lock:
            return [f"{self.name} {_number(self._value)}"]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: Sequence[float]):
        super().__init__(name, help_text)
        self.buckets = tuple(sorted(buckets)) + (math.inf,)
        self._series: Dict[Labels, List[float]] = {}  # per label set: a count per bucket, then sum, then count

    def observe(self, value: float, **labels: str) -> None:
        key = _key(labels)
        with self._lock:
            series = self._series.setdefault(key, [0.0] * (len(self.buckets) + 2))
            for index, bound in enumerate(self.buckets):
                if value <= bound:
                    series[index] += 1
                    break
            series[-2] += value
            series[-1] += 1

    def _samples(self) -> List[str]:
        with self._lock:
            series = sorted((key, list(values)) for key, values in self._series.items())
        lines = []
        for key, values in series:
            cumulative = 0.0
            for bound, count in zip(self.buckets, values):
                cumulative += count
                le = "+Inf" if bound == math.inf else _number(bound)
                lines.append(f"{self.name}_bucket{_labels(key + (('le', le),))} {_number(cumulative)}")
            lines.append(f"{self.name}_sum{_labels(key)} {_number(values[-2])}")
            lines.append(f"{self.name}_count{_labels(key)} {_number(values[-1])}")
        return lines


class ServingMetrics:
    """What `GET /metrics` shows."""

    def __init__(self):
        self.requests = Counter("hpi_http_requests_total", "HTTP requests answered, by endpoint and status code.")
        self.errors = Counter("hpi_http_errors_total", "HTTP requests answered with an error (status >= 400), by code.")
        self.latency = Histogram("hpi_http_request_duration_seconds", "Time to answer a request, by endpoint.",
                                 (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.batch_lines = Histogram("hpi_batch_lines", "Lines per inference batch (one predict call).",
                                     (1, 2, 4, 8, 16, 32, 64, 128, 256, 512))
        self.queue_lines = Gauge("hpi_queue_lines", "Lines waiting for the model (queue depth).")
        self.lines_recognized = Counter("hpi_lines_recognized_total", "Lines recognized and returned.")
        self.ready = Gauge("hpi_model_ready", "1 once the model is loaded, else 0.")

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        self.requests.inc(endpoint=endpoint, code=str(status))
        if status >= 400:
            self.errors.inc(code=str(status))
        self.latency.observe(seconds, endpoint=endpoint)

    def render(self) -> str:
        metrics = (self.requests, self.errors, self.latency, self.batch_lines, self.queue_lines,
                   self.lines_recognized, self.ready)
        return "\n".join(line for metric in metrics for line in metric.render()) + "\n"


def _key(labels: Dict[str, str]) -> Labels:
    return tuple(sorted(labels.items()))


def _labels(key: Labels) -> str:
    if not key:
        return ""
    return "{" + ",".join(f'{name}="{_escape(str(value))}"' for name, value in key) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))
