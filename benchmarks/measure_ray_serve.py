"""Lines/s through `hpi serve --ray` (Ray Serve, 1 and 2 replicas) against `hpi serve`, on this machine's CPUs
(not a test; run by hand).

    .venv/bin/python benchmarks/measure_ray_serve.py [--clients 16] [--seconds 10] [--rounds 2]

Each configuration is a real server process on loopback (Ray: a local cluster of this machine's CPUs, started and
shut down by the process), driven as measure_batching.py drives it: CLIENTS concurrent clients, one line per request,
every answer checked against predict() of that line alone. Configurations take turns within each round. Prints
lines/s, latency p50/p90, lines per predict call (Ray: of the replica that answered /metrics) and the load average.
"""
import os
import statistics
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT / "tests"), str(REPO_ROOT / "tests" / "serving"), str(REPO_ROOT / "benchmarks")]

from measure_batching import drive, lines_to_send, mean_batch, measurement_arguments  # noqa: E402
from serve_process import ServeProcess  # noqa: E402

CONFIGS = {
    "hpi serve (batching 5 ms, 2 workers)": [],
    "hpi serve --ray, 1 replica x 2 CPUs": ["--ray", "--num_replicas", "1"],
    "hpi serve --ray, 2 replicas x 1 CPU": ["--ray", "--num_replicas", "2"],
}


def main() -> None:
    args = measurement_arguments(seconds=10, rounds=2).parse_args()
    from hpi.runtime.device import cpu_quota

    payloads, expected = lines_to_send(args.model_dir)
    print(f"{cpu_quota()} CPUs, {args.clients} clients, 1 line per request, {args.seconds:g} s per run, model "
          f"{Path(args.model_dir).name}")
    print("| configuration | round | lines/s | p50 ms | p90 ms | lines per predict call | wrong | failed | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for round_index in range(args.rounds):
        for name, extra in CONFIGS.items():
            server = ServeProcess.start(["--model_dir", args.model_dir, "--use_hpip", "--device", "cpu", *extra],
                                        ready_timeout=240)
            try:
                drive(server.port, payloads[:32], expected[:32], args.clients, 3)  # warm up (every replica)
                rate, latencies, wrong, failed = drive(server.port, payloads, expected, args.clients, args.seconds)
                batch = mean_batch(server.url)
                load = os.getloadavg()[0]
            finally:
                server.stop(timeout=120)
            cuts = statistics.quantiles(latencies, n=10)
            print(f"| {name} | {round_index} | {rate:.1f} | {statistics.median(latencies) * 1000:.0f} | "
                  f"{cuts[8] * 1000:.0f} | {batch:.1f} | {wrong} | {failed} | {load:.2f} |", flush=True)


if __name__ == "__main__":
    main()
