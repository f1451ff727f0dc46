"""GELU (TFLite's GELU builtin, ONNX Gelu, and the x * 0.5 * (1 + erf(x / sqrt 2)) chain older exporters write),
float32, elementwise:
    exact:        y = 0.5 * x * (1 + erff(x * (1 / sqrt 2)))
    approximate:  y = 0.5 * x * (1 + tanhf(sqrt(2 / pi) * (x + 0.044715 * x^3)))       (ONNX approximate="tanh")
Cost per element: one erff (or tanhf) and 3 (approximate: 6) multiplies or adds.

int8 (TFLite's GELU, lite/kernels/gelu.cc: a 256-entry table built when the model is prepared), for every input
code q = -128..127:
    x  = float32(s_x) * float32(q - zp_x)                                      (float32 multiply)
    f  = exact:       float32(0.5 * x * (1 + erf(x / sqrt 2)))                 (computed in double, rounded once)
         approximate: 0.5f * x * (1 + tanhf(sqrt(2/pi)f * (x + 0.044715f * x * x * x)))   (float32 steps)
    y  = clamp(round_half_away(float32(f * float32(1 / s_y))) + zp_y, -128, 127)
edgec computes the table at compile time (numpy, below) and the C kernel (runtime/lut_s8.c) is one lookup per
element (cost: one load). TFLite Micro has no GELU kernel (its interpreter refuses the builtin): the int8 path is
bit-exact with LiteRT's reference kernel (BUILTIN_REF), the TFLite implementation of the same table; a model with
an int8 GELU is judged against LiteRT where TFLM cannot run it. int16: TFLite's GELU has no 16-bit kernel, so an
`--activations int16` build keeps GELU int8 (with int8 <-> int16 QUANTIZE around it).
"""

from __future__ import annotations

import math

import numpy as np

from .base import Operator, Quantization, io_int8, per_tensor_activations, register, shape_of_first_input
from .float_common import all_float32

_erf = np.vectorize(math.erf, otypes=[np.float64])
_tanh = np.vectorize(math.tanh, otypes=[np.float64])
F32 = np.float32


def gelu_table(s_x: float, zp_x: int, s_y: float, zp_y: int, approximate: bool) -> np.ndarray:
    """y for every int8 input q = -128..127 (index q + 128): TFLite's table (module docstring)."""
    q = np.arange(-128, 128)
    x = (F32(s_x) * (q - zp_x).astype(F32)).astype(F32)
    if approximate:
        inner = (x + F32(0.044715) * x * x * x).astype(F32)
        t = _tanh((F32(math.sqrt(2.0 / math.pi)) * inner).astype(F32).astype(np.float64)).astype(F32)
        f = (F32(0.5) * x * (F32(1.0) + t)).astype(F32)
    else:
        xd = x.astype(np.float64)
        f = (0.5 * xd * (1.0 + _erf(xd * math.sqrt(0.5)))).astype(F32)
    r = (f * (F32(1.0) / F32(s_y))).astype(F32).astype(np.float64)
    r = np.sign(r) * np.floor(np.abs(r) + 0.5)  # TfLiteRound: half away from zero
    return np.clip(r + zp_y, -128, 127).astype(np.int8)


def same_shape(op, g) -> bool:
    """the output has the input's shape"""
    return g.t(op.inputs[0]).shape == g.t(op.outputs[0]).shape


@register
class Gelu(Operator):
    type = "gelu"
    kernel = "lut_s8"
    constraints = [io_int8, per_tensor_activations]

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="calibrated")
    not_exportable = None
    backward = None  # no gradient rule yet

    def export_tflite(self, op, g, w, ins):
        return "GELU", ins, "GeluOptions", dict(approximate=bool(op.attrs.get("approximate")))

    infer_shape = shape_of_first_input

    def prepare(self, op, g):
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        op.params["table"] = gelu_table(x.scale, x.zero_point, y.scale, y.zero_point,
                                        bool(op.attrs.get("approximate")))

    def reference(self, op, g, inputs):
        q = np.asarray(inputs[0]).astype(np.int64)
        return [op.params["table"][q + 128]]

    def emit(self, op, g, ctx):
        table = ctx.const_array(op, "table", op.params["table"], "int8_t")
        return (f"edgec_lut_s8({g.t(op.inputs[0]).size}, {table}, {ctx.ptr(op.inputs[0])}, "
                f"{ctx.ptr(op.outputs[0])});")

    def macs(self, op, g):
        return 0

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
