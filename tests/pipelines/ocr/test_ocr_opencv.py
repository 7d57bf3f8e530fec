"""The installed OpenCV (pinned to PaddleX's 4.10) against what OpenCV 4.10 itself gave in PaddleX's venv
(data/cv410_reference.json, made by scripts/make_cv410_reference.py): hulls, minimum-area rectangles, box points,
and the pipeline's crops and 180-degree turns, bit for bit. OpenCV 4.13+ turns rectangles and 5.0 warps differently:
this fails if another OpenCV is installed."""
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import DATA

from hpi.pipelines.ocr.geometry import Cropper

REFERENCE = json.loads((Path(__file__).parent / "data" / "cv410_reference.json").read_text("utf-8"))
IMAGES = DATA / "ocr_images"


def sha(image: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()


def test_reference_is_opencv_4_10():
    assert REFERENCE["opencv_version"].startswith("4.10.")
    assert len(REFERENCE["rects"]) == 700 and len(REFERENCE["crops"]) == 260


def test_hull_rect_and_box_points_are_opencv_4_10():
    wrong = []
    for row in REFERENCE["rects"]:
        points = np.array(row["poly"], dtype=np.int32)
        hull = cv2.convexHull(points).reshape(-1, 2).tolist()
        center, size, angle = cv2.minAreaRect(points)
        rect = [float(center[0]), float(center[1]), float(size[0]), float(size[1]), float(angle)]
        corners = cv2.boxPoints((row["rect"][:2], row["rect"][2:4], row["rect"][4])).tolist()
        if hull != row["hull"] or rect != row["rect"] or corners != row["box_points"]:
            wrong.append((row["poly"], hull, rect))
    assert wrong == []


def test_min_area_rect_angle_convention():
    """OpenCV 4.5-4.12: angle in (0, 90]; an axis-aligned box is reported at 90 degrees (4.13+ says 0 or -90)."""
    center, size, angle = cv2.minAreaRect(np.array([[120, 84], [223, 84], [223, 108], [120, 108]]))
    assert (float(center[0]), float(center[1]), float(size[0]), float(size[1]), float(angle)) == \
        (171.5, 96.0, 24.0, 103.0, 90.0)


@pytest.fixture(scope="module")
def images():
    return {name: cv2.imread(str(IMAGES / name)) for name in {row["file"] for row in REFERENCE["crops"]}}


def test_crops_and_rotations_are_paddlex_pixels(images):
    """Every crop and its 180-degree turn equal PaddleX's own (OpenCV 4.10)."""
    cropper = Cropper()
    wrong = []
    for row in REFERENCE["crops"]:
        crop = cropper.crop(images[row["file"]], np.array(row["poly"]))
        if list(crop.shape) != row["shape"] or sha(crop) != row["crop_sha256"] \
                or sha(cropper.rotate_180(crop)) != row["rotated_sha256"]:
            wrong.append(row["poly"])
    assert wrong == []


def test_rotation_blends_black_into_the_first_row_and_column():
    """PaddleX's 180-degree turn maps output pixel x to source pixel w - x: one pixel off a flip."""
    image = np.full((6, 10, 3), 200, dtype=np.uint8)
    turned = Cropper().rotate_180(image)
    assert turned.shape == image.shape
    assert (turned[0] < 200).all() and (turned[:, 0] < 200).all()
    assert (turned[2:, 2:] == 200).all()
