"""LEAKY_RELU on int8 (TFLite Micro leaky_relu_common.cc, reference_ops::QuantizeLeakyRelu), and float32.

Two rescales, one per side of zero, both from QuantizeMultiplier (the real ratios taken in float32, as
TFLM's Prepare computes them, then widened to double):
    v = x - zp_x
    y = clamp(zp_y + MBQM(v, M_id, shift_id), -128, 127)                        v >= 0
    y = clamp(zp_y + sign(alpha) * MBQM(v, |M_a|, shift_a), -128, 127)          v <  0
    M_id, shift_id = QuantizeMultiplier(s_x / s_y)      M_a, shift_a = QuantizeMultiplier(s_x * alpha / s_y)
A negative alpha gives a negative M_a; the kernel rescales by |M_a| and negates, so MBQM only sees
non-negative multipliers. The int32 adds and the negation wrap around (what TFLM does on every target).
float32: y = x > 0 ? x : x * alpha.

alpha is a required attribute with no default here: each importer sets it (ONNX's LeakyRelu defaults it to 0.01,
TFLite's LEAKY_RELU carries it in its options), so no op silently takes some other framework's default.
"""

from __future__ import annotations

import numpy as np

from ..fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier, wrap_int32
from .base import Operator, Quantization, io_int8, per_tensor_activations, register, shape_of_first_input
from .float_common import all_float32, c_float


def _f32(v) -> np.float32:
    return np.float32(np.asarray(v, dtype=np.float32).reshape(-1)[0])


def _ratios(op, g) -> tuple[float, float]:
    """(s_x / s_y, s_x * alpha / s_y), each computed in float32 like TFLM's Prepare."""
    sx, sy = _f32(g.t(op.inputs[0]).scale), _f32(g.t(op.outputs[0]).scale)
    return float(sx / sy), float(sx * np.float32(op.attrs["alpha"]) / sy)


def leaky_rescale_in_range(op, g) -> bool:
    """the input scale, and the input scale times |alpha|, are less than 2^31 times the output scale (the
    rescales' left shifts stay below 32)"""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    if x.quant is None or y.quant is None or not alpha_given(op, g):
        return True  # alpha_given reports a missing alpha
    return all(abs(r) < 2.0**31 for r in _ratios(op, g))


def alpha_given(op, g) -> bool:
    """alpha is given (each importer sets it; ONNX's LeakyRelu defaults it to 0.01)"""
    return op.attrs.get("alpha") is not None


def alpha_finite(op, g) -> bool:
    """alpha is a finite number"""
    return not alpha_given(op, g) or bool(np.isfinite(np.float32(op.attrs["alpha"])))


@register
class LeakyRelu(Operator):
    type = "leaky_relu"
    infer_shape = shape_of_first_input
    kernel = "leaky_relu_s8"
    kernel_f32 = "leaky_relu_f32"
    constraints = [io_int8, per_tensor_activations, alpha_given, alpha_finite, leaky_rescale_in_range]
    constraints_f32 = [all_float32, alpha_given, alpha_finite]

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="calibrated")
    not_exportable = None
    backward = None  # no gradient rule yet

    def export_tflite(self, op, g, w, ins):
        return "LEAKY_RELU", ins, "LeakyReluOptions", dict(alpha=float(op.attrs["alpha"]))

    def prepare(self, op, g):
        identity, alpha = _ratios(op, g)
        m_id, s_id = quantize_multiplier(identity)
        m_a, s_a = quantize_multiplier(alpha)
        op.params.update(multiplier_identity=m_id, shift_identity=s_id, multiplier_alpha=m_a, shift_alpha=s_a)

    def reference(self, op, g, inputs):
        p = op.params
        zx, zy = g.t(op.inputs[0]).zero_point, g.t(op.outputs[0]).zero_point
        v = np.asarray(inputs[0]).astype(np.int64) - zx
        pos = multiply_by_quantized_multiplier(v, p["multiplier_identity"], p["shift_identity"])
        neg = multiply_by_quantized_multiplier(v, abs(p["multiplier_alpha"]), p["shift_alpha"])
        if p["multiplier_alpha"] < 0:
            neg = wrap_int32(-neg)
        y = wrap_int32(zy + np.where(v >= 0, pos, neg))
        return [np.clip(y, -128, 127).astype(np.int8)]

    def emit(self, op, g, ctx):
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        p = op.params
        fields = dict(size=x.size, input_offset=x.zero_point, output_offset=y.zero_point,
                      multiplier_identity=p["multiplier_identity"], shift_identity=p["shift_identity"],
                      multiplier_alpha=_c_int32(p["multiplier_alpha"]), shift_alpha=p["shift_alpha"])
        params = ctx.params_struct(op, "edgec_leaky_relu_s8_params", fields)
        return f"edgec_leaky_relu_s8(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def macs(self, op, g):
        return g.t(op.outputs[0]).size  # one rescale (multiply) per element

    def in_place_inputs(self, op, g):
        # both kernels read input[i] before they write output[i] (same element size), one element at a time
        return (0,)

    def reference_f32(self, op, g, inputs):
        x = np.asarray(inputs[0], dtype=np.float32)
        return [np.where(x > 0, x, x * np.float32(op.attrs["alpha"])).astype(np.float32)]

    def emit_f32(self, op, g, ctx):
        alpha = c_float(op.attrs["alpha"])
        return (f"edgec_leaky_relu_f32({g.t(op.inputs[0]).size}, {alpha}, {ctx.ptr(op.inputs[0])}, "
                f"{ctx.ptr(op.outputs[0])});")


def _c_int32(v: int) -> str:
    return "(-2147483647 - 1)" if int(v) == -(2**31) else str(int(v))
