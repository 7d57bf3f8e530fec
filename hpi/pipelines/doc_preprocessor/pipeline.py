"""DocPreprocessor: PaddleOCR 3.x's `DocPreprocessor(...)` (PaddleX 3.7.2's doc_preprocessor pipeline): turn a page
upright (document orientation, PP-LCNet_x1_0_doc_ori), then flatten it (unwarping, UVDoc).

As PaddleX, for each image: classify its orientation and turn it back by that angle (rotate_image below), then
unwarp the turned image; either step can be off. Both are on by default; a step switched off at construction
loads no model, and asking for it in predict() is then a ConfigError (PaddleX logs an error and yields
{"error": ...}). The OCR pipeline runs the same steps (`run`) before detection.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ...errors import ConfigError
from ...inputs import iter_inputs
from ...results import UniqueNames
from ...runtime.device import parse_device, require_device
from ...runtime.model_spec import ModelSpec, check_use_hpip, parsed_hpi_config
from ...streaming import OnBadInput, bad_input_handler, readable_images
from ...tasks.doc_orientation import DocImgOrientationClassification
from ...tasks.image_unwarping import TextImageUnwarping
from ..composed import ComposedModels, sub_model
from ..warp import rotate_image
from .result import DocPreprocessorResult

DEFAULT_ORIENTATION_MODEL = "PP-LCNet_x1_0_doc_ori"  # PaddleX 3.7.2's doc_preprocessor.yaml and OCR.yaml
DEFAULT_UNWARPING_MODEL = "UVDoc"


@dataclass(frozen=True)
class DocPreprocessorSettings:
    """What one image is preprocessed with: PaddleX's model_settings of the doc_preprocessor pipeline."""

    use_doc_orientation_classify: bool
    use_doc_unwarping: bool

    def model_settings(self) -> dict:
        return {"use_doc_orientation_classify": self.use_doc_orientation_classify,
                "use_doc_unwarping": self.use_doc_unwarping}


def step_specs(settings: DocPreprocessorSettings, models: dict, configs: dict,
               **common) -> Tuple[Optional[ModelSpec], Optional[ModelSpec]]:
    """The orientation and unwarping models' specs, None for a step that is off: `models` the constructor's
    <step>_model_name / <step>_model_dir (neither: PaddleX's default model), `configs` each step's hpi_config,
    `common` ModelSpec.of's device, use_hpip and where."""
    return tuple(ModelSpec.of(**sub_model(models[f"{step}_model_name"], models[f"{step}_model_dir"], default_name),
                              hpi_config=configs[step], **common)
                 if getattr(settings, f"use_{step}") else None
                 for step, default_name in (("doc_orientation_classify", DEFAULT_ORIENTATION_MODEL),
                                            ("doc_unwarping", DEFAULT_UNWARPING_MODEL)))


def check_flag(name: str, value, where: str) -> Optional[bool]:
    if value is not None and not isinstance(value, bool):
        raise ConfigError(f"{where}: {name} must be True, False or None, got {value!r}")
    return value


@dataclass
class Preprocessed:
    """One image through the preprocessor: the angle (-1 when orientation was off), the turned and final images."""

    angle: int
    rot_img: np.ndarray
    output_img: np.ndarray


class DocPreprocessor(ComposedModels):
    """`DocPreprocessor(use_doc_orientation_classify=None, use_doc_unwarping=None, ...).predict(input)`."""

    def __init__(self, doc_orientation_classify_model_name: Optional[str] = None,
                 doc_orientation_classify_model_dir=None, doc_unwarping_model_name: Optional[str] = None,
                 doc_unwarping_model_dir=None, use_doc_orientation_classify: Optional[bool] = None,
                 use_doc_unwarping: Optional[bool] = None, device: Optional[str] = None, use_hpip: bool = False,
                 hpi_config=None, *, enable_hpi: Optional[bool] = None, orientation_hpi_config=None,
                 unwarping_hpi_config=None):
        where = "DocPreprocessor"
        use_ori = check_flag("use_doc_orientation_classify", use_doc_orientation_classify, where)
        use_unwarp = check_flag("use_doc_unwarping", use_doc_unwarping, where)
        defaults = DocPreprocessorSettings(use_ori is not False, use_unwarp is not False)
        common = {"device": require_device(parse_device(device)), "use_hpip": check_use_hpip(use_hpip, enable_hpi),
                  "where": where}
        config = parsed_hpi_config(hpi_config)  # a YAML file read once for both models
        models = {"doc_orientation_classify_model_name": doc_orientation_classify_model_name,
                  "doc_orientation_classify_model_dir": doc_orientation_classify_model_dir,
                  "doc_unwarping_model_name": doc_unwarping_model_name,
                  "doc_unwarping_model_dir": doc_unwarping_model_dir}
        configs = {"doc_orientation_classify": config if orientation_hpi_config is None else orientation_hpi_config,
                   "doc_unwarping": config if unwarping_hpi_config is None else unwarping_hpi_config}
        self._open(defaults, *step_specs(defaults, models, configs, **common))

    @classmethod
    def from_specs(cls, defaults: DocPreprocessorSettings, orientation: Optional[ModelSpec],
                   unwarping: Optional[ModelSpec]) -> "DocPreprocessor":
        """The preprocessor of specs already made (the OCR pipeline's plan): nothing is checked or read again."""
        self = cls.__new__(cls)
        self._open(defaults, orientation, unwarping)
        return self

    def _open(self, defaults: DocPreprocessorSettings, orientation: Optional[ModelSpec],
              unwarping: Optional[ModelSpec]) -> None:
        self.defaults = defaults
        self.orientation_model: Optional[DocImgOrientationClassification] = None
        self.unwarping_model: Optional[TextImageUnwarping] = None
        try:
            if orientation is not None:
                self.orientation_model = DocImgOrientationClassification.from_spec(orientation)
            if unwarping is not None:
                self.unwarping_model = TextImageUnwarping.from_spec(unwarping)
        except BaseException:
            self.close()
            raise

    @property
    def config(self) -> dict:
        models = {"doc_orientation_classify": self.orientation_model, "doc_unwarping": self.unwarping_model}
        return {name: model.config for name, model in models.items() if model is not None}

    def settings(self, where: str, use_doc_orientation_classify: Optional[bool] = None,
                 use_doc_unwarping: Optional[bool] = None) -> DocPreprocessorSettings:
        """A call's settings: the given flags, else the constructor's; a step whose model is not loaded refused."""
        use_ori = check_flag("use_doc_orientation_classify", use_doc_orientation_classify, where)
        use_unwarp = check_flag("use_doc_unwarping", use_doc_unwarping, where)
        settings = DocPreprocessorSettings(
            self.defaults.use_doc_orientation_classify if use_ori is None else use_ori,
            self.defaults.use_doc_unwarping if use_unwarp is None else use_unwarp)
        for flag, model, what in (("use_doc_orientation_classify", self.orientation_model, "orientation"),
                                  ("use_doc_unwarping", self.unwarping_model, "unwarping")):
            if getattr(settings, flag) and model is None:
                raise ConfigError(f"{where}: {flag}=True, but the document {what} model was not loaded: pass "
                                  f"{flag}=True (or leave it out) when constructing the pipeline")
        return settings

    def run(self, images: Sequence[np.ndarray], settings: DocPreprocessorSettings,
            batch_size: int = 1) -> List[Preprocessed]:
        """Each BGR image turned upright and unwarped as `settings` say (PaddleX's order of steps)."""
        if settings.use_doc_orientation_classify:
            angles = self.orientation_model.angles(images, batch_size)
            turned = [rotate_image(image, angle) for image, angle in zip(images, angles)]
        else:
            angles, turned = [-1] * len(images), list(images)
        outputs = self.unwarping_model.unwarp(turned, batch_size) if settings.use_doc_unwarping else turned
        return [Preprocessed(angle, rot, out) for angle, rot, out in zip(angles, turned, outputs)]

    @staticmethod
    def result(input_path, page_index, image: np.ndarray, done: Preprocessed,
               settings: DocPreprocessorSettings) -> DocPreprocessorResult:
        return DocPreprocessorResult(input_path=input_path, page_index=page_index,
                                     model_settings=settings.model_settings(), angle=done.angle, input_img=image,
                                     rot_img=done.rot_img, output_img=done.output_img)

    def predict(self, input, **options) -> List[DocPreprocessorResult]:
        return list(self.predict_iter(input, **options))

    def predict_iter(self, input, *, use_doc_orientation_classify: Optional[bool] = None,
                     use_doc_unwarping: Optional[bool] = None, on_bad_input: OnBadInput = "raise",
                     max_image_pixels: Optional[int] = None) -> Iterator[DocPreprocessorResult]:
        """One result per image, in input order (PaddleX's batch size 1); bad inputs as OCR.predict."""
        settings = self.settings("DocPreprocessor.predict", use_doc_orientation_classify, use_doc_unwarping)
        report_bad_input = bad_input_handler(on_bad_input)
        names = UniqueNames()
        for item, image in readable_images(iter_inputs(input, max_image_pixels=max_image_pixels), report_bad_input):
            done, = self.run([image], settings)
            result = self.result(item.input_path, item.page_index, image, done, settings)
            names.assign(result)
            yield result

    def _models(self):
        return self.orientation_model, self.unwarping_model
