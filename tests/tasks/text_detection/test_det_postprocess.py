"""DB post-processing on probability maps whose boxes can be worked out by hand."""
import numpy as np
import pytest

from hpi.errors import ModelDirError
from hpi.tasks.text_detection.postprocess import DBPostProcess, DBSettings

P = pytest.approx(0.9, abs=1e-7)  # the mean of a region of float32 0.9 probabilities (cv2.mean sums in double)


def line_map(*regions, shape=(64, 128), value=0.9):
    """A 1 x H x W probability map with the given (y0, y1, x0, x1) regions at `value`."""
    pred = np.zeros((1, *shape), np.float32)
    for y0, y1, x0, x1 in regions:
        pred[0, y0:y1, x0:x1] = value
    return pred


def test_a_line_becomes_its_expanded_rectangle():
    # a 60 x 10 region (contour 59 x 9): unclip distance 531 * 1.5 / 136 = 5.86 px on every side
    polys, scores = DBPostProcess(DBSettings())(line_map((20, 30, 10, 70)), (64, 128), 0.3, 0.6, 1.5)
    assert polys.dtype == np.int16 and polys.shape == (1, 4, 2)
    assert polys.tolist() == [[[4, 14], [75, 14], [75, 35], [4, 35]]]  # top-left first, clockwise
    assert scores == [P]


def test_boxes_are_scaled_to_the_image_and_clamped():
    polys, _ = DBPostProcess(DBSettings())(line_map((20, 30, 10, 70)), (128, 256), 0.3, 0.6, 1.5)
    assert polys.tolist() == [[[8, 28], [150, 28], [150, 70], [8, 70]]]
    polys, _ = DBPostProcess(DBSettings())(line_map((0, 10, 0, 40)), (64, 128), 0.3, 0.6, 1.5)
    assert polys.min() == 0  # the expansion beyond the border is clamped


def test_thresholds():
    db = DBPostProcess(DBSettings())
    pred = line_map((20, 30, 10, 70))
    empty, scores = db(pred, (64, 128), 0.3, 0.95, 1.5)  # score 0.9 under box_thresh
    assert empty.shape == (0, 4, 2) and empty.dtype == np.int16 and scores == []
    assert db(pred, (64, 128), 0.95, 0.6, 1.5)[0].shape == (0, 4, 2)  # nothing above thresh
    wider, _ = db(pred, (64, 128), 0.3, 0.6, 3.0)
    assert wider.tolist() == [[[-2 + 2, 8], [81, 8], [81, 41], [0, 41]]]  # x clamped at 0


def test_small_regions_are_dropped():
    polys, _ = DBPostProcess(DBSettings())(line_map((20, 22, 10, 70), (40, 50, 10, 70)), (64, 128), 0.3, 0.6, 1.5)
    assert len(polys) == 1  # the 2-row region: its rectangle's short side is under 3 px


def test_max_candidates_limits_the_contours_read():
    pred = line_map((5, 15, 10, 70), (25, 35, 10, 70), (45, 55, 10, 70))
    assert len(DBPostProcess(DBSettings())(pred, (64, 128), 0.3, 0.6, 1.5)[0]) == 3
    assert len(DBPostProcess(DBSettings(max_candidates=2))(pred, (64, 128), 0.3, 0.6, 1.5)[0]) == 2


def test_dilation_joins_regions_one_pixel_apart():
    pred = line_map((20, 30, 10, 40), (20, 30, 41, 70))
    assert len(DBPostProcess(DBSettings())(pred, (64, 128), 0.3, 0.6, 1.5)[0]) == 2
    joined, _ = DBPostProcess(DBSettings(use_dilation=True))(pred, (64, 128), 0.3, 0.6, 1.5)
    assert len(joined) == 1


def test_slow_score_mode_averages_inside_the_contour():
    pred = line_map((20, 30, 10, 70), (30, 45, 10, 20))  # an L: its rectangle holds zeros, its contour does not
    fast = DBPostProcess(DBSettings())(pred, (64, 128), 0.3, 0.1, 1.5)[1]
    slow = DBPostProcess(DBSettings(score_mode="slow"))(pred, (64, 128), 0.3, 0.1, 1.5)[1]
    assert len(fast) == len(slow) == 1
    assert slow == [P] and fast[0] < 0.6


def test_poly_box_type_keeps_the_outline():
    polys, scores = DBPostProcess(DBSettings(box_type="poly"))(line_map((20, 30, 10, 70)), (64, 128), 0.3, 0.6, 1.5)
    assert isinstance(polys, list) and len(polys) == 1 and scores == [P]
    poly = polys[0]
    assert poly.shape[1] == 2 and len(poly) > 4  # rounded corners
    assert (poly.min(axis=0).tolist(), poly.max(axis=0).tolist()) == ([4, 14], [75, 35])


def test_settings_from_inference_yml():
    settings = DBSettings.from_config({"PostProcess": {"name": "DBPostProcess", "thresh": 0.2, "box_thresh": 0.45,
                                                       "unclip_ratio": 1.4, "max_candidates": 3000}})
    assert (settings.thresh, settings.box_thresh, settings.unclip_ratio, settings.max_candidates) == (0.2, 0.45, 1.4, 3000)
    defaults = DBSettings.from_config({"PostProcess": {"name": "DBPostProcess"}})
    assert (defaults.thresh, defaults.box_thresh, defaults.unclip_ratio) == (0.3, 0.6, 2.0)  # PaddleX's defaults
    assert (defaults.score_mode, defaults.box_type, defaults.use_dilation) == ("fast", "quad", False)


@pytest.mark.parametrize("post, message", [
    ({"name": "CTCLabelDecode"}, "PostProcess.name 'CTCLabelDecode'"),
    ({}, "PostProcess.name None"),
    ({"name": "DBPostProcess", "score_mode": "median"}, "score_mode"),
    ({"name": "DBPostProcess", "box_type": "circle"}, "box_type"),
])
def test_unsupported_postprocess_is_a_model_dir_error(post, message):
    with pytest.raises(ModelDirError, match=message):
        DBSettings.from_config({"PostProcess": post})
