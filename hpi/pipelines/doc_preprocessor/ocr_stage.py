"""The document preprocessor as a stage of the OCR pipeline: PaddleOCR 3.7's option rules, and what the OCR result
carries (PaddleX 3.7.2's ocr pipeline and PaddleOCR's _pipelines/ocr.py).

Constructor (`plan`): PaddleOCR sets the doc_preprocessor sub-pipeline's use_doc_orientation_classify and
use_doc_unwarping from its arguments (None: the sub-pipeline's default, True) and use_doc_preprocessor to
`use_doc_orientation_classify or use_doc_unwarping` (None: OCR.yaml's True). So (None, None) runs both steps,
(False, None) unwarping only, (False, False) nothing. One hpi rule on top, the one use_textline_orientation already
follows: with both flags None, the steps are on when no detection or recognition model is given (PaddleOCR's
defaults, official models) or when a step's own model is given; a pipeline built from local text models does not
fetch PP-LCNet_x1_0_doc_ori and UVDoc unasked.

predict (`call_settings`): PaddleX's get_model_settings: both None -> the constructor's choice; else the
preprocessor runs when either is True, each None step taking the constructor's value.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ...errors import ConfigError
from ...runtime.device import Device
from .pipeline import DocPreprocessor, DocPreprocessorSettings, check_flag, step_specs

MODEL_ARGS = ("doc_orientation_classify_model_name", "doc_orientation_classify_model_dir",
              "doc_unwarping_model_name", "doc_unwarping_model_dir")


@dataclass(frozen=True)
class DocPlan:
    """Whether the OCR pipeline has a document preprocessor and how to build it."""

    use_doc_preprocessor: bool
    use_doc_orientation_classify: bool
    use_doc_unwarping: bool
    models: dict  # MODEL_ARGS -> value

    def build(self, *, device: Device, use_hpip: Optional[bool], configs: dict) -> Optional[DocPreprocessor]:
        """The DocPreprocessor (None when off); `configs`: each sub-model's HPIConfig."""
        if not self.use_doc_preprocessor:
            return None
        settings = DocPreprocessorSettings(self.use_doc_orientation_classify, self.use_doc_unwarping)
        return DocPreprocessor.from_specs(settings, *step_specs(settings, self.models, configs, device=device,
                                                                use_hpip=use_hpip, where="OCR"))


def plan(given: dict, text_models_given: bool) -> DocPlan:
    """`given`: the OCR constructor's arguments (use_doc_orientation_classify, use_doc_unwarping and MODEL_ARGS,
    missing ones None); `text_models_given`: a detection or recognition model name or directory was given."""
    ori = check_flag("use_doc_orientation_classify", given.get("use_doc_orientation_classify"), "OCR")
    unwarp = check_flag("use_doc_unwarping", given.get("use_doc_unwarping"), "OCR")
    models = {name: given.get(name) for name in MODEL_ARGS}
    if ori is None and unwarp is None:
        ori_model = models["doc_orientation_classify_model_name"] or models["doc_orientation_classify_model_dir"]
        unwarp_model = models["doc_unwarping_model_name"] or models["doc_unwarping_model_dir"]
        ori, unwarp = (True, True) if not text_models_given else (ori_model is not None, unwarp_model is not None)
    else:
        ori, unwarp = ori is not False, unwarp is not False  # the sub-pipeline's default for the one left None
    return DocPlan(ori or unwarp, ori, unwarp, models)


def call_settings(preprocessor: Optional[DocPreprocessor], where: str,
                  use_doc_orientation_classify: Optional[bool] = None,
                  use_doc_unwarping: Optional[bool] = None) -> Optional[DocPreprocessorSettings]:
    """One predict call's preprocessing (None: none), as PaddleX decides it."""
    ori = check_flag("use_doc_orientation_classify", use_doc_orientation_classify, where)
    unwarp = check_flag("use_doc_unwarping", use_doc_unwarping, where)
    if ori is None and unwarp is None:
        use = preprocessor is not None
    else:
        use = ori is True or unwarp is True
    if not use:
        return None
    if preprocessor is None:
        raise ConfigError(f"{where}: document preprocessing asked for, but this pipeline has no document "
                          "preprocessor: construct it with use_doc_orientation_classify=True and/or "
                          "use_doc_unwarping=True")
    return preprocessor.settings(where, ori, unwarp)


def result_entry(preprocessor: DocPreprocessor, image, done, settings: DocPreprocessorSettings):
    """The OCR result's doc_preprocessor_res: PaddleX's sub-pipeline is given arrays, so no input_path or
    page_index."""
    return preprocessor.result(None, None, image, done, settings)
