"""TRANSPOSE on int8 vs TFLM at 0 LSB, 1-D to 5-D (TFLM's limit) with the permutations that matter (NHWC <->
NCHW, reversals, identity), and the 6-D loop nest vs numpy; the loop folding is checked on its own."""

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact, run_three_ways

from edgec import driver, host, reference, validate
from edgec.data import random_inputs
from edgec.ops.transpose import transpose_loops


def transpose_model(shape, perm, q=(0.05, -7)):
    b = ModelBuilder()
    x = b.input("x", shape, scale=q[0], zero_point=q[1])
    p = b.const("perm", np.array(perm, dtype=np.int32))
    y = b.activation("y", tuple(shape[k] for k in perm), scale=q[0], zero_point=q[1])
    b.op("TRANSPOSE", [x, p], [y], "TransposeOptions")
    b.output(y)
    return b.build()


@pytest.mark.parametrize("shape,perm", [
    ((17,), [0]),
    ((5, 7), [1, 0]),
    ((2, 3, 4), [2, 0, 1]),
    ((1, 6, 5, 3), [0, 3, 1, 2]),   # NHWC -> NCHW
    ((1, 3, 6, 5), [0, 2, 3, 1]),   # NCHW -> NHWC
    ((2, 3, 4, 5), [3, 2, 1, 0]),
    ((2, 3, 4, 5), [0, 1, 2, 3]),   # identity: one loop
    ((2, 1, 3, 4, 5), [4, 1, 0, 3, 2]),
    ((3, 2, 2, 3, 2), [1, 3, 0, 4, 2]),
])
def test_transpose(tmp_path, shape, perm):
    assert_bit_exact(run_three_ways(transpose_model(shape, perm), tmp_path, samples=4))


def test_transpose_6d_vs_numpy(tmp_path):
    """6-D is beyond TFLM (it refuses more than 5 dimensions); edgec's C must still equal numpy's transpose."""
    shape, perm = (2, 3, 1, 4, 2, 3), [5, 3, 0, 4, 1, 2]
    path = tmp_path / "model.tflite"
    path.write_bytes(transpose_model(shape, perm))
    b = driver.build(path, tmp_path / "out")
    xs = random_inputs(b.graph, 3, 0)
    ours_c = validate.split_outputs(host.run(host.build(b.out, b.sources, sanitize=True), xs), b.graph, len(xs))
    for s, x in enumerate(xs):
        np.testing.assert_array_equal(ours_c[s][0].reshape(-1), np.transpose(x[0], perm).reshape(-1))
        np.testing.assert_array_equal(reference.run_numpy(b.graph, x)[b.graph.outputs[0]], np.transpose(x[0], perm))


def test_transpose_loops_fold():
    assert transpose_loops((1, 8, 8, 3), [0, 3, 1, 2]) == ([1, 1, 1, 1, 3, 64], [0, 0, 0, 0, 1, 3])
    assert transpose_loops((2, 3, 4), [0, 1, 2]) == ([1, 1, 1, 1, 1, 24], [0, 0, 0, 0, 0, 1])
    assert transpose_loops((2, 3, 4), [2, 0, 1]) == ([1, 1, 1, 1, 4, 6], [0, 0, 0, 0, 1, 4])


@pytest.mark.parametrize("shape,perm", [((1, 6, 5, 3), [0, 3, 1, 2]), ((2, 3, 4, 5, 2), [4, 2, 0, 3, 1])])
def test_transpose_f32(tmp_path, shape, perm):
    b = ModelBuilder()
    x = b.input("x", shape, dtype=np.float32)
    p = b.const("perm", np.array(perm, dtype=np.int32))
    y = b.activation("y", tuple(shape[k] for k in perm), dtype=np.float32)
    b.op("TRANSPOSE", [x, p], [y], "TransposeOptions")
    b.output(y)
    rng = np.random.default_rng(3)
    xs = [[rng.normal(size=shape).astype(np.float32)] for _ in range(2)]
    assert_bit_exact(run_three_ways(b.build(), tmp_path, dtype="float32", inputs=xs))
