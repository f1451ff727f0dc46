"""SUM (TFLite) over constant axes: int8 at 0 LSB against TFLite Micro (numpy reference and generated C under
ASan+UBSan) over odd shapes, axes and quantizations, including sums that saturate; float32 bit-identical to TFLM
(one float accumulator per output, row-major order); a SUM whose axes are computed is refused, naming the op,
node and input."""

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact, run_three_ways
from test_op_add_sub import numpy_vs_tflm

from edgec.errors import UnsupportedError
from edgec.importers import import_model


def sum_model(shape, axes, keep_dims, q_in=(0.05, 3), q_out=(0.5, -7), dtype=np.int8) -> bytes:
    b = ModelBuilder()
    rank = len(shape)
    resolved = {a % rank for a in axes}
    if keep_dims:
        out_shape = tuple(1 if i in resolved else d for i, d in enumerate(shape))
    else:
        out_shape = tuple(d for i, d in enumerate(shape) if i not in resolved)
    if dtype == np.float32:
        x, y = b.input("x", shape, dtype=np.float32), b.activation("y", out_shape, dtype=np.float32)
    else:
        x = b.input("x", shape, scale=q_in[0], zero_point=q_in[1])
        y = b.activation("y", out_shape, scale=q_out[0], zero_point=q_out[1])
    ax = b.const("axes", np.asarray(axes, dtype=np.int32))
    b.op("SUM", [x, ax], [y], "ReducerOptions", keepDims=keep_dims)
    b.output(y)
    return b.build()


CASES = [
    ((1, 7, 5, 3), [1, 2], True, (0.05, 3), (0.4, -7)),
    ((3, 5, 7), [-1], False, (0.02, -128), (0.11, 5)),        # last axis, zero point at the bottom
    ((3, 5, 7), [0, 2], False, (0.03, 17), (0.9, 0)),         # non-adjacent axes
    ((2, 3, 5, 7), [2, 0], True, (0.1, -9), (0.05, 20)),      # axes out of order; output finer: saturates
    ((5, 9), [0, 1], False, (0.01, 0), (0.3, -100)),          # everything: a scalar
    ((11,), [0], True, (0.07, 127), (0.07, 127)),             # one scale: rescale 1
    ((1, 3, 1, 13), [3, 3], False, (0.05, -5), (0.3, 2)),     # duplicated axis counts once
]


@pytest.mark.parametrize("shape,axes,keep_dims,q_in,q_out", CASES)
def test_sum_int8(tmp_path, shape, axes, keep_dims, q_in, q_out):
    assert_bit_exact(run_three_ways(sum_model(shape, axes, keep_dims, q_in, q_out), tmp_path, samples=6))


def test_sum_int8_random_scales(tmp_path):
    """numpy vs TFLM over many scale ratios, zero points and odd shapes"""
    rng = np.random.default_rng(7)
    for k in range(30):
        s = np.exp(rng.uniform(np.log(0.002), np.log(0.5), size=2)).astype(np.float32)
        shape = tuple(int(v) for v in rng.integers(1, 8, size=3) * 2 + 1)
        zps = [int(z) for z in rng.integers(-128, 128, size=2)]
        axes = [int(a) for a in rng.choice(3, size=int(rng.integers(1, 4)), replace=False)]
        numpy_vs_tflm(sum_model(shape, axes, bool(k % 2), (float(s[0]), zps[0]), (float(s[1]), zps[1])), tmp_path)


@pytest.mark.parametrize("shape,axes,keep_dims", [((2, 7, 5, 3), [1, 2], False), ((3, 5, 9), [0, 2], True),
                                                  ((13, 3), [0], False)])
def test_sum_float32(tmp_path, shape, axes, keep_dims):
    """bit-identical to TFLM: the same additions in the same order"""
    rng = np.random.default_rng(3)
    xs = [[rng.uniform(-50, 50, size=shape).astype(np.float32)] for _ in range(3)]
    results = run_three_ways(sum_model(shape, axes, keep_dims, dtype=np.float32), tmp_path, dtype="float32",
                             inputs=xs)
    assert_bit_exact(results)


def test_sum_with_computed_axes_is_refused(tmp_path):
    b = ModelBuilder()
    x = b.input("x", (3, 5), scale=0.05, zero_point=0)
    ax = b.input("axes", (1,), dtype=np.int32)
    y = b.activation("y", (3,), scale=0.2, zero_point=0)
    b.op("SUM", [x, ax], [y], "ReducerOptions", keepDims=False)
    b.output(y)
    path = tmp_path / "m.tflite"
    path.write_bytes(b.build())
    with pytest.raises(UnsupportedError) as e:
        import_model(path)
    assert any(p.startswith("#0 SUM (y): the axes input (input 1) must be a constant") for p in e.value.problems), \
        e.value.problems
