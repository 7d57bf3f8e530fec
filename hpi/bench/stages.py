"""Time per stage of hpi's own predict paths: the stages run one after another (no read-ahead, no overlap), each
timed by the lap its code calls as it ends (hpi.streaming.Lap), so the times are those of the code predict runs,
not of a copy."""
from __future__ import annotations

import time
from typing import Dict, Optional, Sequence

from ..inputs import iter_inputs
from ..streaming import bad_input_handler, chunks

PREDICTOR_STAGES = ("read", "preprocess", "infer", "postprocess")
# The OCR pipeline's stages, as its prepare() laps them (and "recognize" here); "doc_preprocess" joins them after
# "read" where the document preprocessor runs
OCR_STAGES = ("read", "detect", "crop", "orient", "recognize")


class StageClock:
    """Seconds per stage, summed over laps: `lap(stage)` adds the time since the last lap (or `start`) to it."""

    def __init__(self, stages: Sequence[str] = ()):
        self.seconds: Dict[str, float] = dict.fromkeys(stages, 0.0)
        self._last = time.perf_counter()

    def start(self) -> None:
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self._last
        self._last = now

    def ms_per(self, count: int, digits: Optional[int] = None) -> Dict[str, float]:
        """Milliseconds per item for each stage over `count` items (rounded to `digits` if given)."""
        return {stage: 1000 * seconds / count if digits is None else round(1000 * seconds / count, digits)
                for stage, seconds in self.seconds.items()}


def profile_stages(predictor, inputs, batch_size: int, **options) -> Dict[str, float]:
    """Milliseconds per input in each stage of `predictor.predict` (a hpi.tasks Predictor), run one after another
    (no overlap): read, preprocess, infer (grouping and collating count here), postprocess."""
    call_options = predictor.options(**options)
    raise_bad_input = bad_input_handler("raise")
    clock = StageClock(PREDICTOR_STAGES)
    items = list(iter_inputs(inputs))
    for chunk in chunks(iter(items), predictor.window_size(batch_size)):
        clock.start()
        window = predictor.prepare(chunk, call_options, lap=clock.lap)
        for output in predictor.submit(window, batch_size).outputs:
            output.result()
        clock.lap("infer")
        for _ in predictor.finish(window, call_options, raise_bad_input):
            pass
        clock.lap("postprocess")
    return clock.ms_per(len(items))


def profile_ocr_stages(ocr, paths: Sequence[str]) -> Dict[str, float]:
    """Milliseconds per image in each stage of `ocr.predict` (the OCR pipeline with its constructor's settings),
    one image at a time as a service answers requests: read, doc_preprocess (when it runs), detect, crop,
    orient, recognize."""
    settings, doc = ocr.predict_settings()
    clock = StageClock(OCR_STAGES)
    for path in paths:
        clock.start()
        window = ocr.prepare(list(iter_inputs(path)), settings, doc, lap=clock.lap)
        ocr.recognize(window)
        clock.lap("recognize")
    return clock.ms_per(len(paths), digits=2)
