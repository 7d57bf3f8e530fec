"""The benchmark harness behind `hpi benchmark`: model latency at the seed's 1x3x48x320, end-to-end lines/s and
accuracy on a labeled set, the race against peers, FLOPs and achieved GFLOP/s against this machine's measured
float32 peak.

spec.py (what to measure: BenchmarkSpec, RaceSpec; the CLI builds them) -> runner.py and race.py (measure, into
the typed rows of rows.py) -> report.py (results.json via to_dict(), table.md, chart.png). dataset.py reads a
labeled set, metrics.py scores text, flops.py counts FLOPs, peer_worker.py runs a peer in its own venv.
"""
