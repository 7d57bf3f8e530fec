"""The geometry DB post-processing needs, against what PaddleX's own libraries return (pyclipper 1.4 and
OpenCV 4.10, recorded by scripts/make_reference_geometry.py): our unclip, and the installed OpenCV (pinned to
PaddleX's 4.10: 4.11 fills polygons differently, 4.13 turns minimum-area rectangles differently, and box scores
move)."""
import hashlib

import cv2
import numpy as np

from hpi.tasks.text_detection.offset import clipper_vertices, offset_polygon


def test_unclip_equals_pyclipper(reference_geometry):
    cases = reference_geometry["clipper"]
    assert len(cases) == 150
    for case in cases:
        box = np.array(case["box"], dtype=np.float32)
        assert len(case["polygons"]) == 1
        ours = clipper_vertices(offset_polygon(box, case["distance"])).tolist()
        assert ours == case["polygons"][0], case


def test_offset_of_zero_distance_is_the_integer_polygon():
    square = np.array([[1.7, 1.2], [9.9, 1.0], [9.0, 8.6], [1.0, 9.0]], dtype=np.float32)
    assert offset_polygon(square, 0.0).tolist() == [[1, 1], [9, 1], [9, 8], [1, 9]]
    # fewer than three distinct points: Clipper drops the path
    assert offset_polygon(np.array([[1, 1], [1, 1], [5, 5]], dtype=np.float32), 2.0).shape == (0, 2)


def test_installed_opencv_rectangles_equal_opencv_4_10(reference_geometry):
    cases = reference_geometry["min_area_rect"]
    assert len(cases) > 100
    for case in cases:
        points = np.array(case["points"], dtype=case["dtype"]).reshape(-1, 1, 2)
        rect = cv2.minAreaRect(points)
        assert [list(rect[0]), list(rect[1]), rect[2]] == case["rect"], case
        assert cv2.boxPoints(rect).tolist() == case["box_points"], case


def test_installed_opencv_fills_as_opencv_4_10(reference_geometry):
    shape = tuple(reference_geometry["mask_shape"])
    for case in reference_geometry["fill_poly"]:
        mask = cv2.fillPoly(np.zeros(shape, np.uint8), np.array(case["points"], dtype=np.int32)[None], 1)
        assert int(mask.sum()) == case["pixels"], case
        assert hashlib.sha256(mask.tobytes()).hexdigest() == case["sha256"], case
