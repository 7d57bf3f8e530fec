"""INT8 for OpenVINO: NNCF post-training quantization of the ONNX model into an IR with FakeQuantize nodes.

A "layer" here is an operation that quantizers feed (a convolution, a matrix multiplication, an addition): keeping
it in float removes the FakeQuantize nodes on its inputs from the quantized graph, so no recalibration is needed to
try a different set of float layers.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

from .._deps import require

logger = logging.getLogger(__name__)

PRESETS = ("performance", "mixed")  # symmetric activations everywhere / asymmetric ones where they help
BIAS_CORRECTIONS = ("fast", "full", "none")
# activation ranges: the extremes seen (minmax, NNCF's default for activations), or robust to outliers
RANGES = {"minmax": "MINMAX", "mean_minmax": "MEAN_MINMAX", "quantile": "MEAN_QUANTILE", "histogram": "HISTOGRAM"}


class OpenVINOQuantizer:
    name = "openvino"
    method = "NNCF post-training quantization (OpenVINO IR with FakeQuantize), calibrated on the given lines"

    def __init__(self, fp32_path: Path, threads: int, preset: str = "performance", bias_correction: str = "fast",
                 ranges: str = "minmax", smooth_quant: Optional[float] = None):
        self._ov = require("openvino")
        self._core = self._ov.Core()
        self.fp32_path = Path(fp32_path)
        self.threads = threads
        self.preset, self.bias_correction, self.ranges, self.smooth_quant = preset, bias_correction, ranges, smooth_quant
        self.fp32_model = self._core.read_model(str(self.fp32_path))

    @property
    def settings(self) -> dict:
        return {"preset": self.preset, "bias_correction": self.bias_correction, "ranges": self.ranges,
                "smooth_quant": self.smooth_quant}

    def quantize(self, calibration: Sequence[np.ndarray]):
        nncf = require("nncf")
        from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, AdvancedSmoothQuantParameters
        from nncf.quantization.range_estimator import RangeEstimatorParametersSet

        preset = {"performance": nncf.QuantizationPreset.PERFORMANCE,
                  "mixed": nncf.QuantizationPreset.MIXED}[self.preset]
        advanced = AdvancedQuantizationParameters(
            disable_bias_correction=self.bias_correction == "none",
            activations_range_estimator_params=getattr(RangeEstimatorParametersSet, RANGES[self.ranges]))
        kwargs = {}
        if self.smooth_quant is not None:  # SmoothQuant moves activation outliers into the MatMul weights
            kwargs["model_type"] = nncf.ModelType.TRANSFORMER
            advanced.smooth_quant_alphas = AdvancedSmoothQuantParameters(matmul=self.smooth_quant)
        return nncf.quantize(self.fp32_model, nncf.Dataset(list(calibration)), subset_size=len(calibration),
                             preset=preset, fast_bias_correction=self.bias_correction != "full",
                             advanced_parameters=advanced, **kwargs)

    def layers(self, quantized) -> Dict[str, List[str]]:
        """layer name -> names of the FakeQuantize nodes on its inputs, in graph order."""
        groups: Dict[str, List[str]] = defaultdict(list)
        for op in quantized.get_ordered_ops():
            if op.get_type_name() != "FakeQuantize":
                continue
            for target in op.output(0).get_target_inputs():
                consumer = target.get_node()
                groups[consumer.get_friendly_name()].append(op.get_friendly_name())
        return dict(groups)

    def with_float(self, quantized, float_quantizers: Sequence[str]):
        """A copy of the quantized model without the named FakeQuantize nodes (their inputs flow through)."""
        model = quantized.clone()
        drop = set(float_quantizers)
        for op in model.get_ordered_ops():
            if op.get_type_name() == "FakeQuantize" and op.get_friendly_name() in drop:
                op.output(0).replace(op.input_value(0))
        model.validate_nodes_and_infer_types()
        return model

    def compile(self, model, precision: str = "f32"):
        return self._core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": precision,
                                                        "PERFORMANCE_HINT": "LATENCY",
                                                        "INFERENCE_NUM_THREADS": self.threads})

    def runner(self, model, precision: str = "f32"):
        compiled = self.compile(model, precision)
        request = compiled.create_infer_request()

        def run(batch: np.ndarray) -> np.ndarray:
            request.infer({0: batch}, share_inputs=True)
            return request.get_output_tensor(0).data.copy()
        return run

    def fp32_runner(self):
        return self.runner(self.fp32_model)

    def save(self, model, path: Path) -> List[Path]:
        """Write the IR to `path` (.xml, with .bin beside it); return both files."""
        self._ov.save_model(model, str(path), compress_to_fp16=False)
        return [path, path.with_suffix(".bin")]
