"""MUL on int8 with numpy broadcasting (TFLite Micro: mul_common.cc, reference_integer_ops::MulElementwise /
BroadcastMul6DSlow).

The product of two affine values is rescaled once:
    y = clamp(zp_y + MBQM((q_1 - zp_1) * (q_2 - zp_2), M, shift), act_min, act_max)
    M, shift = QuantizeMultiplier(s_1 * s_2 / s_y)    (double precision from the float32 scales; may exceed 1)
|q - zp| <= 255, so the int32 product stays below 2^16; a positive shift scales it up before the high-mul,
wrapping in int32 exactly like TFLite. Broadcasting shares ADD's compile-time loop folding (ops/add.py).

int16 (16x8, runtime/mul_s16.c): zero points 0 (TFLite Micro checks it), y = clamp(MBQM(q_1 * q_2, M, shift)),
the same M, shift; |q_1 q_2| <= 2^30 fits int32.
"""

from __future__ import annotations

import numpy as np

from ..fixedpoint import activation_range, multiply_by_quantized_multiplier, quantize_multiplier, wrap_int32
from .add import (
    BINARY_CONSTRAINTS,
    BINARY_CONSTRAINTS_F32,
    broadcast_fields,
    broadcast_inputs,
    broadcast_out_shape,
    emit_binary_f32,
    operands_int16,
    operands_per_tensor,
    shapes_broadcast,
    unbroadcast_inputs,
)
from .base import Operator, Quantization, fused_activation_supported, register
from .float_common import activate


def mul_real_multiplier(op, g) -> float:
    s1, s2, so = g.t(op.inputs[0]).scale, g.t(op.inputs[1]).scale, g.t(op.outputs[0]).scale
    return float(np.float64(s1) * np.float64(s2) / np.float64(so))


def mul_multiplier_in_range(op, g) -> bool:
    """s_1 * s_2 / s_y (input scales times each other over the output scale) is below 2^30"""
    return operands_per_tensor(op, g) and quantize_multiplier(mul_real_multiplier(op, g))[1] <= 30


@register
class Mul(Operator):
    type = "mul"
    kernel = "mul_s8"
    constraints = [*BINARY_CONSTRAINTS, mul_multiplier_in_range]

    fuses_activation = True
    patch_kind = "binary"
    quantization = Quantization(output="calibrated")
    not_exportable = None
    backward = None  # no gradient rule yet

    def export_tflite(self, op, g, w, ins):
        return "MUL", ins, "MulOptions", dict(fusedActivationFunction=w.activation(op))

    def infer_shape(self, op, g):
        return [broadcast_out_shape(op, g)]

    def prepare(self, op, g):
        x1, x2, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        m, shift = quantize_multiplier(mul_real_multiplier(op, g))
        act_min, act_max = activation_range(op.attrs.get("activation", "NONE"), y.scale, y.zero_point)
        op.params.update(input1_offset=-x1.zero_point, input2_offset=-x2.zero_point, output_offset=y.zero_point,
                         output_multiplier=m, output_shift=shift, act_min=act_min, act_max=act_max)

    def reference(self, op, g, inputs):
        p = op.params
        x1, x2 = broadcast_inputs(op, g, inputs)
        prod = (x1 + p["input1_offset"]) * (x2 + p["input2_offset"])
        y = wrap_int32(multiply_by_quantized_multiplier(prod, p["output_multiplier"], p["output_shift"])
                       + p["output_offset"])
        return [np.clip(y, p["act_min"], p["act_max"]).astype(np.int8)]

    def emit(self, op, g, ctx):
        p = op.params
        fields = broadcast_fields(op, g)
        fields.update({k: p[k] for k in ("input1_offset", "input2_offset", "output_offset", "output_multiplier",
                                         "output_shift", "act_min", "act_max")})
        params = ctx.params_struct(op, "edgec_mul_s8_params", fields)
        return (f"edgec_mul_s8(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[1])}, "
                f"{ctx.ptr(op.outputs[0])});")

    def macs(self, op, g):
        return g.t(op.outputs[0]).size

    # ---- int16 (16x8): y = clamp(MBQM(q_1 * q_2, M, shift)), zero points 0 (module doc) ------------------------
    kernel_s16 = "mul_s16"
    constraints_s16 = [operands_int16, operands_per_tensor, shapes_broadcast, fused_activation_supported,
                       mul_multiplier_in_range]

    def prepare_s16(self, op, g):
        y = g.t(op.outputs[0])
        m, shift = quantize_multiplier(mul_real_multiplier(op, g))
        act_min, act_max = activation_range(op.attrs.get("activation", "NONE"), y.scale, y.zero_point, "int16")
        op.params.update(output_multiplier=m, output_shift=shift, act_min=act_min, act_max=act_max)

    def reference_s16(self, op, g, inputs):
        p = op.params
        x1, x2 = broadcast_inputs(op, g, inputs)
        y = multiply_by_quantized_multiplier(x1 * x2, p["output_multiplier"], p["output_shift"])
        return [np.clip(y, p["act_min"], p["act_max"]).astype(np.int16)]

    def emit_s16(self, op, g, ctx):
        fields = broadcast_fields(op, g)
        fields.update({k: op.params[k] for k in ("output_multiplier", "output_shift", "act_min", "act_max")})
        params = ctx.params_struct(op, "edgec_mul_s16_params", fields)
        return (f"edgec_mul_s16(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[1])}, "
                f"{ctx.ptr(op.outputs[0])});")

    def in_place_inputs(self, op, g):
        return unbroadcast_inputs(op, g)

    # ---- float32: y = clamp(x1 * x2) elementwise in float32, broadcast as the int8 kernel --------------------
    kernel_f32 = "mul_f32"
    constraints_f32 = [*BINARY_CONSTRAINTS_F32]

    def reference_f32(self, op, g, inputs):
        x1, x2 = (np.asarray(x, dtype=np.float32) for x in inputs[:2])
        return [activate(op, np.broadcast_to(x1 * x2, tuple(g.t(op.outputs[0]).shape)))]

    def emit_f32(self, op, g, ctx):
        return emit_binary_f32(op, g, ctx, "edgec_mul_f32_params", "edgec_mul_f32")
