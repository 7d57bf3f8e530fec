#!/usr/bin/env python3
"""An independent Paddle Inference timing of one 1x3x48x320 input (MKL-DNN, FP32), written against Paddle's API
directly, to cross-check the normal-mode figure of `hpi benchmark`.

    python benchmarks/paddle_inference_timing.py --model_dir DIR --threads 2
"""
import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import paddle.inference as paddle_infer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    model_dir = Path(args.model_dir)
    program = model_dir / ("inference.json" if (model_dir / "inference.json").exists() else "inference.pdmodel")
    config = paddle_infer.Config(str(program), str(model_dir / "inference.pdiparams"))
    config.disable_gpu()
    config.enable_mkldnn()
    config.set_cpu_math_library_num_threads(args.threads)
    config.disable_glog_info()
    predictor = paddle_infer.create_predictor(config)
    handle = predictor.get_input_handle(predictor.get_input_names()[0])
    x = np.random.default_rng(0).uniform(-1, 1, (1, 3, 48, 320)).astype(np.float32)
    samples = []
    for index in range(args.runs + 10):
        start = time.perf_counter()
        handle.reshape(list(x.shape))
        handle.copy_from_cpu(x)
        predictor.run()
        predictor.get_output_handle(predictor.get_output_names()[0]).copy_to_cpu()
        if index >= 10:
            samples.append((time.perf_counter() - start) * 1000)
    print(f"Paddle Inference MKL-DNN, {args.threads} threads, 1x3x48x320: median {statistics.median(samples):.2f} ms "
          f"over {args.runs} runs")


if __name__ == "__main__":
    main()
