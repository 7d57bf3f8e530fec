"""Pipelines: several task models chained, as PaddleX's `create_pipeline` / PaddleOCR's pipeline classes.

Why a package of their own rather than another task under hpi/tasks: a task is one model on the shared
predictor (hpi.tasks.predictor.Predictor: its batching and results); a pipeline owns no model and no
backend, it composes tasks (detection, orientation, recognition) and adds the steps between them (sorting,
cropping). Keeping them apart keeps the import direction one way, runtime <- tasks <- pipelines, as PaddleX
keeps inference/models apart from inference/pipelines.
"""
from .ocr import OCR, OCRResult, PaddleOCR

__all__ = ["OCR", "OCRResult", "PaddleOCR"]
