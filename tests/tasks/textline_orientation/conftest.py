"""Model dirs and the PaddleX golden of the text-line orientation tests (skipped with the reason when missing)."""
from pathlib import Path

import pytest
from helpers import DATA, golden_or_skip, model_dir_or_skip


@pytest.fixture(scope="session")
def ori_paddle_dir(models_root) -> Path:
    """ch_ppocr_mobile_v2.0_cls in Paddle format with the inference.yml PaddleX's textline_orientation reads."""
    return model_dir_or_skip(models_root, "ppocr_mobile_v2_textline_ori")


@pytest.fixture(scope="session")
def ori_onnx_dir(models_root) -> Path:
    return model_dir_or_skip(models_root, "ppocr_mobile_v2_textline_ori_onnx")


@pytest.fixture(scope="session")
def ori_on(shared_predictor, ori_onnx_dir):
    """ori_on(backend): the session's high-performance text-line orientation classifier on one CPU backend."""
    from hpi import TextLineOrientationClassification

    return lambda backend: shared_predictor(TextLineOrientationClassification, model_dir=ori_onnx_dir, device="cpu",
                                            use_hpip=True, hpi_config={"backend": backend})


@pytest.fixture(scope="session")
def ori_golden():
    """PaddleX 3.7.2's textline_orientation module on real crops (scripts/make_ocr_golden.py)."""
    return golden_or_skip("paddlex_textline_ori_ppocr_mobile_v2.json")


@pytest.fixture(scope="session")
def golden_crops(ori_golden):
    """The golden's crops rebuilt here (PaddleX's crop of each polygon, some turned upside down)."""
    import hashlib

    import cv2
    import numpy as np

    from hpi.pipelines.ocr.geometry import Cropper

    cropper, images, crops = Cropper(), {}, []
    for row in ori_golden["crops"]:
        if row["file"] not in images:
            images[row["file"]] = cv2.imread(str(DATA / "ocr_images" / row["file"]))
        crop = cropper.crop(images[row["file"]], np.array(row["poly"]))
        crop = np.ascontiguousarray(crop[::-1, ::-1] if row["rotated180"] else crop)
        assert hashlib.sha256(crop.tobytes()).hexdigest() == row["crop_sha256"], row
        crops.append(crop)
    return crops
