"""quantize_multiplier: real = M * 2^(shift - 31), M in [2^30, 2^31), exactly as TFLite's QuantizeMultiplier."""

import math

import numpy as np
import pytest

from edgec.fixedpoint import activation_range, quantize_multiplier, tflite_round


@pytest.mark.parametrize("real,expected", [
    (0.0, (0, 0)),
    (0.5, (1 << 30, 0)),
    (1.0, (1 << 30, 1)),
    (0.75, (3 << 29, 0)),
    (0.25, (1 << 30, -1)),
    (2.0, (1 << 30, 2)),
    (3.0, (3 << 29, 2)),
    (2.0 ** -31, (1 << 30, -30)),
    (2.0 ** -32, (1 << 30, -31)),  # shift -31 is still representable
    (2.0 ** -33, (0, 0)),  # shift -32 < -31: flushed to zero, as TFLite does
    (1e-12, (0, 0)),
    (1 - 2.0 ** -33, (1 << 30, 1)),  # mantissa rounds up to 2^31: the carry halves q and bumps the shift
    (0.1, (1717986918, -3)),  # the classic gemmlowp / TFLite example
    (0.3, (1288490189, -1)),
    (1 / 255, (1077952576, -7)),
    (float(np.float32(1 / 255)), (1077952640, -7)),  # the same scale stored as float32 in a .tflite
])
def test_known_values(real, expected):
    assert quantize_multiplier(real) == expected


def test_carry_case_is_exact():
    real = 1 - 2.0 ** -33
    mantissa, _ = math.frexp(real)
    assert tflite_round(mantissa * 2**31) == 1 << 31  # without the carry rule, M would not fit in int32
    m, shift = quantize_multiplier(real)
    assert m < 2**31 and m == 1 << 30 and shift == 1


def test_random_values_round_trip():
    rng = np.random.default_rng(0)
    for real in np.exp(rng.uniform(np.log(1e-9), np.log(1e3), size=2000)):
        m, shift = quantize_multiplier(float(real))
        assert (1 << 30) <= m < (1 << 31)
        assert -31 <= shift <= 31
        # M is the mantissa rounded to 31 bits: relative error at most 2^-31
        assert abs(m * 2.0 ** (shift - 31) - real) <= real * 2.0 ** -30


@pytest.mark.parametrize("x,expected", [(0.5, 1), (-0.5, -1), (1.5, 2), (-1.5, -2), (2.5, 3), (-2.5, -3),
                                        (0.49999999, 0), (-0.49999999, 0), (0.0, 0)])
def test_tflite_round_halves_away_from_zero(x, expected):
    assert tflite_round(x) == expected


def test_activation_ranges():
    assert activation_range("NONE", 0.1, 5) == (-128, 127)
    assert activation_range("RELU", 0.1, -128) == (-128, 127)
    assert activation_range("RELU", 0.1, 5) == (5, 127)
    assert activation_range("RELU6", 0.05, -128) == (-128, -8)  # 6 / 0.05 = 120 -> -128 + 120
    assert activation_range("RELU_N1_TO_1", 0.01, 0) == (-100, 100)
    with pytest.raises(ValueError):
        activation_range("TANH", 0.1, 0)
