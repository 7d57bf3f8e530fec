"""`hpi tune`'s library entry: time the backends on a model dir with its own task's workload.

    from hpi.tasks.tuning import tune_model_dir
    result = tune_model_dir("PP-OCRv4_mobile_det_onnx", "cpu")        # rendered pages at photo and scan sizes
    result = tune_model_dir(det_dir, "cpu", val_data="my_photos/")      # your own photos
    result = tune_model_dir(rec_dir, "cpu", val_data="my_lines/")       # rendered lines; bf16 judged on yours

A NoBackendAvailableError when nothing could be timed (each candidate's reason in its message); nothing is cached
then."""
from __future__ import annotations

from typing import Callable, Dict, Optional

from ..errors import ConfigError
from ..runtime.device import parse_device
from ..runtime.model_dir import ModelDir, load_model_dir
from ..runtime.tuning import TuneResult, TuningWorkload, tune
from .registry import task_class, task_of


def _recognition(model_dir: ModelDir, count: Optional[int], val_data, ignore_case: bool):
    from .text_recognition.calibration import recognition_workload
    from .text_recognition.predictor import TUNING_LINES, recognition_tuning_workload

    validation = recognition_workload(model_dir, val_data, val_data, ignore_case=ignore_case) if val_data else None
    return recognition_tuning_workload(model_dir, count or TUNING_LINES), validation


def _detection(model_dir: ModelDir, count: Optional[int], val_data, ignore_case: bool):
    from .text_detection.pages import read_photos
    from .text_detection.predictor import TUNING_PAGES, detection_tuning_workload

    photos = read_photos(val_data, count) if val_data else None
    return detection_tuning_workload(model_dir, count or TUNING_PAGES, images=photos), None


# task -> (model_dir, count, val_data, ignore_case) -> (workload, validation or None)
WORKLOADS: Dict[str, Callable[..., "tuple[TuningWorkload, object]"]] = {
    "text_recognition": _recognition, "text_detection": _detection}


def tune_model_dir(path, device: Optional[str] = None, count: Optional[int] = None, val_data=None,
                   max_drop: float = 0.5, ignore_case: bool = False) -> TuneResult:
    """Tune the model dir at `path` for `device` on its task's workload: `count` inputs (rendered text lines for
    recognition, pages for detection), or for detection the photos in `val_data`; recognition's `val_data`
    (labelled lines) judges bf16/FP16 candidates with `max_drop`, as `hpi quantize`."""
    model_dir = load_model_dir(path)
    task = task_of(model_dir)
    if task not in WORKLOADS:
        raise ConfigError(f"{task_class(task).task} ({model_dir.model_name}) has no tuning workload: tune the "
                          f"pipeline's text detection and recognition models, or use auto_config true")
    workload, validation = WORKLOADS[task](model_dir, count, val_data, ignore_case)
    return tune(model_dir, parse_device(device), workload, validation=validation, max_drop=max_drop)
