"""Which task a model dir is for, and that task's predictor class: one registry, read by `hpi tune` (and anything
else that starts from a bare model dir).

The task comes from the catalog (configs/models.yaml) entry of inference.yml's Global.model_name, else from its
PostProcess (CTCLabelDecode: text recognition, DBPostProcess: text detection, Topk: textline orientation)."""
from __future__ import annotations

import importlib
from typing import Dict, Optional, Tuple

from ..errors import ModelDirError
from ..runtime.model_dir import ModelDir, known_models

# task name (the catalog's) -> (module, class)
TASK_CLASSES: Dict[str, Tuple[str, str]] = {
    "text_recognition": ("hpi.tasks.text_recognition.predictor", "TextRecognition"),
    "text_detection": ("hpi.tasks.text_detection.predictor", "TextDetection"),
    "textline_orientation": ("hpi.tasks.textline_orientation.predictor", "TextLineOrientationClassification"),
    "doc_orientation": ("hpi.tasks.doc_orientation.predictor", "DocImgOrientationClassification"),
    "image_unwarping": ("hpi.tasks.image_unwarping.predictor", "TextImageUnwarping"),
}
POSTPROCESS_TASKS = {"CTCLabelDecode": "text_recognition", "DBPostProcess": "text_detection",
                     "Topk": "textline_orientation"}


def task_of(model_dir: ModelDir) -> str:
    """The task of `model_dir`, or a ModelDirError saying what was looked at."""
    entry = known_models().get(model_dir.model_name or "")
    if entry is not None:
        return entry["task"]
    post = model_dir.section("PostProcess", default={}) or {}
    found: Optional[str] = POSTPROCESS_TASKS.get(post.get("name", "")) if isinstance(post, dict) else None
    if found is None and isinstance(post, dict):
        found = next((POSTPROCESS_TASKS[key] for key in post if key in POSTPROCESS_TASKS), None)
    if found is None:
        raise ModelDirError(f"{str(model_dir.path / 'inference.yml')!r}: cannot tell the task: model_name "
                            f"{model_dir.model_name!r} is not in hpi's catalog and PostProcess names none of "
                            f"{sorted(POSTPROCESS_TASKS)}")
    return found


def task_class(task: str) -> type:
    """The predictor class of a task name (a key of TASK_CLASSES)."""
    module, name = TASK_CLASSES[task]
    return getattr(importlib.import_module(module), name)
