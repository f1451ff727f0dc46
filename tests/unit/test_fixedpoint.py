"""fixedpoint.py's numpy twins of TFLite's integer rescaling, against hand-computed cases and an independent
pure-Python (big integer / Fraction) statement of the same rules.

SRDHM(a, b) = floor(a*b / 2^31 + 1/2), saturated: ties round toward +infinity (-0.5 -> 0, -1.5 -> -1), which is
what gemmlowp's nudge (1 - 2^30 for negative products, then truncating division) amounts to.
RDBPOT(x, e) = x / 2^e rounded half away from zero (-2.5 -> -3).
"""

from fractions import Fraction

import numpy as np
import pytest

from edgec.fixedpoint import (
    INT32_MAX,
    INT32_MIN,
    multiply_by_quantized_multiplier,
    rounding_divide_by_pot,
    srdhm,
    wrap_int32,
)

HALF = 1 << 30  # 0.5 as a Q31 multiplier


def ref_srdhm(a: int, b: int) -> int:
    if a == b == INT32_MIN:
        return INT32_MAX
    return (a * b + (1 << 30)) >> 31  # Python's >> floors: floor(ab / 2^31 + 1/2)


def ref_rdbpot(x: int, e: int) -> int:
    q = Fraction(x, 1 << e)
    mag = int(abs(q) + Fraction(1, 2))  # floor(|q| + 1/2), |q| >= 0
    return mag if q >= 0 else -mag


def ref_wrap(x: int) -> int:
    return ((x + (1 << 31)) % (1 << 32)) - (1 << 31)


def ref_mbqm(x: int, m: int, shift: int) -> int:
    left, right = max(shift, 0), max(-shift, 0)
    return ref_rdbpot(ref_srdhm(ref_wrap(x << left), m), right)


@pytest.mark.parametrize("a,b,expected", [
    (INT32_MIN, INT32_MIN, INT32_MAX),  # the one overflow: saturates
    (INT32_MIN, INT32_MAX, -INT32_MAX),  # -2^31 * (2^31-1) / 2^31 = -(2^31-1) exactly
    (INT32_MAX, INT32_MAX, INT32_MAX - 1),  # (2^31-1)^2 / 2^31 = 2^31 - 2 + 2^-31 -> 2^31 - 2
    (HALF, HALF, 1 << 29),
    (1, HALF, 1),  # 0.5 -> 1
    (-1, HALF, 0),  # -0.5 -> 0 (tie toward +inf)
    (3, HALF, 2),  # 1.5 -> 2
    (-3, HALF, -1),  # -1.5 -> -1
    (-5, HALF, -2),  # -2.5 -> -2
    (1, 1, 0),
    (-1, 1, 0),
    (0, INT32_MIN, 0),
    (100, INT32_MIN, -100),  # multiplier -1.0
    (1 << 16, 1 << 16, 2),  # 2^32 / 2^31 = 2
])
def test_srdhm_hand_cases(a, b, expected):
    assert int(srdhm(a, b)) == expected
    assert ref_srdhm(a, b) == expected


@pytest.mark.parametrize("x,e,expected", [
    (5, 1, 3), (-5, 1, -3),  # 2.5 -> 3, -2.5 -> -3: halves away from zero
    (4, 1, 2), (-4, 1, -2),
    (7, 2, 2), (-7, 2, -2),  # 1.75
    (6, 2, 2), (-6, 2, -2),  # 1.5 -> 2, -1.5 -> -2
    (5, 2, 1), (-5, 2, -1),  # 1.25
    (123, 0, 123), (-123, 0, -123),
    (INT32_MIN, 31, -1), (INT32_MAX, 31, 1), (1 << 30, 31, 1), (-(1 << 30), 31, -1), ((1 << 30) - 1, 31, 0),
    (INT32_MIN, 1, -(1 << 30)), (INT32_MAX, 1, 1 << 30),
    (-1, 1, -1), (1, 1, 1), (-1, 2, 0), (1, 2, 0),
])
def test_rounding_divide_by_pot_hand_cases(x, e, expected):
    assert int(rounding_divide_by_pot(x, e)) == expected
    assert ref_rdbpot(x, e) == expected


@pytest.mark.parametrize("x,m,shift,expected", [
    (100, HALF, 0, 50),
    (3, HALF, 0, 2),
    (-3, HALF, 0, -1),  # the SRDHM tie goes up
    (1000, HALF, -3, 63),  # 500 / 8 = 62.5 -> 63
    (-1000, HALF, -3, -63),  # -62.5 -> -63: the RDBPOT tie goes away from zero
    (3, HALF, 2, 6),  # 3 * 4 * 0.5
    (1 << 29, HALF, 3, 0),  # 2^29 << 3 wraps to 0 in int32 (as TFLite's int32 multiply does)
    (12345, HALF, 1, 12345),  # multiplier 1.0 = (2^30, 1)
    (-12345, HALF, 1, -12345),
    (INT32_MAX, INT32_MAX, 0, INT32_MAX - 1),
    (INT32_MIN, HALF, -31, -1),  # -2^30 / 2^31 = -0.5 -> -1
    (7, HALF, 30, ref_mbqm(7, HALF, 30)),
])
def test_mbqm_hand_cases(x, m, shift, expected):
    assert int(multiply_by_quantized_multiplier(x, m, shift)) == expected
    assert ref_mbqm(x, m, shift) == expected


def test_wrap_int32():
    assert wrap_int32(np.int64(1) << 31) == INT32_MIN
    assert wrap_int32((np.int64(1) << 32) + 5) == 5
    assert wrap_int32(-(np.int64(1) << 31) - 1) == INT32_MAX


@pytest.mark.parametrize("shift", range(-31, 31))
def test_mbqm_every_shift_against_big_integers(shift):
    rng = np.random.default_rng(shift + 100)
    xs = rng.integers(INT32_MIN, INT32_MAX, size=300, endpoint=True)
    xs[:4] = [INT32_MIN, INT32_MAX, 0, -1]
    ms = rng.integers(1 << 30, INT32_MAX, size=300, endpoint=True)
    got = multiply_by_quantized_multiplier(xs, ms, shift)
    want = [ref_mbqm(int(x), int(m), shift) for x, m in zip(xs, ms)]
    assert got.tolist() == want


def test_srdhm_and_rdbpot_random_against_big_integers():
    rng = np.random.default_rng(1)
    a = rng.integers(INT32_MIN, INT32_MAX, size=2000, endpoint=True)
    b = rng.integers(INT32_MIN, INT32_MAX, size=2000, endpoint=True)
    a[:3], b[:3] = INT32_MIN, [INT32_MIN, INT32_MAX, 1]
    assert srdhm(a, b).tolist() == [ref_srdhm(int(x), int(y)) for x, y in zip(a, b)]
    e = rng.integers(0, 32, size=2000)
    assert rounding_divide_by_pot(a, e).tolist() == [ref_rdbpot(int(x), int(k)) for x, k in zip(a, e)]


def test_per_channel_broadcast():
    x = np.arange(-6, 6, dtype=np.int64).reshape(3, 4)
    m = np.full(4, HALF)
    shift = np.array([0, 1, -1, 2])
    got = multiply_by_quantized_multiplier(x, m, shift)
    want = [[ref_mbqm(int(x[i, j]), HALF, int(shift[j])) for j in range(4)] for i in range(3)]
    assert got.tolist() == want
