"""HARD_SWISH on int8 (TFLite Micro hard_swish_common.cc, reference_ops::HardSwish<int8_t>), and float32.

hard_swish(x) = x * relu6(x + 3) / 6. TFLM computes it in 16-bit fixed point; edgec does the same, step by
step, every intermediate held in an int16 as there:
    v      = (x - zp_x) * 2^7                                   the input on a "hi-res" scale s_x / 128
    out_v  = SRDHM16(v, M_out)                                  v on the output scale, before the final shift
    r      = v rescaled to the "reluish" scale where 3.0 is 2^15 (saturating): left shifts saturate in two
             steps (all but one bit before SRDHM16(., M_relu), the last bit after), right shifts round
    r      = (r + 2^15) >> 1                                    relu6(x + 3) / 6 in [0, 1], Q0.15
    y      = clamp(zp_y + RDBPOT16(SDHM16(r, out_v), -shift_out), -128, 127)
The multipliers come from QuantizeMultiplier of (s_x / 128) / s_y and (s_x / 128) / (3 / 2^15), taken in
float32 and rounded to 16 bits (DownScaleInt32ToInt16Multiplier: (M + 2^15) >> 16, saturating at 32767).
SRDHM16 rounds to nearest (gemmlowp's int16 SaturatingRoundingDoublingHighMul); SDHM16 truncates toward zero
(SQDMULH), which TFLM uses on purpose to cancel the rounding bias of the first.
float32: y = x * min(6, max(0, x + 3)) / 6, in that order.
"""

from __future__ import annotations

import numpy as np

from ..fixedpoint import quantize_multiplier, rounding_divide_by_pot
from .base import Operator, Quantization, io_int8, per_tensor_activations, register, shape_of_first_input
from .float_common import all_float32

INT16_MIN, INT16_MAX = -(2**15), 2**15 - 1
MAX_RIGHT_SHIFT = 15  # gemmlowp's int16 RoundingDivideByPOT is exact only up to 15


def _f32(v) -> np.float32:
    return np.float32(np.asarray(v, dtype=np.float32).reshape(-1)[0])


def downscale_to_int16(m: int) -> int:
    """DownScaleInt32ToInt16Multiplier: the int32 Q0.31 multiplier rounded to Q0.15."""
    return INT16_MAX if m >= 2**31 - 1 - 2**15 else (m + 2**15) >> 16


def _multipliers(op, g) -> tuple[int, int, int, int]:
    """(M_out16, shift_out, M_relu16, shift_relu) as TFLM's Prepare computes them (ratios in float32)."""
    hires = np.float32(1.0 / 128.0) * _f32(g.t(op.inputs[0]).scale)
    m_out, s_out = quantize_multiplier(float(hires / _f32(g.t(op.outputs[0]).scale)))
    m_relu, s_relu = quantize_multiplier(float(hires / np.float32(3.0 / 32768.0)))
    return downscale_to_int16(m_out), s_out, downscale_to_int16(m_relu), s_relu


def hard_swish_scales_in_range(op, g) -> bool:
    """the input scale is below 128 times the output scale (TFLM's requirement) and at least 1/512 of it, and
    the input scale is between about 2e-7 and 384 (the 16-bit rescales' shifts stay within 15 bits)"""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    if x.quant is None or y.quant is None:
        return True
    _, s_out, _, s_relu = _multipliers(op, g)
    return -MAX_RIGHT_SHIFT <= s_out <= 0 and -MAX_RIGHT_SHIFT <= s_relu <= MAX_RIGHT_SHIFT


def wrap_int16(x) -> np.ndarray:
    """What storing an int into an int16_t does on every target edgec supports (modulo 2^16)."""
    return ((np.asarray(x, dtype=np.int64) + 2**15) & 0xFFFF) - 2**15


def srdhm16(a, b) -> np.ndarray:
    """gemmlowp's int16 SaturatingRoundingDoublingHighMul: (a*b + nudge) / 2^15 truncated, nudge = +-2^14."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    ab = a * b
    q = ab + np.where(ab >= 0, 1 << 14, 1 - (1 << 14))
    out = np.where(q < 0, -((-q) >> 15), q >> 15)
    return np.where((a == INT16_MIN) & (b == INT16_MIN), INT16_MAX, wrap_int16(out))


def sdhm16(a, b) -> np.ndarray:
    """SaturatingDoublingHighMul (SQDMULH): a*b / 2^15 truncated toward zero."""
    a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
    ab = a * b
    out = np.where(ab < 0, -((-ab) >> 15), ab >> 15)
    return np.where((a == INT16_MIN) & (b == INT16_MIN), INT16_MAX, wrap_int16(out))


def saturating_left_shift16(x, amount: int) -> np.ndarray:
    return np.clip(np.asarray(x, dtype=np.int64) * (1 << amount), INT16_MIN, INT16_MAX)


@register
class HardSwish(Operator):
    type = "hard_swish"
    infer_shape = shape_of_first_input
    kernel = "hard_swish_s8"
    kernel_f32 = "hard_swish_f32"
    constraints = [io_int8, per_tensor_activations, hard_swish_scales_in_range]
    constraints_f32 = [all_float32]

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="calibrated")
    not_exportable = None
    backward = None  # no gradient rule yet

    def export_tflite(self, op, g, w, ins):
        return "HARD_SWISH", ins, None, {}

    def prepare(self, op, g):
        m_out, s_out, m_relu, s_relu = _multipliers(op, g)
        op.params.update(output_multiplier=m_out, output_shift=s_out, reluish_multiplier=m_relu,
                         reluish_shift=s_relu)

    def reference(self, op, g, inputs):
        p = op.params
        zx, zy = g.t(op.inputs[0]).zero_point, g.t(op.outputs[0]).zero_point
        v = wrap_int16((np.asarray(inputs[0]).astype(np.int64) - zx) * 128)
        out_v = srdhm16(v, p["output_multiplier"])
        r = v
        if p["reluish_shift"] > 0:
            r = saturating_left_shift16(r, p["reluish_shift"] - 1)
        r = srdhm16(r, p["reluish_multiplier"])
        if p["reluish_shift"] > 0:
            r = saturating_left_shift16(r, 1)
        if p["reluish_shift"] < 0:
            r = wrap_int16(rounding_divide_by_pot(r, -p["reluish_shift"]))
        r = (r + (1 << 15)) >> 1
        y = wrap_int16(rounding_divide_by_pot(sdhm16(r, out_v), -p["output_shift"]))
        y = wrap_int16(y + zy)
        return [np.clip(y, -128, 127).astype(np.int8)]

    def emit(self, op, g, ctx):
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        p = op.params
        fields = dict(size=x.size, input_offset=x.zero_point, output_offset=y.zero_point,
                      output_multiplier=p["output_multiplier"], output_shift=p["output_shift"],
                      reluish_multiplier=p["reluish_multiplier"], reluish_shift=p["reluish_shift"])
        params = ctx.params_struct(op, "edgec_hard_swish_s8_params", fields)
        return f"edgec_hard_swish_s8(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def macs(self, op, g):
        return 3 * g.t(op.outputs[0]).size  # three fixed-point multiplies per element

    def in_place_inputs(self, op, g):
        # both kernels read input[i] before they write output[i] (same element size), one element at a time
        return (0,)

    def reference_f32(self, op, g, inputs):
        x = np.asarray(inputs[0], dtype=np.float32)
        t = x + np.float32(3)
        t = np.where(t > 0, t, np.float32(0))  # std::max / std::min, NaN handling included
        relu6 = np.where(t < 6, t, np.float32(6))
        return [((x * relu6) / np.float32(6)).astype(np.float32)]

    def emit_f32(self, op, g, ctx):
        return f"edgec_hard_swish_f32({g.t(op.inputs[0]).size}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"
