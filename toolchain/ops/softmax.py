"""SOFTMAX on int8 over the last axis (TFLite Micro: reference_ops::Softmax, gemmlowp fixed point).

Per row of `depth` values, with d = x - max(row) <= 0 (integers, input zero point cancels):
    s    = SRDHM(d * 2^left_shift, M)               d * beta * s_x in Q5.26   (skipped, output -128, if d < diff_min)
    e    = exp_on_negative_values(s)                 Q0.31
    sum  = sum of e / 2^12                           Q12.19, int32
    k    = 12 - clz(sum)                             sum = 2^k * (1 + f), f in [0, 1)
    r    = one_over_one_plus_x(f)                    1 / (1 + f) in Q0.31
    y    = clamp(RDBPOT(SRDHM(r, e), k + 23) - 128, -128, 127)      e / sum in units of 1/256
Compile time (PreprocessSoftmaxScaling, CalculateInputRadius with 5 integer bits):
    M, left_shift = QuantizeMultiplier(min(beta * s_x * 2^26, 2^31 - 1));  diff_min = -floor(31 * 2^26 / 2^left_shift)

int16 (16x8, TFLite Micro's SoftmaxInt16; runtime/softmax_s16.c has the per-row formulas): the input difference is
rescaled to units of 10/65535 by M, shift = QuantizeMultiplier(s_x * beta / (10 / 65535)) (double) and read in a
513-entry table of exp on [-10, 0]; the sum's reciprocal comes from a table of 1 / (1 + x) on [0, 1]. Both tables
are computed here at compile time exactly as TFLite Micro's Prepare computes them, in float32 (lut_s16).

TFLM aborts (TFLITE_CHECK) when a row's sum of exponentials reaches 512 (k + 23 > 31), which only rows of 512 or
more nearly-equal values can do; edgec then keeps rounding e / sum exactly (outputs -128 or -127) instead.
"""

from __future__ import annotations

import math

import numpy as np

from ..fixedpoint import (
    count_leading_zeros32,
    exp_on_negative_values,
    multiply_by_quantized_multiplier,
    one_over_one_plus_x_for_x_in_0_1,
    quantize_multiplier,
    rounding_divide_by_pot,
    saturating_rounding_multiply_by_pot,
    srdhm,
    wrap_int32,
)
from .base import Operator, Quantization, io_int8, per_tensor_activations, register, shape_of_first_input
from .float_common import all_float32, c_float
from .int16_common import io_int16

SCALED_DIFF_INTEGER_BITS = 5
ACCUMULATION_INTEGER_BITS = 12


def output_scale_1_256_zp_minus_128(op, g) -> bool:
    """output is quantized with scale 1/256 and zero point -128 (what the TFLite converter produces for softmax)"""
    y = g.t(op.outputs[0])
    return y.quant is not None and y.zero_point == -128 and np.float32(y.scale) == np.float32(1.0 / 256)


def beta_times_scale_large_enough(op, g) -> bool:
    """beta * input scale is greater than 2^-26 (TFLite cannot represent a smaller softmax input multiplier)"""
    x = g.t(op.inputs[0])
    return x.quant is not None and _real_multiplier(op, g) > 1.0


def has_rank(op, g) -> bool:
    """input has at least one dimension"""
    return len(g.t(op.inputs[0]).shape) >= 1


def _real_multiplier(op, g) -> float:
    """PreprocessSoftmaxScaling's multiplier, in double as TFLite computes it (beta and scale are float32)."""
    beta = float(np.float32(op.attrs.get("beta", 1.0)))
    scale = float(np.float32(g.t(op.inputs[0]).scale))
    return min(beta * scale * float(1 << (31 - SCALED_DIFF_INTEGER_BITS)), float((1 << 31) - 1))


def _round_f32(x: np.float32) -> np.float32:
    """TfLiteRound on a float: roundf, halves away from zero."""
    return np.float32(math.copysign(math.floor(abs(float(x)) + 0.5), float(x)))


def lut_s16(function, input_min: float, input_max: float, output_min: float, output_max: float) -> np.ndarray:
    """TFLite's 513-entry int16 interpolation table of `function` (float32 -> float32) over [input_min, input_max],
    computed in float32 as TFLite Micro does: entry i is round(f(x_i) * 65536 / (output_max - output_min)) minus
    half the error a linear interpolation would make at the step's midpoint (rounded), clamped to int16; the last
    entry is f(input_max), unbiased."""
    f32 = np.float32
    lo, hi = f32(input_min), f32(input_max)
    step = f32((hi - lo) / f32(512))
    half = f32(step / f32(2))
    inv = f32(f32(65536.0) / f32(f32(output_max) - f32(output_min)))
    table = np.zeros(513, np.int64)
    for i in range(512):
        x = f32(lo + f32(f32(i) * step))
        val = function(x)
        mid = function(f32(x + half))
        nxt = function(f32(lo + f32(f32(i + 1) * step)))
        sample = _round_f32(f32(val * inv))
        interp = _round_f32(f32(f32(f32(nxt * inv) + sample) / f32(2)))
        err = f32(interp - _round_f32(f32(mid * inv)))
        bias = _round_f32(f32(err / f32(2)))
        table[i] = int(min(max(float(f32(sample - bias)), -32768.0), 32767.0))
    table[512] = int(min(max(float(_round_f32(f32(function(hi) * inv))), -32768.0), 32767.0))
    return table


def _exp_f32(x: np.float32) -> np.float32:
    return np.float32(math.exp(float(x)))  # expf: the correctly rounded value (glibc's expf is, but for rare ties)


def _reciprocal_f32(x: np.float32) -> np.float32:
    return np.float32(np.float32(1.0) / np.float32(np.float32(1.0) + x))


def output_scale_s16(op, g) -> bool:
    """int16: the output scale is 2^-15 (within 0.1 %) and the zero point 0 (TFLite Micro's requirement)"""
    y = g.t(op.outputs[0])
    return y.quant is not None and y.zero_point == 0 and abs(float(y.scale) - 2.0**-15) <= 1e-3 * 2.0**-15


def rescale_s16_in_range(op, g) -> bool:
    """int16: s_x * beta / (10 / 65535) is below 2^15 (the rescale of a row difference stays within int32)"""
    x = g.t(op.inputs[0])
    return x.quant is not None and quantize_multiplier(_real_multiplier_s16(op, g))[1] <= 15


def depth_s16(op, g) -> bool:
    """int16: a row holds at most 65,535 values (the int32 sum of the exponentials)"""
    return g.t(op.inputs[0]).shape[-1] <= 65535


def _real_multiplier_s16(op, g) -> float:
    beta = float(np.float32(op.attrs.get("beta", 1.0)))
    return float(np.float32(g.t(op.inputs[0]).scale)) * beta / (10.0 / 65535.0)


@register
class Softmax(Operator):
    type = "softmax"
    kernel = "softmax_s8"
    constraints = [io_int8, per_tensor_activations, has_rank, output_scale_1_256_zp_minus_128,
                   beta_times_scale_large_enough]

    fuses_activation = False
    patch_kind = None
    # TFLite's int8 SOFTMAX writes probabilities on a fixed scale (output_scale_1_256_zp_minus_128)
    quantization = Quantization(output="fixed", fixed=(1.0 / 256, -128))
    not_exportable = None
    backward = None  # no gradient rule yet

    def export_tflite(self, op, g, w, ins):
        return "SOFTMAX", ins, "SoftmaxOptions", dict(beta=float(op.attrs.get("beta", 1.0)))

    infer_shape = shape_of_first_input

    def prepare(self, op, g):
        multiplier, left_shift = quantize_multiplier(_real_multiplier(op, g))
        # CalculateInputRadius: the largest |d| whose rescaled value still fits Q5.26, floored
        radius = math.floor(((1 << SCALED_DIFF_INTEGER_BITS) - 1) * float(1 << (31 - SCALED_DIFF_INTEGER_BITS))
                            / float(1 << left_shift))
        shape = g.t(op.inputs[0]).shape
        depth = shape[-1]
        op.params.update(input_multiplier=multiplier, input_left_shift=left_shift, diff_min=-radius,
                         depth=depth, outer=g.t(op.inputs[0]).size // depth if depth else 0)

    def reference(self, op, g, inputs):
        x = inputs[0]
        assert x is not None
        p = op.params
        rows = x.astype(np.int64).reshape(-1, p["depth"])
        diff = rows - rows.max(axis=1, keepdims=True)
        used = diff >= p["diff_min"]
        scaled = multiply_by_quantized_multiplier(np.where(used, diff, 0), p["input_multiplier"],
                                                  p["input_left_shift"])
        exps = exp_on_negative_values(scaled, SCALED_DIFF_INTEGER_BITS)
        terms = saturating_rounding_multiply_by_pot(exps, -ACCUMULATION_INTEGER_BITS)  # Rescale Q0.31 -> Q12.19
        total = wrap_int32(np.where(used, terms, 0).sum(axis=1, keepdims=True))
        headroom = count_leading_zeros32(total)
        bits_over_unit = ACCUMULATION_INTEGER_BITS - headroom
        # the sum shifted to [1, 2), minus 1, in Q0.31 (uint32 arithmetic, as GetReciprocal)
        frac = wrap_int32(((total & 0xFFFFFFFF) << headroom) - (1 << 31))
        reciprocal = one_over_one_plus_x_for_x_in_0_1(frac)
        exponent = bits_over_unit + 31 - 8
        prob = rounding_divide_by_pot(srdhm(reciprocal, exps), exponent)
        out = np.where(used, np.clip(prob - 128, -128, 127), -128)
        return [out.astype(np.int8).reshape(x.shape)]

    def emit(self, op, g, ctx):
        p = op.params
        fields = dict(outer=p["outer"], depth=p["depth"], input_multiplier=p["input_multiplier"],
                      input_left_shift=p["input_left_shift"], diff_min=p["diff_min"])
        params = ctx.params_struct(op, "edgec_softmax_s8_params", fields)
        return f"edgec_softmax_s8(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    # ---- int16 (16x8): table interpolation (module doc, runtime/softmax_s16.c) ---------------------------------
    kernel_s16 = "softmax_s16"
    constraints_s16 = [io_int16, has_rank, output_scale_s16, rescale_s16_in_range, depth_s16]

    def prepare_s16(self, op, g):
        m, shift = quantize_multiplier(_real_multiplier_s16(op, g))
        shape = g.t(op.inputs[0]).shape
        depth = shape[-1]
        op.params.update(input_multiplier=m, input_shift=shift, depth=depth,
                         outer=g.t(op.inputs[0]).size // depth if depth else 0,
                         exp_table=lut_s16(_exp_f32, -10.0, 0.0, -1.0, 1.0),
                         reciprocal_table=lut_s16(_reciprocal_f32, 0.0, 1.0, -1.0, 1.0))

    def reference_s16(self, op, g, inputs):
        x = inputs[0]
        assert x is not None
        p = op.params

        def lookup(table, v):
            i = 256 + (v >> 7)
            return table[i] + (((table[i + 1] - table[i]) * (v & 127) + 64) >> 7)

        rows = x.astype(np.int64).reshape(-1, p["depth"])
        diff = wrap_int32(multiply_by_quantized_multiplier(rows - rows.max(axis=1, keepdims=True),
                                                           p["input_multiplier"], p["input_shift"]) + 32767)
        e = lookup(p["exp_table"], np.clip(diff, -32768, 32767))
        total = e.sum(axis=1, keepdims=True)
        h = count_leading_zeros32(total)
        z = ((total << (h - 1)) + (1 << 13)) >> 14
        r = lookup(p["reciprocal_table"], np.clip(z - 98304, -32768, 32767))
        right = 31 - h
        y = (e * r + (np.int64(1) << (right - 1))) >> right
        return [np.clip(y, 0, 32767).astype(np.int16).reshape(x.shape)]

    def emit_s16(self, op, g, ctx):
        p = op.params
        fields = dict(outer=p["outer"], depth=p["depth"], input_multiplier=p["input_multiplier"],
                      input_shift=p["input_shift"],
                      exp_table=ctx.const_array(op, "exp_table", p["exp_table"], "int16_t"),
                      reciprocal_table=ctx.const_array(op, "reciprocal_table", p["reciprocal_table"], "int16_t"))
        params = ctx.params_struct(op, "edgec_softmax_s16_params", fields)
        return f"edgec_softmax_s16(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    # ---- float32, per row: e = expf((x - max) * beta) (float32 argument), y = e / sum(e) -----------------------
    kernel_f32 = "softmax_f32"
    constraints_f32 = [all_float32, has_rank]

    def reference_f32(self, op, g, inputs):
        x = np.asarray(inputs[0], dtype=np.float32)
        depth = x.shape[-1] if x.ndim else 1
        rows = x.reshape(-1, depth)
        arg = (rows - rows.max(axis=1, keepdims=True)) * np.float32(op.attrs.get("beta", 1.0))  # float32, as C
        e = np.exp(arg.astype(np.float64))
        return [(e / e.sum(axis=1, keepdims=True)).astype(np.float32).reshape(x.shape)]

    def emit_f32(self, op, g, ctx):
        x = g.t(op.inputs[0])
        depth = x.shape[-1]
        fields = dict(outer=x.size // depth if depth else 0, depth=depth, beta=c_float(op.attrs.get("beta", 1.0)))
        params = ctx.params_struct(op, "edgec_softmax_f32_params", fields)
        return f"edgec_softmax_f32(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"
