"""The shapes a conversion is verified on."""
from hpi.runtime.converters.verify import DEFAULT_SHAPES, MAX_VERIFY_SIDE, verification_shapes


def test_declared_shapes_are_capped_in_batch_and_side():
    detection = [[1, 3, 32, 32], [1, 3, 736, 736], [1, 3, 4000, 4000]]
    assert verification_shapes([-1, 3, -1, -1], detection) == \
        [[1, 3, 32, 32], [1, 3, 736, 736], [1, 3, MAX_VERIFY_SIDE, MAX_VERIFY_SIDE]]
    recognition = [[1, 3, 48, 160], [8, 3, 48, 320], [8, 3, 48, 3200]]
    assert verification_shapes([-1, 3, 48, -1], recognition) == \
        [[1, 3, 48, 160], [2, 3, 48, 320], [2, 3, 48, MAX_VERIFY_SIDE]]
    same = [[1, 3, 48, 192]] * 3  # a fixed-size model: verified once
    assert verification_shapes([-1, 3, 48, 192], same) == [[1, 3, 48, 192]]


def test_without_declared_shapes_the_models_fixed_dims_are_kept():
    assert verification_shapes([-1, 3, 48, -1], None) == [[1, 3, 48, 320], [2, 3, 48, 640]]
    assert verification_shapes(["N", 3, "H", "W"], None) == [list(s) for s in DEFAULT_SHAPES]
