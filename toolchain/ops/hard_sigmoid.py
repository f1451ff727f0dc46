"""HardSigmoid (ONNX; TFLite has no builtin for it): y = max(0, min(1, alpha * x + beta)), attrs alpha, beta.

float32: t = alpha * x + beta in float32 (one multiply, one add, no fused multiply-add), then the clamp, as
onnxruntime computes it.
int8: there is no TFLite kernel to be bit-exact with, so edgec defines the result as the correctly rounded one.
An int8 input has only 256 values: at compile time each gets its output,
    table[q + 128] = clamp(zp_y + round_half_away(hard_sigmoid(s_x * (q - zp_x)) / s_y), -128, 127)
(exact rational maths on the float parameters), and the C kernel is a table lookup. That is the exact real function
quantized once, so it is at least as accurate as any fixed-point rescale-and-clamp and never off by more than half
an output step.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from .base import Operator, Quantization, io_int8, per_tensor_activations, register, shape_of_first_input
from .float_common import all_float32, c_float


def _alpha_beta(op) -> tuple[float, float]:
    return float(op.attrs.get("alpha", 0.2)), float(op.attrs.get("beta", 0.5))


def alpha_beta_finite(op, g) -> bool:
    """alpha and beta are finite numbers"""
    return bool(np.all(np.isfinite(np.array(_alpha_beta(op), dtype=np.float32))))


def hard_sigmoid_table(op, g) -> np.ndarray:
    """The int8 output of every int8 input, indexed by q + 128, in exact rational arithmetic on the float
    values of alpha, beta and the scales (so ties round half away from zero exactly, with no float64 error)."""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    alpha, beta = (Fraction(v) for v in _alpha_beta(op))
    s_x, s_y = Fraction(float(x.scale)), Fraction(float(y.scale))
    table = []
    for q in range(-128, 128):
        real = min(Fraction(1), max(Fraction(0), alpha * s_x * (q - x.zero_point) + beta))
        steps = real / s_y
        table.append(y.zero_point + math.floor(steps + Fraction(1, 2)))  # steps >= 0: half away from zero
    return np.clip(np.array(table), -128, 127).astype(np.int8)


@register
class HardSigmoid(Operator):
    type = "hard_sigmoid"
    infer_shape = shape_of_first_input
    kernel = "hard_sigmoid_s8"
    kernel_f32 = "hard_sigmoid_f32"
    constraints = [io_int8, per_tensor_activations, alpha_beta_finite]
    constraints_f32 = [all_float32, alpha_beta_finite]

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="calibrated")
    not_exportable = "TFLite has no HARD_SIGMOID builtin"
    backward = None  # no gradient rule yet

    def prepare(self, op, g):
        op.params["table"] = hard_sigmoid_table(op, g)

    def reference(self, op, g, inputs):
        return [op.params["table"][np.asarray(inputs[0]).astype(np.int64) + 128]]

    def emit(self, op, g, ctx):
        table = ctx.const_array(op, "table", op.params["table"], ctype="int8_t")
        return (f"edgec_hard_sigmoid_s8({g.t(op.inputs[0]).size}, {table}, {ctx.ptr(op.inputs[0])}, "
                f"{ctx.ptr(op.outputs[0])});")

    def in_place_inputs(self, op, g):
        # both kernels read input[i] before they write output[i] (same element size), one element at a time
        return (0,)

    def reference_f32(self, op, g, inputs):
        alpha, beta = (np.float32(v) for v in _alpha_beta(op))
        t = np.asarray(inputs[0], dtype=np.float32) * alpha + beta
        return [np.where(t < 0, np.float32(0), np.where(t > 1, np.float32(1), t)).astype(np.float32)]

    def emit_f32(self, op, g, ctx):
        alpha, beta = (c_float(v) for v in _alpha_beta(op))
        return (f"edgec_hard_sigmoid_f32({g.t(op.inputs[0]).size}, {alpha}, {beta}, {ctx.ptr(op.inputs[0])}, "
                f"{ctx.ptr(op.outputs[0])});")
