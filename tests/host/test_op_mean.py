"""MEAN on int8 over the axes models use (global average pool [1,2] with and without keep_dims, single axes,
all axes, negative axes), with different input/output scales and zero points: bit-exact vs TFLM for numpy and C."""

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact, run_three_ways
from test_op_add_sub import numpy_vs_tflm


def mean_model(shape, axes, keep_dims, s_in=0.05, s_out=0.05, zp_in=3, zp_out=-7) -> bytes:
    b = ModelBuilder()
    x = b.input("x", shape, scale=s_in, zero_point=zp_in)
    ax = b.const("axes", np.asarray(axes, dtype=np.int32))
    rank = len(shape)
    resolved = {a % rank for a in axes}
    if keep_dims:
        out_shape = tuple(1 if i in resolved else d for i, d in enumerate(shape))
    else:
        out_shape = tuple(d for i, d in enumerate(shape) if i not in resolved)
    y = b.activation("y", out_shape, scale=s_out, zero_point=zp_out)
    b.op("MEAN", [x, ax], [y], "ReducerOptions", keepDims=keep_dims)
    b.output(y)
    return b.build()


@pytest.mark.parametrize("shape,axes,keep_dims,s_in,s_out,zp_in,zp_out", [
    ((1, 7, 7, 16), [1, 2], True, 0.05, 0.05, 3, 3),      # global average pool, same quantization
    ((1, 7, 7, 16), [1, 2], False, 0.05, 0.02, -128, 5),  # ... flattening, rescaled
    ((1, 7, 7, 16), [2, 1], True, 0.03, 0.04, 10, -10),   # axes listed in the other order
    ((2, 5, 3, 4), [1, 2], True, 0.08, 0.01, -5, 0),      # batch 2, output scale 8x finer
    ((1, 5, 3, 4), [1], True, 0.05, 0.07, 3, -7),
    ((1, 5, 3, 4), [1], False, 0.05, 0.05, 3, -7),
    ((1, 5, 3, 4), [3], False, 0.05, 0.3, 3, -7),
    ((1, 5, 3, 4), [3], True, 0.5, 0.05, 0, 0),           # input scale 10x the output's: saturates often
    ((1, 5, 3, 4), [2], True, 0.05, 0.05, 3, 3),
    ((1, 5, 3, 4), [-1, 1], False, 0.04, 0.03, 1, 2),     # negative axis, non-adjacent axes
    ((1, 5, 3, 4), [0, 1, 2, 3], False, 0.05, 0.05, 3, 3),  # everything: a scalar
    ((2, 6), [1], False, 0.05, 0.05, 3, -7),
    ((2, 6), [0], True, 0.01, 0.02, -100, 50),
    ((2, 6), [1, 1], True, 0.05, 0.05, 3, -7),            # duplicated axis counts once
    ((2, 3, 4, 5, 6), [1, 3], False, 0.05, 0.05, 3, -7),  # 5-D, alternating kept/reduced
])
def test_mean(tmp_path, shape, axes, keep_dims, s_in, s_out, zp_in, zp_out):
    model = mean_model(shape, axes, keep_dims, s_in, s_out, zp_in, zp_out)
    assert_bit_exact(run_three_ways(model, tmp_path, samples=8))


def test_mean_random_scales(tmp_path):
    """The 1/n folded into the multiplier (with its truncation) against many scale ratios and counts."""
    rng = np.random.default_rng(17)
    for k in range(40):
        s = np.exp(rng.uniform(np.log(0.002), np.log(0.5), size=2)).astype(np.float32)
        h, w = (int(v) for v in rng.integers(1, 12, size=2))
        zps = [int(z) for z in rng.integers(-128, 128, size=2)]
        model = mean_model((1, h, w, 5), [1, 2], bool(k % 2), float(s[0]), float(s[1]), *zps)
        numpy_vs_tflm(model, tmp_path)
