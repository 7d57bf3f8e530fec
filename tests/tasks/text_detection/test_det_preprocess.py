"""Text detection preprocessing as PaddleX 3.7.2's DetResizeForTest, NormalizeImage and ToCHWImage."""
import cv2
import numpy as np
import pytest

from hpi.errors import ModelDirError
from hpi.tasks.text_detection.preprocess import DetPreprocess, limited_size, parse_scale

YML_V4 = {
    "Global": {"model_name": "PP-OCRv4_mobile_det"},
    "PreProcess": {"transform_ops": [
        {"DecodeImage": {"channel_first": False, "img_mode": "BGR"}}, {"DetLabelEncode": None},
        {"DetResizeForTest": None},
        {"NormalizeImage": {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "scale": "1./255.",
                            "order": "hwc"}},
        {"ToCHWImage": None}, {"KeepKeys": {"keep_keys": ["image", "shape", "polys", "ignore_tags"]}}]},
    "PostProcess": {"name": "DBPostProcess", "thresh": 0.3, "box_thresh": 0.6, "unclip_ratio": 1.5},
}


# (h, w), limit_side_len, limit_type -> resized (h, w): each checked against PaddleX 3.7.2's DetResizeForTest
@pytest.mark.parametrize("size, limit, limit_type, expected", [
    ((350, 350), 960, "max", (352, 352)),          # no scaling, rounded to multiples of 32
    ((48, 136), 960, "max", (64, 128)),            # 1.5 rounds to 2 (half to even), 4.25 to 4
    ((80, 100), 960, "max", (64, 96)),             # 2.5 rounds to 2
    ((1150, 720), 960, "max", (960, 608)),
    ((1280, 905), 960, "max", (960, 672)),
    ((5000, 200), 960, "max", (960, 32)),          # never below 32
    ((267, 430), 736, "min", (736, 1184)),
    ((3000, 4000), 64, "min", (3008, 4000)),       # the OCR pipeline's setting: only rounded
    ((600, 300), 960, "resize_long", (960, 480)),
    ((100, 5000), 736, "min", (64, 4000)),         # max_side_limit 4000 caps the long side
])
def test_limited_size_as_paddlex(size, limit, limit_type, expected):
    assert limited_size(*size, limit, limit_type, 4000) == expected


def test_max_side_limit_is_applied_and_logged(caplog):
    assert limited_size(100, 5000, 736, "min", 2000) == (32, 1984)  # 2000 / 32 = 62.5 rounds to 62
    assert "max_side_limit 2000" in caplog.text


def test_defaults_follow_the_model_name_as_paddlex():
    v4 = DetPreprocess.from_config(YML_V4, "PP-OCRv4_mobile_det")
    assert (v4.limit_side_len, v4.limit_type, v4.rgb, v4.image_shape) == (960, "max", False, None)
    # a model outside PaddleX's max-limit list: 736 and "min"
    other = DetPreprocess.from_config(YML_V4, "PP-OCRv4_server_seal_det")
    assert (other.limit_side_len, other.limit_type) == (736, "min")
    # DetResizeForTest.resize_long sets the default side; its limit_side_len and limit_type are ignored, as PaddleX
    config = dict(YML_V4, PreProcess={"transform_ops": [
        {"DecodeImage": {"img_mode": "BGR"}},
        {"DetResizeForTest": {"resize_long": 1280, "limit_side_len": 64, "limit_type": "min"}}]})
    resized = DetPreprocess.from_config(config, "PP-OCRv5_mobile_det")
    assert (resized.limit_side_len, resized.limit_type) == (1280, "max")


def test_no_decode_op_means_rgb_as_paddlex():
    config = {"PreProcess": {"transform_ops": [{"DetResizeForTest": None}]}}
    pre = DetPreprocess.from_config(config, "PP-OCRv4_mobile_det")
    assert pre.rgb
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, :, 0] = 255  # blue in BGR
    chw, _ = pre(image, 960, "max", 4000)
    bgr_model = DetPreprocess.from_config(YML_V4, "PP-OCRv4_mobile_det")
    assert np.array_equal(chw, bgr_model(np.ascontiguousarray(image[:, :, ::-1]), 960, "max", 4000)[0])
    assert not np.array_equal(chw, bgr_model(image, 960, "max", 4000)[0])


def test_normalization_is_paddlex_float32_arithmetic(samples_dir):
    """PaddleX: per channel, float32(pixel) *= scale / std, += -mean / std (both Python doubles, applied as
    float32), HWC -> CHW. The table lookup must give the same bits."""
    pre = DetPreprocess.from_config(YML_V4, "PP-OCRv4_mobile_det")
    image = cv2.imread(str(sorted(samples_dir.iterdir())[0]))
    chw, size = pre(image, 960, "max", 4000)
    assert size == image.shape[:2]
    h, w = limited_size(*image.shape[:2], 960, "max", 4000)
    resized = cv2.resize(image, (w, h)) if (h, w) != image.shape[:2] else image
    mean, std, scale = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225], 1 / 255
    planes = list(cv2.split(resized))
    for c in range(3):
        planes[c] = planes[c].astype(np.float32)
        planes[c] *= scale / std[c]
        planes[c] += -mean[c] / std[c]
    expected = cv2.merge(planes).transpose((2, 0, 1))
    assert chw.dtype == np.float32 and chw.shape == expected.shape
    assert np.array_equal(chw, expected)


def test_tiny_images_are_padded_to_32_and_keep_their_size():
    pre = DetPreprocess.from_config(YML_V4, "PP-OCRv4_mobile_det")
    chw, size = pre(np.full((20, 30, 3), 200, np.uint8), 960, "max", 4000)
    assert size == (20, 30) and chw.shape == (3, 32, 32)
    assert chw[:, 25, 0].tolist() == chw[:, 25, 31].tolist()  # padding rows are black
    assert chw[0, 0, 0] != chw[0, 25, 0]


def test_fixed_image_shape():
    config = {"PreProcess": {"transform_ops": [{"DecodeImage": {"img_mode": "BGR"}},
                                               {"DetResizeForTest": {"image_shape": [640, 640]}}]}}
    pre = DetPreprocess.from_config(config, "PP-OCRv4_mobile_det")
    chw, _ = pre(np.zeros((300, 500, 3), np.uint8), 64, "min", 4000)  # the limits do not apply
    assert chw.shape == (3, 640, 640)
    config["PreProcess"]["transform_ops"][1]["DetResizeForTest"]["keep_ratio"] = True
    chw, _ = DetPreprocess.from_config(config, "x")(np.zeros((300, 500, 3), np.uint8), 64, "min", 4000)
    assert chw.shape == (3, 640, 1088)  # ceil(500 * 640 / 300 / 32) * 32


def test_scale_is_parsed_as_data():
    assert parse_scale("1./255.") == 1 / 255
    assert parse_scale(0.5) == 0.5
    assert parse_scale("2") == 2.0
    for bad in ("__import__('os')", "1/0", "a/b"):
        with pytest.raises(ModelDirError, match="NormalizeImage.scale"):
            parse_scale(bad)


@pytest.mark.parametrize("ops, message", [
    ([{"Foo": None}], "PreProcess op 'Foo'"),
    ([{"DecodeImage": {"channel_first": True}}], "channel_first"),
    ([{"DecodeImage": {"img_mode": "GRAY"}}], "img_mode"),
    ([{"NormalizeImage": {"order": "chw"}}], "NormalizeImage.order"),
    ([{"NormalizeImage": {"mean": [0.5, 0.5]}}], "3 values"),
])
def test_unsupported_preprocessing_is_a_model_dir_error(ops, message):
    with pytest.raises(ModelDirError, match=message):
        DetPreprocess.from_config({"PreProcess": {"transform_ops": ops}}, "PP-OCRv4_mobile_det")
