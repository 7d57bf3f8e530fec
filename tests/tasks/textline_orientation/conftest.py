"""Model dirs and the PaddleX golden of the text-line orientation tests (skipped with the reason when missing)."""
import json
from pathlib import Path

import pytest
from helpers import DATA

GOLDEN = DATA / "golden" / "paddlex_textline_ori_ppocr_mobile_v2.json"


def _model(models_root: Path, name: str) -> Path:
    path = models_root / name
    if not (path / "inference.yml").is_file():
        pytest.skip(f"test model {name} is missing in {models_root}: run `make models` (scripts/fetch_test_models.py)")
    return path


@pytest.fixture(scope="session")
def ori_paddle_dir(models_root) -> Path:
    """ch_ppocr_mobile_v2.0_cls in Paddle format with the inference.yml PaddleX's textline_orientation reads."""
    return _model(models_root, "ppocr_mobile_v2_textline_ori")


@pytest.fixture(scope="session")
def ori_onnx_dir(models_root) -> Path:
    return _model(models_root, "ppocr_mobile_v2_textline_ori_onnx")


@pytest.fixture(scope="session")
def ori_golden():
    """PaddleX 3.7.2's textline_orientation module on real crops (scripts/make_ocr_golden.py)."""
    if not GOLDEN.is_file():
        pytest.skip(f"{GOLDEN} is missing: make it with scripts/make_ocr_golden.py in the PaddleX venv")
    return json.loads(GOLDEN.read_text("utf-8"))


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
