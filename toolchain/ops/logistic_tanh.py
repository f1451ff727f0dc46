"""LOGISTIC and TANH on int8 (TFLite Micro: reference_integer_ops::Logistic / Tanh, gemmlowp fixed point).

Both rescale the centred input to Q4.27 and evaluate gemmlowp's fixed-point function (result in Q0.31):
    d = x - zp_x
    d <= -radius          -> -128                  (the function is saturated at this end)
    d >=  radius          ->  127
    otherwise  a = MBQM(d, M, shift)               d * s_x in Q4.27
      logistic: y = clamp(RDBPOT(logistic(a), 23) - 128, -128, 127)      output scale 1/256, zero point -128
      tanh:     y = clamp(RDBPOT(tanh(a), 24), -128, 127)                output scale 1/128, zero point 0
Compile time (as TFLM's Prepare, not QuantizeMultiplier):
    q, shift = frexp(s_x * 2^27);  M = round(q * 2^31);  radius = floor(15 * 2^27 / 2^shift)
The radius keeps d * 2^shift inside int32 and |a| below 15 (the Q4.27 range). For input scales of 8 and more
the radius is 0 and TFLM saturates every input (d <= 0 -> -128, d > 0 -> 127); edgec does the same.
TFLM's kernels never read the output's scale (and TANH not its zero point): they assume the fixed values above,
which is what the constraints require.
"""

from __future__ import annotations

import math

import numpy as np

from ..fixedpoint import (
    fixed_logistic,
    fixed_tanh,
    multiply_by_quantized_multiplier,
    rounding_divide_by_pot,
    tflite_round,
)
from .base import Operator, Quantization, io_int8, per_tensor_activations, register
from .float_common import all_float32

INPUT_INTEGER_BITS = 4
LOGISTIC_UPPER, LOGISTIC_LOWER = float(np.float32(16.619047164916992188)), -9.0  # float LOGISTIC's cut-offs


def _output_quant_is(op, g, scale: float, zero_point: int) -> bool:
    y = g.t(op.outputs[0])
    return y.quant is not None and y.zero_point == zero_point and abs(y.scale - scale) <= 1e-3 * scale


def logistic_output_quant(op, g) -> bool:
    """output is quantized with scale 1/256 and zero point -128 (what the TFLite converter produces for logistic)"""
    return _output_quant_is(op, g, 1.0 / 256, -128)


def tanh_output_quant(op, g) -> bool:
    """output is quantized with scale 1/128 and zero point 0 (what the TFLite converter produces for tanh)"""
    return _output_quant_is(op, g, 1.0 / 128, 0)


def input_scale_in_range(op, g) -> bool:
    """input scale is at least 2^-28 (TFLite's fixed-point rescaling to Q4.27 cannot shift right)"""
    x = g.t(op.inputs[0])
    return x.quant is not None and x.scale >= 2.0**-28


class _LogisticTanh(Operator):
    kernel = "logistic_tanh_s8"
    c_function = ""

    fuses_activation = False
    patch_kind = "unary"
    not_exportable = None
    backward = None  # no gradient rule yet
    builtin = ""  # LOGISTIC or TANH (no options)

    def export_tflite(self, op, g, w, ins):
        return self.builtin, ins, None, {}

    def infer_shape(self, op, g):
        return [g.t(op.inputs[0]).shape]

    def prepare(self, op, g):
        x = g.t(op.inputs[0])
        real = float(np.float32(x.scale)) * float(1 << (31 - INPUT_INTEGER_BITS))
        q, shift = math.frexp(real)
        multiplier = tflite_round(q * float(1 << 31))
        # CalculateInputRadius(4, shift, 31): the largest |d| whose rescaled value stays below 15 in Q4.27
        radius = math.floor(((1 << INPUT_INTEGER_BITS) - 1) * float(1 << (31 - INPUT_INTEGER_BITS))
                            / float(1 << shift))
        op.params.update(size=x.size, input_zero_point=x.zero_point, input_range_radius=radius,
                         input_multiplier=multiplier, input_left_shift=shift)

    def function(self, a: np.ndarray) -> np.ndarray:
        """int8 result (before saturation) from the Q4.27 input."""
        raise NotImplementedError

    def reference(self, op, g, inputs):
        x = inputs[0]
        assert x is not None
        p = op.params
        d = x.astype(np.int64) - p["input_zero_point"]
        radius = p["input_range_radius"]
        inside = (d > -radius) & (d < radius)
        a = multiply_by_quantized_multiplier(np.where(inside, d, 0), p["input_multiplier"], p["input_left_shift"])
        y = np.clip(self.function(a), -128, 127)
        y = np.where(d <= -radius, -128, np.where(d >= radius, 127, y))
        return [y.astype(np.int8)]

    def emit(self, op, g, ctx):
        p = op.params
        fields = dict(size=p["size"], input_zero_point=p["input_zero_point"],
                      input_range_radius=p["input_range_radius"], input_multiplier=p["input_multiplier"],
                      input_left_shift=p["input_left_shift"])
        params = ctx.params_struct(op, "edgec_logistic_tanh_s8_params", fields)
        return f"{self.c_function}(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def in_place_inputs(self, op, g):
        # logistic_tanh_s8.c reads input[i] before it writes output[i], one element at a time
        return (0,) if io_int8(op, g) else ()

    # ---- float32: elementwise, see function_f64 ----------------------------------------------------------------
    kernel_f32 = "logistic_tanh_f32"
    constraints_f32 = [all_float32]

    def function_f64(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def reference_f32(self, op, g, inputs):
        x = np.asarray(inputs[0], dtype=np.float32)
        with np.errstate(over="ignore"):
            return [self.function_f64(x.astype(np.float64)).astype(np.float32)]

    def emit_f32(self, op, g, ctx):
        params = ctx.params_struct(op, "edgec_logistic_tanh_f32_params", dict(size=g.t(op.inputs[0]).size))
        return f"edgec_{self.type}_f32(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"


@register
class Logistic(_LogisticTanh):
    type = "logistic"
    c_function = "edgec_logistic_s8"
    builtin = "LOGISTIC"
    # TFLite fixes the int8 output quantization (logistic_output_quant)
    quantization = Quantization(output="fixed", fixed=(1.0 / 256, -128))
    constraints = [io_int8, per_tensor_activations, input_scale_in_range, logistic_output_quant]

    def function(self, a):
        # Q0.31 -> units of 1/256 (Q8.23 raw), then the -128 zero point
        return rounding_divide_by_pot(fixed_logistic(a, INPUT_INTEGER_BITS), 31 - 8) - 128

    def function_f64(self, x):
        # TFLite's float reference: 1 above 16.619... (where 1/(1+e^-x) rounds to 1 in float32), e^x below -9
        # (relative difference e^x < 1.3e-4 from the exact value there), 1/(1+e^-x) between
        return np.where(x > LOGISTIC_UPPER, 1.0, np.where(x < LOGISTIC_LOWER, np.exp(x), 1.0 / (1.0 + np.exp(-x))))


@register
class Tanh(_LogisticTanh):
    type = "tanh"
    c_function = "edgec_tanh_s8"
    builtin = "TANH"
    # TFLite fixes the int8 output quantization (tanh_output_quant)
    quantization = Quantization(output="fixed", fixed=(1.0 / 128, 0))
    constraints = [io_int8, per_tensor_activations, input_scale_in_range, tanh_output_quant]

    def function(self, a):
        # Q0.31 -> units of 1/128, zero point 0
        return rounding_divide_by_pot(fixed_tanh(a, INPUT_INTEGER_BITS), 31 - 7)

    def function_f64(self, x):
        return np.tanh(x)
