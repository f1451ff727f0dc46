"""TFLite's integer arithmetic, compile-time and reference side.

Compile time (`quantize_multiplier`, `activation_range`) turns float scales into the integer constants the
C kernels read. Reference side (`srdhm`, `rounding_divide_by_pot`, `multiply_by_quantized_multiplier`) is the
same maths on numpy int64 arrays, exact to the bit, used by each op's numpy reference. The C twins live in
runtime/edgec_fixedpoint.h.

TFLite Micro is built without TFLITE_SINGLE_ROUNDING, so a rescale rounds twice (gemmlowp style):
    MBQM(x, M, s) = RDBPOT(SRDHM(x * 2^max(s,0), M), max(-s,0))
where SRDHM(a, b) = round-half-away(a*b / 2^31) saturated, and RDBPOT(x, e) = round-half-away(x / 2^e).
"""

from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1


def tflite_round(x: float) -> int:
    """std::round: halves away from zero (Python's round() is banker's rounding, which differs)."""
    return int(math.floor(abs(x) + 0.5)) * (1 if x >= 0 else -1)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """QuantizeMultiplier: real = M * 2^(shift - 31) with M in [2^30, 2^31). Returns (M, shift)."""
    if real == 0.0:
        return 0, 0
    mantissa, shift = math.frexp(real)
    q = tflite_round(mantissa * (1 << 31))
    assert q <= (1 << 31)
    if q == (1 << 31):
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
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
