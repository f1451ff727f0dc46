"""TFLite's integer arithmetic, compile-time and reference side.

Compile time (`quantize_multiplier`, `activation_range`) turns float scales into the integer constants the
C kernels read. Reference side (`srdhm`, `rounding_divide_by_pot`, `multiply_by_quantized_multiplier`) is the
same maths on numpy int64 arrays, exact to the bit, used by each op's numpy reference. The C twins live in
runtime/edgec_fixedpoint.h.

TFLite Micro is built without TFLITE_SINGLE_ROUNDING, so a rescale rounds twice (gemmlowp style):
    MBQM(x, M, s) = RDBPOT(SRDHM(x * 2^max(s,0), M), max(-s,0))
where SRDHM(a, b) = floor(a*b / 2^31 + 1/2) saturated (gemmlowp's nudge: ties go up, so -0.5 -> 0 and
-1.5 -> -1), and RDBPOT(x, e) = round-half-away(x / 2^e) (-2.5 -> -3).
"""

from __future__ import annotations

import math

import numpy as np

from .errors import InputError

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def tflite_round(x: float) -> int:
    """std::round: halves away from zero (Python's round() is banker's rounding, which differs)."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


#: the largest left shift of a rescale: MBQM computes x * 2^shift wrapping in int32; edgec's C shifts a uint32,
#: defined up to 31 bits. (TFLite Micro writes `x * (1 << shift)`, whose overflow C++ leaves undefined but which
#: wraps on every target; softmax's capped beta multiplier, 2^31 - 1, is the one real use of shift 31.)
MAX_LEFT_SHIFT = 31
#: the largest right shift: RDBPOT shifts an int32 right, undefined from 32 on. QuantizeMultiplier flushes a
#: multiplier that would need more (|real| < 2^-32) to zero, so no shift below -31 ever reaches the C.
MAX_RIGHT_SHIFT = 31


class RescaleRangeError(InputError):
    """A rescale factor the fixed-point code cannot represent (the caller names the operator)."""


def quantize_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier: real = M * 2^(shift - 31) with M in [2^30, 2^31). Returns (M, shift).

    As TFLite Micro (tensorflow/lite/kernels/internal/quantization_util.cc): a real multiplier below about 2^-32
    (shift < -31) becomes (0, 0), every result 0, instead of a right shift past the word. At the other end TFLite
    defines nothing: a multiplier of 2^31 or more (shift > 31) would shift left past the int32 word, undefined
    behaviour in C, so it is refused, as are NaN and infinity. Every shift returned is in
    [-MAX_RIGHT_SHIFT, MAX_LEFT_SHIFT]."""
    if not math.isfinite(real):
        raise RescaleRangeError(f"rescale factor {real!r} is not a finite number (a ratio of the quantization scales "
                                "overflowed: they are far out of range)")
    if real == 0.0:
        return 0, 0
    mantissa, shift = math.frexp(real)
    q = tflite_round(mantissa * (1 << 31))
    assert q <= (1 << 31)
    if q == (1 << 31):
        q //= 2
        shift += 1
    if shift < -MAX_RIGHT_SHIFT:
        return 0, 0
    if shift > MAX_LEFT_SHIFT:
        raise RescaleRangeError(f"rescale factor {real:.6g} needs a left shift of {shift} bits; the fixed-point "
                                f"rescale shifts at most {MAX_LEFT_SHIFT} (factors below 2^{MAX_LEFT_SHIFT}): the "
                                "quantization scales are far out of range")
    return q, shift


def float32_round_quantize(value: float, scale: float, zero_point: int) -> int:
    """tflite::Quantize as used for activation clamps: zp + round(f / scale), computed in float32."""
    q = np.float32(value) / np.float32(scale)
    return zero_point + tflite_round(float(q))


def activation_range(activation: str, scale: float, zero_point: int, dtype: str = "int8") -> tuple[int, int]:
    """CalculateActivationRangeQuantized: the integer clamp a fused activation turns into."""
    info = np.iinfo(dtype)
    lo, hi = int(info.min), int(info.max)
    if activation == "NONE":
        return lo, hi
    if activation == "RELU":
        return max(lo, float32_round_quantize(0.0, scale, zero_point)), hi
    if activation == "RELU6":
        return (max(lo, float32_round_quantize(0.0, scale, zero_point)),
                min(hi, float32_round_quantize(6.0, scale, zero_point)))
    if activation == "RELU_N1_TO_1":
        return (max(lo, float32_round_quantize(-1.0, scale, zero_point)),
                min(hi, float32_round_quantize(1.0, scale, zero_point)))
    raise ValueError(f"no integer range for activation {activation}")


# ---- reference arithmetic on int64 numpy arrays -------------------------------------------------------------

def _div_trunc(a: np.ndarray, b: int) -> np.ndarray:
    """C integer division (truncates toward zero), for int64 arrays."""
    q = np.abs(a) // b
    return np.where(a < 0, -q, q)


def srdhm(a, b) -> np.ndarray:
    """SaturatingRoundingDoublingHighMul(a, b) for int32 values held in int64 arrays."""
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    overflow = (a == INT32_MIN) & (b == INT32_MIN)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    out = _div_trunc(ab + nudge, 1 << 31)
    return np.where(overflow, INT32_MAX, out)


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """RoundingDivideByPOT: x / 2^exponent rounded half away from zero."""
    x = np.asarray(x, dtype=np.int64)
    exponent = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def multiply_by_quantized_multiplier(x, multiplier, shift) -> np.ndarray:
    """MultiplyByQuantizedMultiplier (double rounding), broadcasting over per-channel multiplier/shift."""
    x = np.asarray(x, dtype=np.int64)
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    shifted = wrap_int32(x * (np.int64(1) << left))
    return rounding_divide_by_pot(srdhm(shifted, multiplier), right)


def wrap_int32(x) -> np.ndarray:
    """Two's-complement wrap to int32 range (what C does to an int32 that overflows on these targets)."""
    x = np.asarray(x, dtype=np.int64)
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


# ---- gemmlowp fixed-point transcendentals (softmax, logistic, tanh), reference side ----------------------------
#
# A FixedPoint<int32, m> holds real = raw / 2^(31-m) (m integer bits, 31-m fractional bits). Products are SRDHM
# (integer bits add up); plain + and - wrap around in int32 (gemmlowp relies on the machine's wraparound);
# Rescale and multiply-by-power-of-two saturate when shifting left and round half away when shifting right.
# All functions take and return int32 values held in int64 arrays. C twins: runtime/edgec_fixedpoint.h.

def saturating_rounding_multiply_by_pot(x, exponent: int) -> np.ndarray:
    """x * 2^exponent: a saturating left shift (exponent > 0) or a rounding right shift (exponent < 0)."""
    x = np.asarray(x, dtype=np.int64)
    if exponent == 0:
        return x
    if exponent < 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    return np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x << exponent))


def rounding_half_sum(a, b) -> np.ndarray:
    """(a + b) / 2 rounded half away from zero, computed without overflow."""
    s = np.asarray(a, dtype=np.int64) + np.asarray(b, dtype=np.int64)
    return _div_trunc(s + np.where(s >= 0, 1, -1), 2)


def count_leading_zeros32(x) -> np.ndarray:
    """Leading zero bits of x seen as a uint32 (32 for 0)."""
    u = np.asarray(x, dtype=np.int64) & 0xFFFFFFFF
    n = np.zeros(u.shape, dtype=np.int64)
    for step in (16, 8, 4, 2, 1):  # binary search for the highest set bit
        small = u < (np.int64(1) << (32 - step))
        n = np.where(small, n + step, n)
        u = np.where(small, u << step, u)
    return np.where(np.asarray(x, dtype=np.int64) & 0xFFFFFFFF, n, 32)


# Q0.31 constants of gemmlowp's exp: exp(-1/8), 1/3, and exp(-2^k) for the barrel shifter, k = -2 .. 4
_EXP_MINUS_ONE_EIGHTH = 1895147668
_ONE_THIRD = 715827883
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308), (2, 39332535), (3, 720401),
               (4, 242))


def _exp_on_interval_minus_quarter_to_zero(a: np.ndarray) -> np.ndarray:
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: 4th-order Taylor expansion around -1/8.

    With x = a + 1/8:  exp(a) = e^(-1/8) * (1 + x + x^2/2 + x^3/6 + x^4/24),
    and x^2/2 + x^3/6 + x^4/24 is evaluated as ((x^4/4 + x^3) / 3 + x^2) / 2.
    """
    x = wrap_int32(a + (1 << 28))
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = saturating_rounding_multiply_by_pot(x4, -2)
    poly = saturating_rounding_multiply_by_pot(wrap_int32(srdhm(wrap_int32(x4_over_4 + x3), _ONE_THIRD) + x2), -1)
    return wrap_int32(_EXP_MINUS_ONE_EIGHTH + srdhm(_EXP_MINUS_ONE_EIGHTH, wrap_int32(x + poly)))


def exp_on_negative_values(a, integer_bits: int) -> np.ndarray:
    """gemmlowp exp_on_negative_values: exp(a) for a <= 0 in Q(integer_bits), result in Q0.31.

    a = q + r with r in [-1/4, 0) (the low fractional bits, shifted down by a quarter) and q a sum of powers of
    two in [-2^integer_bits, 0]: exp(r) comes from the Taylor polynomial, then each set bit 2^k of -q
    multiplies the result by exp(-2^k) (a barrel shifter of constants). exp(0) is the saturated 1.0.
    """
    a = np.asarray(a, dtype=np.int64)
    frac = 31 - integer_bits
    quarter = 1 << (frac - 2)
    a_mod_quarter_minus_quarter = (a & (quarter - 1)) - quarter
    result = _exp_on_interval_minus_quarter_to_zero(
        saturating_rounding_multiply_by_pot(a_mod_quarter_minus_quarter, integer_bits))
    remainder = wrap_int32(a_mod_quarter_minus_quarter - a)
    for k, multiplier in _EXP_BARREL:
        if integer_bits > k:
            result = np.where(remainder & (1 << (frac + k)), srdhm(result, multiplier), result)
    if integer_bits > 5:  # exp(a < -32) flushes to zero
        result = np.where(a < -(1 << (36 - integer_bits)), 0, result)
    return np.where(a == 0, INT32_MAX, result)


# Newton-Raphson reciprocal constants in Q2.29: 48/17 and -32/17 give the best linear first guess of 1/d on [0.5, 1]
_48_OVER_17 = 1515870810
_NEG_32_OVER_17 = -1010580540


def _newton_reciprocal_of_half_denominator(a: np.ndarray) -> np.ndarray:
    """1 / ((1 + a) / 2) in Q2.29 for a in [0, 1) in Q0.31, by three Newton-Raphson steps x += x * (1 - d*x)."""
    d = rounding_half_sum(a, INT32_MAX)  # (1 + a) / 2, in [0.5, 1)
    x = wrap_int32(_48_OVER_17 + srdhm(d, _NEG_32_OVER_17))
    for _ in range(3):
        one_minus_dx = wrap_int32((1 << 29) - srdhm(d, x))
        x = wrap_int32(x + saturating_rounding_multiply_by_pot(srdhm(x, one_minus_dx), 2))
    return x


def one_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out (= half of 1 / ((1+a)/2))."""
    x = _newton_reciprocal_of_half_denominator(np.asarray(a, dtype=np.int64))
    return saturating_rounding_multiply_by_pot(x, 1)  # Q2.29 / 2 read as Q1.30, then rescaled to Q0.31


def one_minus_x_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """(1 - a) / (1 + a) = 2 / (1 + a) - 1 for a in [0, 1), Q0.31 in and out."""
    x = _newton_reciprocal_of_half_denominator(np.asarray(a, dtype=np.int64))
    return saturating_rounding_multiply_by_pot(wrap_int32(x - (1 << 29)), 2)


def fixed_logistic(a, integer_bits: int) -> np.ndarray:
    """gemmlowp logistic: 1 / (1 + exp(-a)), a in Q(integer_bits), result in Q0.31.

    Computed for |a| as 1 / (1 + exp(-|a|)); negative inputs use logistic(-a) = 1 - logistic(a); 0 gives 1/2.
    """
    a = np.asarray(a, dtype=np.int64)
    positive = a > 0
    abs_a = np.where(positive, a, wrap_int32(-a))
    if_positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap_int32(-abs_a), integer_bits))
    if_negative = wrap_int32(INT32_MAX - if_positive)
    return np.where(a == 0, 1 << 30, np.where(positive, if_positive, if_negative))


def fixed_tanh(a, integer_bits: int) -> np.ndarray:
    """gemmlowp tanh: a in Q(integer_bits), result in Q0.31.

    For n = -|a| <= 0: -tanh(n) = (1 - exp(2n)) / (1 + exp(2n)); 2n is the same raw value read with one more
    integer bit. tanh is odd, so the sign is restored afterwards; tanh(0) = 0.
    """
    a = np.asarray(a, dtype=np.int64)
    negative = a < 0
    n = np.where(negative, a, wrap_int32(-a))
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return np.where(a == 0, 0, np.where(negative, wrap_int32(-t), t))


# ---- float -> integer quantization (QUANTIZE from float32), float32 arithmetic like TFLM ---------------------

def round_half_away_f32(q) -> np.ndarray:
    """std::round on float32 values (halves away from zero), exact: trunc(q) and q - trunc(q) are exact in
    float32, so no `floor(q + 0.5)` double-rounding trap (0.49999997f + 0.5f would round up to 1)."""
    q = np.asarray(q, dtype=np.float32)
    t = np.trunc(q)
    frac = q - t
    return t.astype(np.float64) + (frac >= np.float32(0.5)) - (frac <= np.float32(-0.5))


def affine_quantize_f32(x, scale: float, zero_point: int, qmin: int, qmax: int) -> np.ndarray:
    """reference_ops::AffineQuantize: clamp(round(x / scale) + zp), the division in float32.

    TFLM casts round(x / scale) to int32 without a range check (undefined behaviour in C++); where it
    overflows (|x / scale| >= 2^31, inf) or is NaN, x86 yields INT32_MIN (-> qmin) and Arm saturates. edgec
    saturates (Arm, the target) and maps NaN to the zero point (Arm's NaN -> 0): host TFLM differs there only.
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        q = np.asarray(x, dtype=np.float32) / np.float32(scale)
        nan = np.isnan(q)
        r = round_half_away_f32(np.where(nan, np.float32(0), q))
    r = np.clip(r, INT32_MIN, INT32_MAX).astype(np.int64)
    return np.clip(r + zero_point, qmin, qmax)


# ---- onnxruntime's requantization (MLAS MlasRequantizeOutput), in integers -----------------------------------
#
# onnxruntime's QLinearConv / QGemm / QLinearMatMul (and the kernels its QDQ fusions turn into) compute
#     scale = float32(float32(s_x * s_w[c]) / s_y)
#     y     = clamp(round_half_even(float32(float32(acc) * scale)) + zp_y)
# every operation in float32, round to nearest even. edgec redoes this in integers, bit for bit: scale = m * 2^e
# with m its 24-bit mantissa; float32(v) of an integer v is v rounded to 24 significant bits (ties to even). The C
# twin is edgec_requantize_f32 in runtime/edgec_fixedpoint.h.

def onnxruntime_scale(s_x: float, s_w, s_y: float) -> np.ndarray:
    """The float32 requantization scales onnxruntime computes: (s_x * s_w[c]) / s_y, each step in float32."""
    with np.errstate(over="ignore", under="ignore"):  # out-of-range results are refused by float32_parts
        return (np.float32(s_x) * np.asarray(s_w, dtype=np.float32)) / np.float32(s_y)


def float32_parts(scale) -> tuple[np.ndarray, np.ndarray]:
    """scale = m * 2^e exactly, m in [2^23, 2^24) an integer (0, 0 for a zero scale), for normal float32 scales."""
    s = np.asarray(scale, dtype=np.float32)
    bad = ~np.isfinite(s) | ((s != 0) & (np.abs(s) < np.finfo(np.float32).tiny))
    if np.any(bad):
        raise InputError(f"requantization scale {float(s[bad].reshape(-1)[0])!r} is outside float32's normal range")
    mantissa, exponent = np.frexp(s.astype(np.float64))  # mantissa in [0.5, 1): 24 bits of it are the integer m
    m = (mantissa * (1 << 24)).astype(np.int64)
    return m.astype(np.int32), np.where(m == 0, 0, exponent - 24).astype(np.int32)


def rounding_rshift_even(x, n) -> np.ndarray:
    """x / 2^n rounded to nearest, ties to even (n >= 1, |x| < 2^61), on int64 arrays."""
    x = np.asarray(x, dtype=np.int64)
    n = np.minimum(np.asarray(n, dtype=np.int64), 62)  # beyond 61 bits the quotient is 0 (|x| < 2^(n-1))
    floor_q = x >> n
    remainder = x & ((np.int64(1) << n) - 1)
    half = np.int64(1) << (n - 1)
    up = (remainder > half) | ((remainder == half) & (floor_q & 1 == 1))
    return np.where(n >= 62, 0, floor_q + up)


def round_to_float32(x) -> np.ndarray:
    """Integers rounded to 24 significant bits, ties to even: the exact value of float32(x), |x| < 2^61."""
    x = np.asarray(x, dtype=np.int64)
    bits = np.zeros(x.shape, dtype=np.int64)
    mag = np.abs(x)
    for step in (32, 16, 8, 4, 2, 1):  # bit length of |x| by binary search
        bits = np.where((mag >> (bits + step)) != 0, bits + step, bits)
    bits = np.where(mag != 0, bits + 1, 0)
    drop = np.maximum(bits - 24, 0)
    return np.where(drop > 0, rounding_rshift_even(x, np.maximum(drop, 1)) << drop, x)


def requantize_float32(acc, m, e) -> np.ndarray:
    """round_half_even(float32(float32(acc) * scale)) with scale = m * 2^e, saturated to +-2^24 (beyond any
    output range), broadcasting over per-channel m, e."""
    product = round_to_float32(round_to_float32(acc) * np.asarray(m, dtype=np.int64))
    e = np.asarray(e, dtype=np.int64)
    y = np.where(e >= 0, np.sign(product) << 24, rounding_rshift_even(product, np.maximum(-e, 1)))
    return np.clip(y, -(1 << 24), 1 << 24)


def accumulator_extremes(weights: np.ndarray, axis: int, x_zero_point: int,
                         bias: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, int]:
    """The largest |value| the int32 accumulator of a conv-like int8 op can reach, per output channel c:
    |bias[c]| + sum |w[c]| * max|x - zp_x| over int8 x (the C kernel and TFLite Micro both accumulate in int32, so
    past INT32_MAX is undefined behaviour). Returns (peaks, |bias| per channel, max|x - zp_x|); a bias whose size
    is not the channel count counts as absent (its length is checked elsewhere)."""
    span = max(127 - x_zero_point, x_zero_point + 128)
    weight_sums = np.moveaxis(np.abs(weights.astype(np.int64)), axis, 0).reshape(weights.shape[axis], -1).sum(axis=1)
    biases = np.zeros_like(weight_sums)
    if bias is not None and bias.size == weight_sums.size:
        biases = np.abs(np.asarray(bias, np.int64).reshape(-1))
    return biases + weight_sums * span, biases, span
