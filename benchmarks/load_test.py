#!/usr/bin/env python3
"""Load test of `hpi serve`: concurrent clients over loopback against in-process `predict` as the ceiling.

A real `hpi serve` process is started for each --server_flags set, all before the first measurement (or --url
names a running one). For each configuration, clients (1, 4, 16, 64) x lines per request (1, 8: `{"files":
[...]}`), CLIENTS threads, each with its own keep-alive http.client connection, send real lines, taking the
prepared bodies in turn: for --ramp_seconds (the queue fills), then for the measured --seconds (also bounded by
--max_requests), then they wait for their last answers. Rates and latencies count the answers that arrive inside
the measured window; every answer is checked: an error is a non-200, a failed connection, or a line whose text
differs from the in-process text of that line (predict of the line alone, computed first). Per configuration:
lines/s, requests/s, p50/p99/max latency (send to whole answer read), errors, the CPU used by the client (this
process) and by the server (/proc/PID/stat) as % of the machine's usable CPUs, and the server's CPU ms per line.

The ceiling: in-process `predict(paths, batch_size)` over the same lines (read and decoded from disk, as the server
decodes the request's bytes; whole passes, --seconds at least), measured before each configuration, whose servers
then run in turn: noise from other jobs hits ceiling and servers alike. "% of in-process" divides a server's
lines/s by the mean of the ceilings measured just before and just after its configuration. Its CPU ms per line
beside the server's is the comparison that holds on a machine shared with other jobs. The client's own ceiling:
the same clients against `GET /health` (an empty endpoint through the same uvicorn/FastAPI stack) give the
request rate the client plus the HTTP stack reach at most here. --stages times the server's own steps (JSON
parse and validation, base64 and image decoding, the answer's JSON) on one thread over the same bodies.

Memory (--soak_requests N): after the table, each server gets N requests (one line each, lines in turn,
--soak_clients clients; also bounded by --soak_seconds) while its RSS (/proc/PID/status VmRSS) is sampled at
--soak_checkpoints evenly spaced checkpoints. "flat": RSS grew by at most max(16 MiB, 2%) between the middle and
the last checkpoint (the first half absorbs allocator and shape-cache warm-up). For --url, give --server_pid.

Writes OUTPUT/load_test.json and OUTPUT/load_test.md and prints the markdown; exits 1 if any answer was an error.

    # defaults, a few minutes: rendered lines (tests/data/lines), PP-OCRv4 mobile ONNX in high-performance mode
    .venv/bin/python benchmarks/load_test.py
    # the full run: real crops, 2 interleaved rounds, server settings side by side, the 20,000-request soak
    .venv/bin/python benchmarks/load_test.py --dataset ../shared/data/real-dev --seconds 10 --rounds 2 \\
        --server_flags "" --server_flags "--batch_workers 4" --soak_requests 20000 --output output/load_test
    # PP-OCRv6 tiny
    .venv/bin/python benchmarks/load_test.py --model_dir .cache/test_models/PP-OCRv6_tiny_rec \\
        --dataset ../shared/data/real-dev
    # a running server (its model must be the one of --model_dir, for the expected texts and the ceiling)
    .venv/bin/python benchmarks/load_test.py --url http://127.0.0.1:8080 --server_pid PID
"""
from __future__ import annotations

import argparse
import base64
import http.client
import itertools
import json
import os
import shlex
import statistics
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Sequence

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
from serve_process import ServeProcess as Server  # noqa: E402

ENDPOINT = "/text-recognition"


def int_list(text: str) -> List[int]:
    values = [int(value) for value in text.split(",") if value.strip()]
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got {text!r}")
    return values


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_dir", default=str(REPO / ".cache" / "test_models" / "PP-OCRv4_mobile_rec_onnx"))
    parser.add_argument("--use_hpip", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch_size", type=int, default=8,
                        help="the ceiling's predict batch_size (the server's is its --batch_size, default 8)")
    parser.add_argument("--dataset", default=str(REPO / "tests" / "data" / "lines"),
                        help="a folder with all_crops.txt (one relative path a line) or labels.txt (path<TAB>text)")
    parser.add_argument("--max_lines", type=int, default=0, help="use the first N lines of the dataset (0: all)")
    parser.add_argument("--clients", type=int_list, default=[1, 4, 16, 64])
    parser.add_argument("--lines_per_request", type=int_list, default=[1, 8])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each measured run (and ceiling)")
    parser.add_argument("--ramp_seconds", type=float, default=1.0,
                        help="clients run this long before each measured window (the queue fills)")
    parser.add_argument("--warmup_seconds", type=float, default=2.0, help="per lines-per-request value, once")
    parser.add_argument("--max_requests", type=int, default=200_000, help="bound of each run, besides --seconds")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds (median lines/s, errors summed)")
    parser.add_argument("--server_flags", action="append", default=None,
                        help="extra `hpi serve` flags, one quoted string per server (repeat to compare settings); "
                             "default: one server with its defaults")
    parser.add_argument("--url", default=None, help="a running server instead of starting one")
    parser.add_argument("--server_pid", type=int, default=None, help="with --url: its PID, for CPU and RSS")
    parser.add_argument("--soak_requests", type=int, default=2000, help="0: no soak")
    parser.add_argument("--soak_clients", type=int, default=16)
    parser.add_argument("--soak_seconds", type=float, default=900.0, help="time limit of the soak")
    parser.add_argument("--soak_checkpoints", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=300.0, help="per request")
    parser.add_argument("--stages", action=argparse.BooleanOptionalAction, default=True,
                        help="also time the server's own steps (JSON, base64, image decoding) in this process")
    parser.add_argument("--output", default=str(REPO / "output" / "load_test"))
    args = parser.parse_args(argv)
    if args.url and args.server_flags:
        parser.error("--server_flags starts servers; with --url the running server's own flags apply")
    args.server_flags = args.server_flags or [""]
    if min(args.seconds, args.rounds, args.max_requests, args.soak_clients, args.soak_checkpoints) <= 0:
        parser.error("--seconds, --rounds, --max_requests, --soak_clients, --soak_checkpoints must be positive")
    return args


# -- the lines ---------------------------------------------------------------------------------------------------
def dataset_paths(dataset: Path, max_lines: int) -> List[str]:
    listing = dataset / "all_crops.txt"
    if listing.is_file():
        paths = [str(dataset / line.strip()) for line in listing.read_text("utf-8").splitlines() if line.strip()]
    else:
        from hpi.tasks.text_recognition.labels import read_dataset

        paths = read_dataset(dataset)[0]
    return paths[:max_lines] if max_lines else paths


@dataclass
class Payloads:
    """Request bodies for one lines-per-request value; `lines[i]`: the dataset indexes in body i, in order."""

    per_request: int
    bodies: List[bytes]
    lines: List[List[int]]


def make_payloads(encoded: Sequence[str], per_request: int) -> Payloads:
    """As many bodies as lines: body i holds lines i*k .. i*k+k-1 (wrapping), so each line is sent k times a cycle."""
    count = len(encoded)
    groups = [[(i * per_request + j) % count for j in range(per_request)] for i in range(count)]
    bodies = [json.dumps({"files": [encoded[j] for j in group]}).encode("ascii") for group in groups]
    return Payloads(per_request, bodies, groups)


# -- the server --------------------------------------------------------------------------------------------------
def start_server(args: argparse.Namespace, flags: str) -> Server:
    """`hpi serve` of args' model with `flags`, on a free loopback port."""
    serve_args = ["--model_dir", args.model_dir, "--device", args.device,
                  *(["--use_hpip"] if args.use_hpip else []), *shlex.split(flags)]
    server = Server.start(serve_args, ready_timeout=300.0)
    server.flags = flags
    return server


# -- the clients -------------------------------------------------------------------------------------------------
@dataclass
class Run:
    """Rates: each answered request counts for the share of its time (sent to answered) that lies inside the
    measured window [ramp, ramp + seconds], so that answers coming in bursts (a gathered batch answers many requests
    at once) do not make the count jump. Latencies: the requests answered inside the window. Requests answered
    during the ramp or the drain after it are still checked (errors count wherever they happen)."""

    window_s: float = 0.0
    requests: float = 0.0             # answered requests' time shares inside the window
    lines: float = 0.0
    latencies: List[float] = field(default_factory=list)  # of the requests answered inside the window
    answered: int = 0                 # all, ramp and drain included
    errors: int = 0
    wrong_lines: int = 0
    first_errors: List[str] = field(default_factory=list)
    wall_s: float = 0.0               # ramp + window + drain
    client_cpu: float = 0.0           # % of the usable CPUs, over the whole wall time
    server_cpu: Optional[float] = None
    server_cpu_ms_per_line: Optional[float] = None  # per line (or per request, without payloads) answered

    def summary(self) -> dict:
        cuts = sorted(self.latencies)

        def quantile(q: float) -> Optional[float]:
            return cuts[min(len(cuts) - 1, int(q * len(cuts)))] * 1000 if cuts else None

        return {"requests": round(self.requests, 2), "lines": round(self.lines, 2),
                "latency_samples": len(cuts), "window_s": round(self.window_s, 3),
                "lines_per_s": self.lines / self.window_s, "requests_per_s": self.requests / self.window_s,
                "p50_ms": quantile(0.50), "p99_ms": quantile(0.99), "max_ms": quantile(1.0),
                "answered": self.answered, "wall_s": round(self.wall_s, 3),
                "errors": self.errors, "wrong_lines": self.wrong_lines, "first_errors": self.first_errors,
                "client_cpu_pct": round(self.client_cpu, 1),
                "server_cpu_pct": None if self.server_cpu is None else round(self.server_cpu, 1),
                "server_cpu_ms_per_line": None if self.server_cpu_ms_per_line is None else
                round(self.server_cpu_ms_per_line, 2)}


def drive(server: Server, clients: int, seconds: float, max_requests: int, *, ramp: float = 0.0,
          method: str = "POST", path: str = ENDPOINT, payloads: Optional[Payloads] = None,
          expected: Sequence[str] = (), timeout: float = 120.0,
          on_request: Optional[Callable[[int], None]] = None) -> Run:
    """CLIENTS threads on keep-alive connections send requests for `ramp` + `seconds` (or until `max_requests` were
    sent), then wait for their last answers. Request n uses body n % len(bodies); on_request(n) runs after
    request n is answered (soak checkpoints)."""
    parts = urllib.parse.urlsplit(server.url)
    run, lock = Run(window_s=seconds), threading.Lock()
    counter = itertools.count()
    start_gate = threading.Barrier(clients + 1)
    window = [0.0, 0.0]  # perf_counter bounds of the measured window
    headers = {"Content-Type": "application/json"}

    def fail(message: str) -> None:
        with lock:
            run.errors += 1
            if len(run.first_errors) < 5:
                run.first_errors.append(message)

    def check(number: int, status: int, data: bytes) -> None:
        if payloads is None:
            if status != 200:
                fail(f"HTTP {status}")
            return
        index = number % len(payloads.bodies)
        try:
            answer = json.loads(data)
        except ValueError:
            return fail(f"HTTP {status}: not JSON: {data[:200]!r}")
        if status != 200 or answer.get("errorCode") != 0:
            return fail(f"HTTP {status}: {answer.get('errorMsg')}")
        texts = [entry["recText"] for entry in answer["result"]["recResults"]]
        want = [expected[j] for j in payloads.lines[index]]
        wrong = len(want) if len(texts) != len(want) else sum(a != b for a, b in zip(texts, want))
        if wrong:
            with lock:
                run.wrong_lines += wrong
            fail(f"wrong text in body {index}: got {texts}, expected {want}")

    def client() -> None:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        latencies, spans = [], []
        start_gate.wait()
        try:
            while time.perf_counter() < window[1]:
                number = next(counter)
                if number >= max_requests:
                    break
                body = payloads.bodies[number % len(payloads.bodies)] if payloads else None
                began = time.perf_counter()
                try:
                    connection.request(method, path, body=body, headers=headers if body else {})
                    response = connection.getresponse()
                    data = response.read()
                except (OSError, http.client.HTTPException) as exc:
                    connection.close()  # reconnects on the next request
                    fail(f"{type(exc).__name__}: {exc}")
                    continue
                ended = time.perf_counter()
                spans.append((began, ended))
                if window[0] <= ended <= window[1]:
                    latencies.append(ended - began)
                check(number, response.status, data)
                if on_request:
                    on_request(number)
        finally:
            connection.close()
            with lock:
                run.latencies.extend(latencies)
                run.answered += len(spans)
                run.requests += sum(max(0.0, min(end, window[1]) - max(start, window[0])) / max(end - start, 1e-9)
                                    for start, end in spans)

    threads = [threading.Thread(target=client, name=f"client-{i}", daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    cpu_before, server_before = time.process_time(), server.cpu_seconds()
    began = time.perf_counter()
    window[:] = [began + ramp, began + ramp + seconds]
    start_gate.wait()
    for thread in threads:
        thread.join(ramp + seconds + timeout + 30)
    run.wall_s = time.perf_counter() - began
    if time.perf_counter() < window[1]:  # max_requests ended it early: the window is what it lasted
        run.window_s = max(1e-9, run.wall_s - ramp)
    run.lines = run.requests * (payloads.per_request if payloads else 0)
    cpus = usable_cpus()
    run.client_cpu = 100 * (time.process_time() - cpu_before) / run.wall_s / cpus
    server_after = server.cpu_seconds()
    if server_before is not None and server_after is not None:
        run.server_cpu = 100 * (server_after - server_before) / run.wall_s / cpus
        lines_answered = run.answered * (payloads.per_request if payloads else 1)
        run.server_cpu_ms_per_line = 1000 * (server_after - server_before) / max(1, lines_answered)
    return run


def usable_cpus() -> int:
    from hpi.runtime.device import cpu_quota

    return cpu_quota()


# -- the ceiling -------------------------------------------------------------------------------------------------
def in_process(model, paths: Sequence[str], batch_size: int, seconds: float, expected: Sequence[str]) -> dict:
    """lines/s of whole `predict(paths, batch_size)` passes over the lines, repeated until `seconds` have passed
    (one pass at least); wrong: lines whose text differs from the line's own."""
    done = wrong = passes = 0
    cpu_before, began = time.process_time(), time.perf_counter()
    while passes == 0 or time.perf_counter() - began < seconds:
        texts = [result["rec_text"] for result in model.predict(list(paths), batch_size=batch_size)]
        wrong += sum(a != b for a, b in zip(texts, expected))
        done, passes = done + len(texts), passes + 1
    wall, cpu = time.perf_counter() - began, time.process_time() - cpu_before
    return {"lines": done, "passes": passes, "wall_s": round(wall, 3), "lines_per_s": done / wall,
            "wrong_lines": wrong, "cpu_pct": round(100 * cpu / wall / usable_cpus(), 1),
            "cpu_ms_per_line": round(1000 * cpu / done, 2)}


# -- the whole run -----------------------------------------------------------------------------------------------
def benchmark(args: argparse.Namespace) -> dict:
    from hpi import TextRecognition

    paths = dataset_paths(Path(args.dataset), args.max_lines)
    if not paths:
        raise SystemExit(f"no lines in {args.dataset}")
    encoded = [base64.b64encode(Path(path).read_bytes()).decode("ascii") for path in paths]
    payloads = {k: make_payloads(encoded, k) for k in {*args.lines_per_request, 1}}  # 1: the soak's
    model = TextRecognition(model_dir=args.model_dir, device=args.device, use_hpip=args.use_hpip)
    expected = [result["rec_text"] for result in model.predict(paths, batch_size=1)]  # each line alone
    print(f"{len(paths)} lines from {args.dataset}; in-process backend {model.backend}", flush=True)
    servers, results, stages = [], [], None
    load_before = load_after = os.getloadavg()
    try:
        if args.url:
            servers.append(Server(args.url, args.server_pid))
        for flags in ([] if args.url else args.server_flags):
            servers.append(start_server(args, flags))
            print(f"server {servers[-1].url} (pid {servers[-1].pid}) flags: {flags or '(defaults)'}", flush=True)
        load_before = os.getloadavg()
        results = measure(args, servers, model, paths, payloads, expected)
        load_after = os.getloadavg()
        stages = stage_costs(model, paths, payloads, args.batch_size) if args.stages else None
    finally:
        logs = [server.stop() for server in servers]
        model.close()
    for result, log in zip(results, logs):
        result["server_log_tail"] = log[-2000:]
    return {"machine": machine(load_before, load_after),
            "settings": {"model_dir": args.model_dir, "use_hpip": args.use_hpip, "device": args.device,
                         "in_process_backend": model.backend, "in_process_batch_size": args.batch_size,
                         "dataset": args.dataset, "lines": len(paths),
                         "mean_line_bytes": round(statistics.mean(len(e) * 3 / 4 for e in encoded)),
                         "clients": args.clients, "lines_per_request": args.lines_per_request,
                         "seconds": args.seconds, "ramp_seconds": args.ramp_seconds, "rounds": args.rounds,
                         "max_requests": args.max_requests, "url": args.url},
            "servers": results, "stages": stages}


def measure(args, servers: List[Server], model, paths, payloads, expected) -> List[dict]:
    """Every configuration, round after round; within a configuration the ceiling, then each server in turn."""
    top = max(args.clients)
    results = []
    for server in servers:
        for k in args.lines_per_request:  # warm-up: the widths once, at the highest concurrency
            drive(server, top, args.warmup_seconds, args.max_requests, payloads=payloads[k], expected=expected,
                  timeout=args.timeout)
        probes = {}
        for clients in sorted({1, top}):
            probes[clients] = drive(server, clients, min(args.seconds, 3.0), args.max_requests, ramp=0.5,
                                    method="GET", path="/health", timeout=args.timeout).summary()
            print(f"  {server.url} GET /health, {clients} clients: {probes[clients]['requests_per_s']:.0f} req/s, "
                  f"client CPU {probes[clients]['client_cpu_pct']}%", flush=True)
        results.append({"flags": server.flags if server.flags is not None else "(running server)",
                        "url": server.url, "health_probe": probes, "rows": []})
    configs = [(clients, k) for k in args.lines_per_request for clients in args.clients]
    ceilings, runs = [], {(j, config): [] for j in range(len(servers)) for config in configs}
    for round_index in range(args.rounds):
        for clients, k in configs:
            ceilings.append(in_process(model, paths, args.batch_size, args.seconds, expected))
            for j, server in enumerate(servers):
                before = batch_metrics(server)
                run = drive(server, clients, args.seconds, args.max_requests, ramp=args.ramp_seconds,
                            payloads=payloads[k], expected=expected, timeout=args.timeout).summary()
                run.update(batch_delta(before, batch_metrics(server)))
                run["ceiling_before"] = len(ceilings) - 1
                runs[j, (clients, k)].append(run)
                print(f"  round {round_index}, {clients} clients x {k} lines, server {j}: {run['lines_per_s']:.1f} "
                      f"lines/s (in-process {ceilings[-1]['lines_per_s']:.1f}), p99 {ms(run['p99_ms'])} ms, "
                      f"{run['errors']} errors", flush=True)
    ceilings.append(in_process(model, paths, args.batch_size, args.seconds, expected))
    for (j, (clients, k)), measured in runs.items():
        results[j]["rows"].append(table_row(clients, k, measured, ceilings))
    for server, result in zip(servers, results):
        result["ceilings"] = ceilings
        if args.soak_requests:
            result["soak"] = soak(args, server, payloads[1], expected)
    return results


def table_row(clients: int, k: int, measured: List[dict], ceilings: List[dict]) -> dict:
    """One configuration over the rounds: medians of rates, worst p99/max, errors summed; the ceiling of a run is
    the mean of the in-process runs just before and just after its configuration."""
    shares = []
    for run in measured:
        around = ceilings[run["ceiling_before"]:run["ceiling_before"] + 2]
        run["in_process_lines_per_s"] = statistics.mean(c["lines_per_s"] for c in around)
        run["in_process_cpu_ms_per_line"] = statistics.mean(c["cpu_ms_per_line"] for c in around)
        shares.append(100 * run["lines_per_s"] / run["in_process_lines_per_s"])
    timed = [run for run in measured if run["latency_samples"]]

    def median(key):
        values = [run[key] for run in measured if run[key] is not None]
        return statistics.median(values) if values else None

    return {"clients": clients, "lines_per_request": k, "lines_per_s": median("lines_per_s"),
            "requests_per_s": median("requests_per_s"),
            "p50_ms": statistics.median(run["p50_ms"] for run in timed) if timed else None,
            "p99_ms": max((run["p99_ms"] for run in timed), default=None),
            "max_ms": max((run["max_ms"] for run in timed), default=None),
            "errors": sum(run["errors"] for run in measured),
            "in_process_wrong_lines": sum(ceilings[run["ceiling_before"]]["wrong_lines"] for run in measured),
            "in_process_lines_per_s": median("in_process_lines_per_s"), "pct_of_in_process": statistics.median(shares),
            "client_cpu_pct": median("client_cpu_pct"), "server_cpu_pct": median("server_cpu_pct"),
            "server_cpu_ms_per_line": median("server_cpu_ms_per_line"),
            "lines_per_predict_call": median("lines_per_predict_call"),
            "one_line_calls_pct": median("one_line_calls_pct"),
            "in_process_cpu_ms_per_line": median("in_process_cpu_ms_per_line"), "runs": measured}


def stage_costs(model, paths: Sequence[str], payloads, batch_size: int) -> dict:
    """CPU microseconds per line of the server's own steps, run here on one thread over the same bodies, beside
    in-process predict's CPU per line: parsing and validating the JSON body, base64 + image decoding
    (hpi.serving.payload.decode_request), and writing the answer's JSON."""
    from hpi.serving.payload import decode_request
    from hpi.serving.schemas import models
    from hpi.serving.settings import ServeSettings

    settings, request_model = ServeSettings(), models().TextRecognitionRequest
    stages = {}
    for k, payload in sorted(payloads.items()):
        bodies = payload.bodies
        lines = len(bodies) * k
        began = time.thread_time()
        parsed = [request_model.model_validate_json(body) for body in bodies]
        parse = time.thread_time() - began
        began = time.thread_time()
        decoded = [decode_request(body.file, body.fileType, body.files, settings) for body in parsed]
        decode = time.thread_time() - began
        answers = [{"logId": "0" * 36, "errorCode": 0, "errorMsg": "Success", "result": {"recResults": [
            {"recText": "x" * 12, "recScore": 0.99, "pageIndex": None} for _ in item.lines]}} for item in decoded]
        began = time.thread_time()
        for answer in answers:
            json.dumps(answer, ensure_ascii=False).encode("utf-8")
        answer_cost = time.thread_time() - began
        stages[k] = {"json_parse_and_validate_us_per_line": round(1e6 * parse / lines, 1),
                     "base64_and_image_decode_us_per_line": round(1e6 * decode / lines, 1),
                     "answer_json_us_per_line": round(1e6 * answer_cost / lines, 1)}
    began = time.process_time()
    model.predict(list(paths), batch_size=batch_size)
    stages["predict_cpu_us_per_line"] = round(1e6 * (time.process_time() - began) / len(paths), 1)
    return stages


def batch_metrics(server: Server) -> dict:
    """predict calls, lines in them and calls of one line so far, from the server's /metrics (hpi_batch_lines)."""
    parts = urllib.parse.urlsplit(server.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        text = connection.getresponse().read().decode("utf-8")
    except OSError as exc:
        return {"error": str(exc)}
    finally:
        connection.close()
    values = {"calls": 0.0, "lines": 0.0, "one_line_calls": 0.0}
    names = {"hpi_batch_lines_count": "calls", "hpi_batch_lines_sum": "lines",
             'hpi_batch_lines_bucket{le="1"}': "one_line_calls", 'hpi_batch_lines_bucket{le="1.0"}': "one_line_calls"}
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name in names:
            values[names[name]] = float(value)
    return values


def batch_delta(before: dict, after: dict) -> dict:
    """Mean lines per predict call, and the share of one-line calls, between two batch_metrics()."""
    if "error" in before or "error" in after:
        return {}
    calls, lines = after["calls"] - before["calls"], after["lines"] - before["lines"]
    ones = after["one_line_calls"] - before["one_line_calls"]
    return {"predict_calls": calls, "lines_per_predict_call": round(lines / calls, 2) if calls else None,
            "one_line_calls_pct": round(100 * ones / calls, 1) if calls else None}


def soak(args, server: Server, payloads: Payloads, expected) -> dict:
    total, every = args.soak_requests, max(1, args.soak_requests // args.soak_checkpoints)
    samples = [{"requests": 0, "rss_mib": server.rss_mib(), "s": 0.0}]
    began = time.monotonic()
    lock = threading.Lock()

    def checkpoint(number: int) -> None:
        if (number + 1) % every == 0 or number + 1 == total:
            rss = server.rss_mib()
            with lock:
                samples.append({"requests": number + 1, "rss_mib": rss, "s": round(time.monotonic() - began, 1)})

    print(f"  soak: {total} requests, {args.soak_clients} clients, RSS every {every}", flush=True)
    run = drive(server, args.soak_clients, args.soak_seconds, total, payloads=payloads, expected=expected,
                timeout=args.timeout, on_request=checkpoint).summary()
    samples.append({"requests": run["answered"], "rss_mib": server.rss_mib(), "s": round(time.monotonic() - began, 1),
                    "after": True})
    samples.sort(key=lambda s: (s["requests"], s.get("after", False)))
    rss = [s["rss_mib"] for s in samples if s["rss_mib"] is not None]
    verdict = None
    if len(rss) >= 3:
        middle, last = rss[len(rss) // 2], rss[-1]
        allowed = max(16.0, 0.02 * middle)
        verdict = {"rss_first_mib": round(rss[0], 1), "rss_middle_mib": round(middle, 1),
                   "rss_last_mib": round(last, 1), "rss_max_mib": round(max(rss), 1),
                   "growth_second_half_mib": round(last - middle, 1), "allowed_mib": round(allowed, 1),
                   "flat": last - middle <= allowed}
    return {"requests_sent": run["answered"], "complete": run["answered"] >= total, "run": run,
            "samples": samples, "verdict": verdict}


def machine(load_before, load_after) -> dict:
    import platform

    from hpi.bench.runner import machine_info
    from hpi.runtime.device import parse_device
    from hpi._env import library_versions

    info = machine_info(parse_device("cpu")).to_dict()
    info["versions"].update(library_versions(("fastapi", "uvicorn", "starlette", "pydantic", "uvloop", "httptools")))
    return {**info, "cpus_usable": usable_cpus(), "cpus_online": os.cpu_count(), "os": platform.platform(),
            "load_average_1_5_15_before": [round(v, 2) for v in load_before],
            "load_average_1_5_15_after": [round(v, 2) for v in load_after]}


# -- the report --------------------------------------------------------------------------------------------------
def markdown(result: dict) -> str:
    facts, settings = result["machine"], result["settings"]
    out = ["# hpi serve under load", "",
           f"{facts['cpu']}, {facts['cpus_usable']} usable CPUs ({facts['cpus_online']} online), Python "
           f"{facts['python']}, {', '.join(f'{k} {v}' for k, v in sorted(facts['versions'].items()))}; load average "
           f"(1, 5, 15 min) {facts['load_average_1_5_15_before']} before, {facts['load_average_1_5_15_after']} after.",
           f"Model {Path(settings['model_dir']).name}, use_hpip={settings['use_hpip']}, device {settings['device']} "
           f"(in-process backend {settings['in_process_backend']}, predict batch_size "
           f"{settings['in_process_batch_size']}); {settings['lines']} lines of {settings['dataset']} (mean "
           f"{settings['mean_line_bytes']} bytes); {settings['seconds']:g} s per run, {settings['rounds']} round(s) "
           "(median; errors summed, p99 and max: the worst round). CPU columns: CPU time per line answered (server: "
           "/proc/PID/stat over the run; in-process: this process over its predict passes); CPU efficiency: "
           "in-process CPU per line / server CPU per line, the comparison that holds when other jobs share the machine;"
           " client and server CPU: % of all usable CPUs; 1-line calls: share of predict calls holding one line.", ""]
    for server in result["servers"]:
        out += [f"## server flags: `{server['flags'] or '(defaults)'}`", "",
                "| clients | lines/request | lines/s | req/s | p50 ms | p99 ms | max ms | errors | in-process lines/s "
                "| % of in-process | server CPU ms/line | in-process CPU ms/line | CPU efficiency | lines/predict call "
                "| 1-line calls | client CPU | server CPU |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for row in server["rows"]:
            cpu = row["server_cpu_ms_per_line"]
            out.append(" | ".join([
                f"| {row['clients']}", str(row["lines_per_request"]), f"{row['lines_per_s']:.1f}",
                f"{row['requests_per_s']:.1f}", ms(row["p50_ms"]), ms(row["p99_ms"]), ms(row["max_ms"]),
                str(row["errors"]), f"{row['in_process_lines_per_s']:.1f}", f"{row['pct_of_in_process']:.0f}%",
                "-" if cpu is None else f"{cpu:.1f}", f"{row['in_process_cpu_ms_per_line']:.1f}",
                "-" if cpu is None else f"{100 * row['in_process_cpu_ms_per_line'] / cpu:.0f}%",
                "-" if row["lines_per_predict_call"] is None else f"{row['lines_per_predict_call']:.1f}",
                "-" if row["one_line_calls_pct"] is None else f"{row['one_line_calls_pct']:.0f}%",
                f"{row['client_cpu_pct']:.0f}%", "-" if row["server_cpu_pct"] is None else f"{row['server_cpu_pct']:.0f}%",
            ]) + " |")
        out.append("")
        probe = ", ".join(f"{clients} clients {p['requests_per_s']:.0f} req/s (client CPU {p['client_cpu_pct']:.0f}%)"
                          for clients, p in server["health_probe"].items())
        out.append(f"- GET /health probe (client + HTTP stack ceiling): {probe}.")
        for row in server["rows"]:
            if row["in_process_wrong_lines"]:
                out.append(f"- in-process predict (batch_size {settings['in_process_batch_size']}) gave "
                           f"{row['in_process_wrong_lines']} line(s) a text other than the line's own")
            for run in row["runs"]:
                for error in run["first_errors"][:2]:
                    out.append(f"- error, {row['clients']} clients x {row['lines_per_request']} lines: {error}")
        soak_result = server.get("soak")
        if soak_result:
            verdict = soak_result["verdict"]
            points = ", ".join(f"{s['requests']}: {s['rss_mib']:.0f}" for s in soak_result["samples"]
                               if s["rss_mib"] is not None)
            run = soak_result["run"]
            out.append(f"- soak: {soak_result['requests_sent']} requests ({'all' if soak_result['complete'] else 'NOT all'}"
                       f" sent), {run['lines_per_s']:.1f} lines/s, p99 {ms(run['p99_ms'])} ms, {run['errors']} errors;"
                       f" RSS MiB at requests {points}.")
            if verdict:
                out.append(f"- memory {'FLAT' if verdict['flat'] else 'GROWING'}: {verdict['growth_second_half_mib']}"
                           f" MiB over the second half (allowed {verdict['allowed_mib']}).")
        out.append("")
    stages = result.get("stages")
    if stages:
        out += ["## the server's own steps, CPU per line (this process, one thread)", "",
                f"in-process predict: {stages['predict_cpu_us_per_line'] / 1000:.1f} ms CPU per line.", "",
                "| lines/request | JSON parse + validate us | base64 + image decode us | answer JSON us |",
                "|---|---|---|---|"]
        for k, cost in stages.items():
            if k != "predict_cpu_us_per_line":
                out.append(f"| {k} | {cost['json_parse_and_validate_us_per_line']} | "
                           f"{cost['base64_and_image_decode_us_per_line']} | {cost['answer_json_us_per_line']} |")
    return "\n".join(out).rstrip() + "\n"


def ms(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.0f}"


def main(argv=None) -> int:
    args = parse_args(argv)
    result = benchmark(args)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    (output / "load_test.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    text = markdown(result)
    (output / "load_test.md").write_text(text, encoding="utf-8")
    print(text)
    errors = sum(row["errors"] for server in result["servers"] for row in server["rows"])
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
