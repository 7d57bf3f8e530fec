"""Cross-request batching against one predict call per request, under concurrency (not a test; run by hand).

    .venv/bin/python benchmarks/measure_batching.py [--clients 16] [--seconds 8] [--model_dir DIR]

Each configuration is a real `hpi serve` process on loopback; CLIENTS concurrent clients (threads, keep-alive connections) each
send one line per request, lines taken in turn from tests/data/lines; every answer is checked against
predict() of that line alone. Prints lines/s, latency p50/p90 and mean lines per predict call (from /metrics).
"""
import argparse
import http.client
import itertools
import json
import re
import statistics
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT / "tests"), str(REPO_ROOT / "tests" / "serving"), str(REPO_ROOT / "benchmarks")]

from helpers import DATA, REPO  # noqa: E402
from serve_process import ServeProcess  # noqa: E402
from serving_helpers import b64, get  # noqa: E402

CONFIGS = {
    "one at a time (wait 0, 1 worker)": ["--batch_wait_ms", "0", "--batch_workers", "1"],
    "per request, concurrent (wait 0, 16 workers)": ["--batch_wait_ms", "0", "--batch_workers", "16"],
    "batching 5 ms, 1 worker": ["--batch_wait_ms", "5", "--batch_workers", "1"],
    "batching 5 ms, 2 workers": ["--batch_wait_ms", "5", "--batch_workers", "2"],
}


def drive(port: int, payloads, expected, clients: int, seconds: float):
    """CLIENTS threads, each with its own keep-alive connection, one line per request until the time is up."""
    latencies, wrong, failed = [], [0], [0]
    counter = itertools.count()
    deadline = time.monotonic() + seconds

    def client():
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        while time.monotonic() < deadline:
            index = next(counter) % len(payloads)
            started = time.perf_counter()
            connection.request("POST", "/text-recognition", body=payloads[index],
                               headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            body = json.loads(response.read())
            latencies.append(time.perf_counter() - started)
            if response.status != 200:
                failed[0] += 1
            elif body["result"]["recResults"][0]["recText"] != expected[index]:
                wrong[0] += 1
        connection.close()

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies) / (time.perf_counter() - started), latencies, wrong[0], failed[0]


def mean_batch(url: str) -> float:
    text = get(url + "/metrics")[1]
    total = float(re.search(r"^hpi_batch_lines_sum (\S+)$", text, re.M).group(1))
    count = float(re.search(r"^hpi_batch_lines_count (\S+)$", text, re.M).group(1))
    return total / count if count else 0.0


def measurement_arguments(seconds: float, rounds: int) -> argparse.ArgumentParser:
    """The options of this measurement and of measure_ray_serve.py (their defaults for --seconds and --rounds)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=seconds)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--model_dir", default=str(REPO / ".cache/test_models/PP-OCRv4_mobile_rec_onnx"))
    return parser


def lines_to_send(model_dir: str):
    """(payloads, expected): 160 lines of tests/data/lines, each as a one-line request body, and its text from
    predict() of that line alone."""
    from hpi import TextRecognition

    paths = sorted((DATA / "lines" / "images").glob("*"))[:160]
    with TextRecognition(model_dir=model_dir, device="cpu", use_hpip=True) as model:
        expected = [model.predict(str(path))[0]["rec_text"] for path in paths]  # each line alone
    return [json.dumps({"files": [b64(path)]}).encode() for path in paths], expected


def main() -> None:
    parser = measurement_arguments(seconds=8, rounds=1)
    parser.add_argument("--only", default=None, help="comma list of config numbers (0-based)")
    parser.add_argument("--hpi_config", default=None, help="passed to hpi serve (e.g. num_streams: 1)")
    args = parser.parse_args()
    payloads, expected = lines_to_send(args.model_dir)
    configs = list(CONFIGS.items())
    if args.only:
        configs = [configs[int(i)] for i in args.only.split(",")]
    print(f"{args.clients} clients, 1 line per request, {args.seconds:g} s per run, model {Path(args.model_dir).name}"
          f", hpi_config {Path(args.hpi_config).read_text().strip() if args.hpi_config else 'none'}")
    print("| configuration | round | lines/s | p50 ms | p90 ms | lines per predict call | wrong | failed |")
    print("|---|---|---|---|---|---|---|---|")
    for round_index in range(args.rounds):
        for name, extra in configs:
            config = ["--hpi_config", args.hpi_config] if args.hpi_config else []
            server = ServeProcess.start(["--model_dir", args.model_dir, "--use_hpip", "--device", "cpu", *config,
                                         *extra])
            try:
                drive(server.port, payloads[:32], expected[:32], args.clients, 1.5)  # warm up
                rate, latencies, wrong, failed = drive(server.port, payloads, expected, args.clients, args.seconds)
                batch = mean_batch(server.url)
            finally:
                server.stop()
            cuts = statistics.quantiles(latencies, n=10)
            print(f"| {name} | {round_index} | {rate:.1f} | {statistics.median(latencies) * 1000:.0f} | "
                  f"{cuts[8] * 1000:.0f} | {batch:.1f} | {wrong} | {failed} |", flush=True)


if __name__ == "__main__":
    main()
