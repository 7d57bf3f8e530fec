"""The benchmark harness behind `hpi benchmark`: model latency at the seed's 1x3x48x320, end-to-end lines/s and
accuracy on a labeled set, FLOPs and achieved GFLOP/s against this machine's measured float32 peak."""
