"""SQUARED_DIFFERENCE (TFLite): y = (x1 - x2)^2 with numpy broadcasting, int8 or float32 (TFLite Micro:
squared_difference.cc).

int8 follows TFLite Micro's integer path, ADD's input alignment (ops/add.py) with a smaller left shift:
    m        = 2 max(s_1, s_2)                                      (double)
    v_k      = MBQM((q_k - zp_k) * 2^7, M_k, shift_k),   M_k, shift_k = QuantizeMultiplierSmallerThanOneExp(s_k / m)
    d        = v_1 - v_2                       (|v_k| <= 255 * 2^7 / 2, so |d| < 2^15 and d^2 < 2^31: no overflow)
    y        = clamp(zp_y + MBQM(d * d, M_o, shift_o), -128, 127),  M_o, shift_o = QuantizeMultiplier(m^2 /
               (float32(2^14 * s_y)))
(2^7 keeps 255^2 * 2^14 below 2^31; MBQM: MultiplyByQuantizedMultiplier, both roundings half away from zero.)
Cost per output element: two input rescales (a 32x32->64 multiply and a rounding shift each), one 32-bit square,
one output rescale.

float32: d = x1 - x2, y = d * d, each one IEEE float32 operation (TFLite Micro's reference does the same):
bit-identical.
"""

from __future__ import annotations

import numpy as np

from ..fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier
from .add import broadcast_fields, broadcast_inputs, broadcast_out_shape, shapes_broadcast
from .base import Operator, Quantization, io_int8, per_tensor_activations, register
from .float_common import all_float32

LEFT_SHIFT = 7


def multipliers(s1: float, s2: float, s_out: float) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """((M_1, shift_1), (M_2, shift_2), (M_o, shift_o)) as TFLite Micro's Prepare computes them."""
    twice_max = 2.0 * max(float(s1), float(s2))
    # (1 << 14) * output scale is an int times a float: a float32 product (exact: a power of two), then double
    denom = float(np.float32(1 << (2 * LEFT_SHIFT)) * np.float32(s_out))
    return (quantize_multiplier(float(s1) / twice_max), quantize_multiplier(float(s2) / twice_max),
            quantize_multiplier(twice_max * twice_max / denom))


@register
class SquaredDifference(Operator):
    type = "squared_difference"
    kernel = "squared_difference_s8"
    kernel_f32 = "squared_difference_f32"
    constraints = [io_int8, per_tensor_activations, shapes_broadcast]
    constraints_f32 = [all_float32, shapes_broadcast]

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="calibrated")
    not_exportable = None
    backward = None  # no gradient rule yet

    def export_tflite(self, op, g, w, ins):
        return "SQUARED_DIFFERENCE", ins, None, {}

    def infer_shape(self, op, g):
        return [broadcast_out_shape(op, g)]

    def prepare(self, op, g):
        x1, x2, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        (m1, s1), (m2, s2), (mo, so) = multipliers(x1.scale, x2.scale, y.scale)
        op.params.update(input1_offset=-x1.zero_point, input2_offset=-x2.zero_point, output_offset=y.zero_point,
                         input1_multiplier=m1, input1_shift=s1, input2_multiplier=m2, input2_shift=s2,
                         output_multiplier=mo, output_shift=so)

    def reference(self, op, g, inputs):
        p = op.params
        x1, x2 = broadcast_inputs(op, g, inputs)
        v1 = multiply_by_quantized_multiplier((x1 + p["input1_offset"]) << LEFT_SHIFT, p["input1_multiplier"],
                                              p["input1_shift"])
        v2 = multiply_by_quantized_multiplier((x2 + p["input2_offset"]) << LEFT_SHIFT, p["input2_multiplier"],
                                              p["input2_shift"])
        d = v1 - v2
        y = multiply_by_quantized_multiplier(d * d, p["output_multiplier"], p["output_shift"]) + p["output_offset"]
        return [np.clip(y, -128, 127).astype(np.int8).reshape(g.t(op.outputs[0]).shape)]

    def emit(self, op, g, ctx):
        fields = broadcast_fields(op, g)
        fields.update({k: op.params[k] for k in ("input1_offset", "input2_offset", "output_offset",
                                                 "input1_multiplier", "input1_shift", "input2_multiplier",
                                                 "input2_shift", "output_multiplier", "output_shift")})
        params = ctx.params_struct(op, "edgec_squared_difference_s8_params", fields)
        return (f"edgec_squared_difference_s8(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[1])}, "
                f"{ctx.ptr(op.outputs[0])});")

    def macs(self, op, g):
        return g.t(op.outputs[0]).size

    def reference_f32(self, op, g, inputs):
        shape = g.t(op.outputs[0]).shape
        a = np.asarray(inputs[0], np.float32)
        b = np.asarray(inputs[1], np.float32)
        d = (a - b).astype(np.float32)
        return [np.broadcast_to((d * d).astype(np.float32), shape).copy()]

    def emit_f32(self, op, g, ctx):
        params = ctx.params_struct(op, "edgec_squared_difference_f32_params", broadcast_fields(op, g))
        return (f"edgec_squared_difference_f32(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[1])}, "
                f"{ctx.ptr(op.outputs[0])});")
