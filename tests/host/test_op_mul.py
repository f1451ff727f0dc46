"""MUL on int8: equal shapes, numpy broadcasting up to 6-D, scale ratios up to 100x (multipliers above and below
1), zero points, fused activations and constant operands, bit-exact vs TFLM for numpy and the generated C."""

import numpy as np
import pytest
from oneop import assert_bit_exact, binary_model, run_three_ways
from test_op_add_sub import ROUND_SCALES, all_int8_pairs, numpy_vs_tflm

CASES = [  # shape1, shape2, (s1, s2, s_out), activation, constant operand
    ((1, 4, 4, 3), (1, 4, 4, 3), (0.05, 0.07, 0.1), "NONE", None),
    ((1, 4, 4, 3), (1, 1, 1, 3), (0.02, 0.03, 0.004), "RELU", None),
    ((1, 4, 1, 3), (1, 1, 5, 3), (0.1, 0.05, 0.1), "RELU6", None),
    ((1, 1, 5, 3), (1, 4, 1, 3), (0.01, 1.0, 0.02), "NONE", None),    # 100x input scale ratio
    ((6, 5), (6, 5), (0.5, 0.3, 0.001), "NONE", None),                # s1*s2/s_out = 150: positive shift
    ((6, 5), (5,), (0.02, 0.02, 0.03), "RELU_N1_TO_1", None),
    ((3, 4), (1,), (0.05, 0.2, 0.1), "NONE", None),                   # scalar-like second operand
    ((1,), (3, 4), (0.05, 0.2, 0.1), "RELU", None),                   # scalar-like first operand
    ((2, 1, 3, 1, 2, 4), (3, 1, 4, 1, 4), (0.04, 0.06, 0.05), "NONE", None),  # 6-D, both broadcast
    ((2, 3, 1, 4, 5), (2, 1, 6, 4, 1), (0.07, 0.05, 0.09), "NONE", None),     # 5-D
    ((1, 4, 4, 3), (1, 1, 1, 3), (0.02, 0.01, 0.003), "NONE", 1),     # constant second operand (a scale)
    ((1, 4, 4, 3), (1, 4, 4, 3), (0.02, 0.05, 0.03), "RELU", 0),      # constant first operand
]


@pytest.mark.parametrize("shape1,shape2,scales,act,const", CASES)
def test_mul(tmp_path, shape1, shape2, scales, act, const):
    model = binary_model("MUL", shape1, shape2, scales, act, const, seed=len(shape1) * 5 + len(shape2))
    assert_bit_exact(run_three_ways(model, tmp_path, samples=8))


def test_mul_extreme_zero_points(tmp_path):
    model = binary_model("MUL", (2, 3, 8), (2, 3, 8), (0.02, 0.03, 0.05), zero_points=[-128, 127, 127])
    assert_bit_exact(run_three_ways(model, tmp_path, samples=8))


def test_mul_all_pairs(tmp_path):
    """Every input pair under round and random scales (multipliers above and below 1)."""
    rng = np.random.default_rng(13)
    random_scales = [tuple(float(v) for v in np.exp(rng.uniform(np.log(0.001), np.log(1.0), size=3))) for _ in range(8)]
    for k, scales in enumerate(ROUND_SCALES + random_scales):
        model = binary_model("MUL", (65536,), (65536,), scales, seed=k)
        numpy_vs_tflm(model, tmp_path, inputs=all_int8_pairs())
