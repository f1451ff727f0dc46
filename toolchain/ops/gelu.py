"""GELU (TFLite's GELU builtin, ONNX Gelu, and the x * 0.5 * (1 + erf(x / sqrt 2)) chain older exporters write),
float32, elementwise:
    exact:        y = 0.5 * x * (1 + erff(x * (1 / sqrt 2)))
    approximate:  y = 0.5 * x * (1 + tanhf(sqrt(2 / pi) * (x + 0.044715 * x^3)))       (ONNX approximate="tanh")
Cost per element: one erff (or tanhf) and 3 (approximate: 6) multiplies or adds.
TFLite Micro has no GELU kernel (TFLite's int8 GELU is a 256-entry table, not in TFLM): float32 only.
"""

from __future__ import annotations

import math

import numpy as np

from .base import Operator, Quantization, register, shape_of_first_input
from .float_common import all_float32
from .layer_norm import float32_only

_erf = np.vectorize(math.erf, otypes=[np.float64])


def same_shape(op, g) -> bool:
    """the output has the input's shape"""
    return g.t(op.inputs[0]).shape == g.t(op.outputs[0]).shape


@register
class Gelu(Operator):
    type = "gelu"
    kernel = None
    constraints = [float32_only]

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="calibrated")
    not_exportable = None
    backward = None  # no gradient rule yet

    def export_tflite(self, op, g, w, ins):
        return "GELU", ins, "GeluOptions", dict(approximate=bool(op.attrs.get("approximate")))

    infer_shape = shape_of_first_input

    kernel_f32 = "gelu_f32"
    constraints_f32 = [all_float32, same_shape]

    def reference_f32(self, op, g, inputs):
        x = np.asarray(inputs[0], dtype=np.float64)
        if op.attrs.get("approximate"):
            y = 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
        else:
            y = 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
        return [y.astype(np.float32)]

    def emit_f32(self, op, g, ctx):
        fields = dict(size=g.t(op.inputs[0]).size, approximate=int(bool(op.attrs.get("approximate"))))
        params = ctx.params_struct(op, "edgec_gelu_f32_params", fields)
        return f"edgec_gelu_f32(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def in_place_inputs(self, op, g):
        return (0,)
