"""Box sorting and box corners as PaddleX 3.7.2's SortQuadBoxes, SortPolyBoxes and convert_points_to_boxes."""
import cv2
import numpy as np
import pytest
from helpers import DATA

from hpi.pipelines.ocr.geometry import Cropper, points_to_boxes, sort_poly_boxes, sort_quad_boxes


def quad(x, y, w=40, h=10):
    return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.int16)


def test_sorts_top_to_bottom_then_left_to_right_within_10_px():
    boxes = [quad(200, 52), quad(10, 50), quad(100, 58), quad(10, 100), quad(5, 61)]
    order = [(int(b[0][0]), int(b[0][1])) for b in sort_quad_boxes(boxes)]
    # sorted by (y, x): (10,50) (200,52) (100,58) (5,61) (10,100); then each box moves before its neighbour
    # while their tops differ by less than 10 px and it lies further left: (100,58) passes (200,52); (5,61)
    # passes (200,52) and (100,58), not (10,50): 61 - 50 = 11 px
    assert order == [(10, 50), (5, 61), (100, 58), (200, 52), (10, 100)]


def test_sort_is_the_single_bubble_pass_paddlex_does():
    """Neighbours only: a box never moves above one more than 10 px higher, even where a chain of 9-px steps
    leads there (the leftmost box here stays last)."""
    boxes = [quad(300, 0), quad(200, 9), quad(100, 18)]
    order = [int(b[0][0]) for b in sort_quad_boxes(boxes)]
    assert order == [200, 300, 100]


def test_empty_and_single():
    assert sort_quad_boxes([]) == []
    assert sort_quad_boxes(np.zeros((0, 4, 2), dtype=np.int16)) == []
    (only,) = sort_quad_boxes([quad(1, 2)])
    assert only.tolist() == quad(1, 2).tolist()


def test_poly_boxes_sorted_by_their_top():
    polys = [np.array([[0, 30], [5, 20], [9, 40]]), np.array([[0, 10], [5, 12], [3, 50], [1, 45]])]
    assert [int(p[:, 1].min()) for p in sort_poly_boxes(polys)] == [10, 20]
    assert sort_poly_boxes([]) == []


def test_points_to_boxes():
    boxes = points_to_boxes([np.array([[88, 55], [255, 57], [254, 80], [87, 77]], dtype=np.int16)])
    assert boxes.tolist() == [[87, 55, 255, 80]] and boxes.dtype == np.int16
    assert points_to_boxes([]).tolist() == []


def test_lines_of_an_image_wider_than_opencv_warps_are_cropped_from_around_them():
    """OpenCV's warps take sides below 32,767 px (PaddleX fails there with a raw cv2.error): from such an image
    each line is warped from the part around it, the same crop as from a smaller image holding the same pixels (to
    within interpolation rounding); a line itself that long is a LineTooLong."""
    from hpi.pipelines.ocr.geometry import MAX_WARP_SIDE, LineTooLong

    photo = cv2.imread(str(DATA / "ocr_images" / "ppocr_00009282.jpg"))
    big = np.tile(photo, (1, 40_000 // photo.shape[1] + 1, 1))[:, :40_000]
    small = big[:, :20_000]
    cropper, rng, same = Cropper(), np.random.default_rng(0), 0
    for _ in range(100):
        centre = (rng.uniform(50, 19_000), rng.uniform(20, photo.shape[0] - 20))
        poly = cv2.boxPoints((centre, (rng.uniform(20, 900), rng.uniform(8, 60)), rng.uniform(-30, 30)))
        expected, got = cropper.crop(small, poly.astype(np.int32)), cropper.crop(big, poly.astype(np.int32))
        assert got.shape == expected.shape
        assert np.abs(got.astype(int) - expected).max() <= 3
        same += np.array_equal(got, expected)
    assert same >= 90
    with pytest.raises(LineTooLong, match="32,766 pixels a side"):
        cropper.crop(big, np.array([[0, 10], [MAX_WARP_SIDE + 1, 10], [MAX_WARP_SIDE + 1, 40], [0, 40]], np.int32))
