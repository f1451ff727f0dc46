"""RESIZE_NEAREST_NEIGHBOR on int8 vs TFLM at 0 LSB: up- and down-sampling, integer and fractional ratios,
every combination of align_corners and half_pixel_centers (the float32 index maths is done at compile time)."""

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact, run_three_ways

from edgec.ops.resize_nearest import source_indices


def resize_model(in_shape, out_hw, align_corners, half_pixel_centers, q=(0.02, 5)):
    b = ModelBuilder()
    x = b.input("x", in_shape, scale=q[0], zero_point=q[1])
    size = b.const("size", np.array(out_hw, dtype=np.int32))
    y = b.activation("y", (in_shape[0], *out_hw, in_shape[3]), scale=q[0], zero_point=q[1])
    b.op("RESIZE_NEAREST_NEIGHBOR", [x, size], [y], "ResizeNearestNeighborOptions", alignCorners=align_corners,
         halfPixelCenters=half_pixel_centers)
    b.output(y)
    return b.build()


@pytest.mark.parametrize("align_corners,half_pixel_centers", [(False, False), (True, False), (False, True),
                                                              (True, True)])
@pytest.mark.parametrize("in_shape,out_hw", [
    ((1, 4, 5, 3), (8, 10)),   # x2, the common upsampling
    ((2, 3, 7, 2), (7, 5)),    # fractional up in H, down in W
    ((1, 9, 6, 4), (4, 13)),
    ((1, 1, 1, 5), (3, 1)),    # single pixel in and out
])
def test_resize_nearest(tmp_path, in_shape, out_hw, align_corners, half_pixel_centers):
    model = resize_model(in_shape, out_hw, align_corners, half_pixel_centers)
    assert_bit_exact(run_three_ways(model, tmp_path, samples=3))


def test_source_indices_examples():
    assert source_indices(4, 8, False, False).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    assert source_indices(3, 5, True, False).tolist() == [0, 1, 1, 2, 2]  # 0.5 and 1.5 round away from zero
    assert source_indices(5, 3, False, True).tolist() == [0, 2, 4]


@pytest.mark.parametrize("align_corners,half_pixel_centers", [(False, False), (True, False), (False, True)])
def test_resize_nearest_f32(tmp_path, align_corners, half_pixel_centers):
    b = ModelBuilder()
    x = b.input("x", (1, 5, 3, 4), dtype=np.float32)
    size = b.const("size", np.array([9, 7], dtype=np.int32))
    y = b.activation("y", (1, 9, 7, 4), dtype=np.float32)
    b.op("RESIZE_NEAREST_NEIGHBOR", [x, size], [y], "ResizeNearestNeighborOptions", alignCorners=align_corners,
         halfPixelCenters=half_pixel_centers)
    b.output(y)
    rng = np.random.default_rng(4)
    xs = [[rng.normal(size=(1, 5, 3, 4)).astype(np.float32)] for _ in range(2)]
    assert_bit_exact(run_three_ways(b.build(), tmp_path, dtype="float32", inputs=xs))
