"""RSQRT (TFLite): y = 1 / sqrt(x), int8 or float32 (TFLite Micro: elementwise.cc).

int8: TFLite Micro computes, per input value v = q_x - zp_x (v < 0 is an error there: RSQRT of a negative real):
    v == 0:  y = 127
    else:    (I, e)  = the inverse square root of v in fixed point (gemmlowp-style, below), I / 2^31 * 2^e ~ 1/sqrt(v)
             data    = MBQM(1, I, e + 20)                         (1/sqrt(v) with 20 fractional bits, rounded)
             y       = clamp(zp_y + MBQM(data, M, shift - 20), -128, 127),
                       M, shift = QuantizeMultiplier(1 / double(float32(sqrtf(s_x) * s_y)))
The inverse square root (TFLite's GetInvSqrtQuantizedMultiplierExp with reverse_shift -1): for v <= 1, I = 2^31 - 1
and e = 0; otherwise v is normalized by pairs of bits into [2^27, 2^29) (shift k = 11 - pairs) and read as a
Q3.28 number a; five Newton steps x <- 3/2 x - (a/2) x^3 from x = 1, each product a rounding doubling high multiply
in Q3.28 (Q6 or Q9 intermediates saturating-shifted back to Q3); then x * sqrt(2)/2 (Q0.31 constant 1518500250);
a negative k is shifted into I (I <<= -k, wrapping) and e = -max(k, 0).
Since the input has 256 values, edgec runs that maths at compile time (numpy, below) into a 256-entry int8 table
and the C kernel (runtime/lut_s8.c) is one table lookup per element. A value below zp_x (outside TFLM's domain:
TFLM's Eval fails on it) maps to 127 like 0.

float32: y = 1.0f / sqrtf(x) (two correctly rounded IEEE operations, TFLite Micro's formula): bit-identical.
"""

from __future__ import annotations

import numpy as np

from ..fixedpoint import (
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    rounding_divide_by_pot,
    saturating_rounding_multiply_by_pot,
    srdhm,
    wrap_int32,
)
from .base import Operator, Quantization, io_int8, per_tensor_activations, register, shape_of_first_input
from .float_common import all_float32

FRACTION_BITS = 20  # TFLite Micro's kShift: 1/sqrt(v) is carried with 20 fractional bits
HALF_SQRT_2_Q31 = 1518500250  # round(sqrt(2) / 2 * 2^31)


def _output_multiplier(s_x: float, s_y: float) -> tuple[int, int]:
    prod = np.float32(np.sqrt(np.float32(s_x), dtype=np.float32) * np.float32(s_y))
    return quantize_multiplier(1.0 / float(prod))


def rsqrt_rescale_in_range(op, g) -> bool:
    """the output rescale 1 / (sqrt(s_x) s_y) is at least 2^-12 (TFLite's second rescale, with its shift - 20,
    must not shift right by more than 31 bits)"""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    if x.quant is None or y.quant is None:
        return False
    return _output_multiplier(x.scale, y.scale)[1] - FRACTION_BITS >= -31


def inv_sqrt_q31(v: int) -> tuple[int, int]:
    """(I, e) with I / 2^31 * 2^e ~ 1 / sqrt(v), TFLite's fixed-point inverse square root (module docstring)."""
    if v <= 1:
        return 2**31 - 1, 0
    k = 11
    while v >= 1 << 29:
        v //= 4
        k += 1
    pairs = ((32 - v.bit_length()) - 1) // 2 - 1  # clz(v) - 1 spare bits, in pairs, less one pair
    k -= pairs
    v <<= 2 * pairs
    a = v >> 1  # Q3.28
    half_a = int(rounding_divide_by_pot(a, 1))
    three_halves = (1 << 28) + (1 << 27)  # 1.5 in Q3.28
    x = 1 << 28  # 1.0 in Q3.28
    for _ in range(5):
        x3 = int(saturating_rounding_multiply_by_pot(srdhm(srdhm(x, x), x), 6))  # Q9 -> Q3
        diff = int(wrap_int32(int(srdhm(three_halves, x)) - int(srdhm(half_a, x3))))  # Q6
        x = int(saturating_rounding_multiply_by_pot(diff, 3))  # Q6 -> Q3
    i = int(srdhm(x, HALF_SQRT_2_Q31))
    if k < 0:
        i = int(wrap_int32(i << -k))
        k = 0
    return i, -k


def rsqrt_table(s_x: float, zp_x: int, s_y: float, zp_y: int) -> np.ndarray:
    """y for every int8 input q = -128..127 (index q + 128)."""
    m, shift = _output_multiplier(s_x, s_y)
    out = np.empty(256, np.int8)
    for q in range(-128, 128):
        v = q - zp_x
        if v <= 0:
            out[q + 128] = 127
            continue
        i, e = inv_sqrt_q31(v)
        data = int(multiply_by_quantized_multiplier(1, i, e + FRACTION_BITS))
        y = int(multiply_by_quantized_multiplier(data, m, shift - FRACTION_BITS)) + zp_y
        out[q + 128] = min(max(y, -128), 127)
    return out


@register
class Rsqrt(Operator):
    type = "rsqrt"
    kernel = "lut_s8"
    kernel_f32 = "rsqrt_f32"
    constraints = [io_int8, per_tensor_activations, rsqrt_rescale_in_range]
    constraints_f32 = [all_float32]

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="calibrated")
    not_exportable = None
    backward = None  # no gradient rule yet

    def export_tflite(self, op, g, w, ins):
        return "RSQRT", ins, None, {}

    infer_shape = shape_of_first_input

    def prepare(self, op, g):
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        op.params["table"] = rsqrt_table(x.scale, x.zero_point, y.scale, y.zero_point)

    def reference(self, op, g, inputs):
        q = np.asarray(inputs[0]).astype(np.int64)
        return [op.params["table"][q + 128]]

    def emit(self, op, g, ctx):
        table = ctx.const_array(op, "table", op.params["table"], "int8_t")
        return (f"edgec_lut_s8({g.t(op.inputs[0]).size}, {table}, {ctx.ptr(op.inputs[0])}, "
                f"{ctx.ptr(op.outputs[0])});")

    def macs(self, op, g):
        return 0

    def in_place_inputs(self, op, g):
        return (0,)  # y[i] depends on x[i] only, read before it is written

    def reference_f32(self, op, g, inputs):
        x = np.asarray(inputs[0], np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            return [(np.float32(1.0) / np.sqrt(x, dtype=np.float32)).astype(np.float32)]

    def emit_f32(self, op, g, ctx):
        return f"edgec_rsqrt_f32({g.t(op.inputs[0]).size}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"
