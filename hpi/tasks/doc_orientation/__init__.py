from .predictor import DOC_ORI_LABELS, DocImgOrientationClassification

__all__ = ["DOC_ORI_LABELS", "DocImgOrientationClassification"]
