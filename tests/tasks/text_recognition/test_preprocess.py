import numpy as np
import pytest

from hpi.tasks.text_recognition.preprocess import (MAX_WIDTH, pad_batch, rec_image_shape_from_config, resize_norm,
                                                   target_width)


def test_wide_line_width_is_truncated_not_rounded_up():
    # 48 * 1000/47 = 1021.28: PaddleX takes int() -> 1021, where ceil would give 1022 and change the text.
    assert target_width(47, 1000) == 1021
    line = resize_norm(np.full((47, 1000, 3), 200, np.uint8))
    assert line.shape == (3, 48, 1021)
    assert not (line[:, :, -1] == 0).all()  # no padding column: the resized line fills the width


def test_narrow_line_is_padded_to_320_with_zeros():
    line = resize_norm(np.full((48, 100, 3), 255, np.uint8))
    assert line.shape == (3, 48, 320)
    assert np.allclose(line[:, :, :100], 1.0)
    assert (line[:, :, 100:] == 0).all()


def test_very_long_line_is_squashed_to_3200():
    line = resize_norm(np.zeros((10, 1000, 3), np.uint8))  # 48 * 100 = 4800 px before the cap
    assert line.shape == (3, 48, MAX_WIDTH)
    assert np.allclose(line, -1.0)


def test_normalization_maps_0_255_to_minus1_1():
    image = np.zeros((48, 320, 3), np.uint8)
    image[:, 160:] = 255
    line = resize_norm(image)
    assert line.dtype == np.float32
    assert line.min() == -1.0 and line.max() == 1.0


def test_pad_batch_pads_to_widest():
    a, b = np.ones((3, 48, 320), np.float32), np.ones((3, 48, 500), np.float32)
    batch = pad_batch([a, b])
    assert batch.shape == (2, 3, 48, 500)
    assert (batch[0, :, :, 320:] == 0).all() and (batch[1] == 1).all()


@pytest.mark.parametrize("config, shape", [
    ({}, (3, 48, 320)),
    ({"PreProcess": {"transform_ops": [{"DecodeImage": {}}, {"RecResizeImg": {"image_shape": [3, 32, 100]}}]}},
     (3, 32, 100)),
])
def test_rec_image_shape_from_inference_yml(config, shape):
    assert rec_image_shape_from_config(config) == shape
