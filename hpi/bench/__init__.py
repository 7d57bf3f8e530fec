"""The benchmark harness behind `hpi benchmark`: model latency at the seed's 1x3x48x320, end-to-end lines/s and
accuracy on a labeled set, the race against peers, FLOPs and achieved GFLOP/s against this machine's measured
float32 peak.

spec.py (what to measure: BenchmarkSpec, RaceSpec; the CLI builds them) -> runner.py and race.py (measure, into
the typed rows of rows.py) -> report.py (results.json via to_dict(), table.md, chart.png). flops.py counts
FLOPs, peer_worker.py runs a peer in its own venv. The labeled set and its scores are text recognition's
(hpi.tasks.text_recognition.labels and .metrics): the benchmark is built on the task, not the reverse.
"""
