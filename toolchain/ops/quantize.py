"""QUANTIZE and DEQUANTIZE (TFLite Micro quantize_common.cc, dequantize.cc; reference_ops::AffineQuantize,
Requantize, Dequantize). Both use runtime/quantize.{h,c}.

QUANTIZE float32 -> int8/int16:  q = clamp(round_half_away(x / s_q) + zp_q), x / s_q in float32 as in TFLM
QUANTIZE int8 -> int8/int16/int32, int16 -> int8/int16/int32 (requantize, integer only):
                                 q = clamp(MBQM(x - zp_x, M, shift) + zp_q),  M, shift = QuantizeMultiplier(s_x / s_q)
                                 (the quotient in double, from the float32 scales)
DEQUANTIZE int8/int16 -> float32: y = float(double(s_x) * (x - zp_x))
int16 is TFLite's 16x8 activation type: these are the conversions at the edges of a 16x8 model (or between its
int8 and int16 layers); they take any zero point, as TFLite Micro's do.
"""

from __future__ import annotations

import numpy as np

from ..fixedpoint import affine_quantize_f32, multiply_by_quantized_multiplier, quantize_multiplier, wrap_int32
from .base import Operator, Quantization, register, shape_of_first_input

QUANTIZE_TYPES = {("float32", "int8"), ("float32", "int16"), ("int8", "int8"), ("int8", "int16"), ("int8", "int32"),
                  ("int16", "int8"), ("int16", "int16"), ("int16", "int32")}
C_SUFFIX = {"float32": "f32", "int8": "s8", "int16": "s16", "int32": "s32"}


def _per_tensor(t) -> bool:
    return t.quant is not None and t.quant.scale.size == 1


def quantize_types(op, g) -> bool:
    """input -> output types are float32 -> int8/int16, or int8/int16 -> int8/int16/int32"""
    return (g.t(op.inputs[0]).dtype, g.t(op.outputs[0]).dtype) in QUANTIZE_TYPES


def quantize_quantized(op, g) -> bool:
    """the output, and an integer input, are quantized per tensor (one scale and zero point)"""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    return _per_tensor(y) and (x.dtype == "float32" or _per_tensor(x))


def rescale_in_range(op, g) -> bool:
    """an integer input's scale is less than 2^31 times the output's (the rescale's left shift stays below 32)"""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    return x.dtype == "float32" or not (_per_tensor(x) and _per_tensor(y)) or x.scale / y.scale < 2.0**31


def dequantize_types(op, g) -> bool:
    """input is int8 or int16 quantized per tensor, output is float32"""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    return x.dtype in ("int8", "int16") and _per_tensor(x) and y.dtype == "float32"


def _c_float(v: float) -> str:
    return f"{float(np.float32(v))!r}f"


def _c_int(v: int) -> str:
    return "(-2147483647 - 1)" if int(v) == -(2**31) else str(int(v))


def _range(dtype: str) -> tuple[int, int]:
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


@register
class Quantize(Operator):
    type = "quantize"
    infer_shape = shape_of_first_input
    kernel = "quantize"
    constraints = [quantize_types, quantize_quantized, rescale_in_range]
    s16_twin = False  # int16 in or out: the same maths and module (QUANTIZE_TYPES)

    fuses_activation = False
    patch_kind = "unary"  # int8 -> int8 only: region_kind takes int8 activations
    quantization = Quantization(output="calibrated")  # never quantized by edgec: a float model has none
    not_exportable = None
    backward = None  # no gradient rule yet

    def export_tflite(self, op, g, w, ins):
        return "QUANTIZE", ins, None, {}

    def prepare(self, op, g):
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        q_min, q_max = _range(y.dtype)
        op.params.update(q_min=q_min, q_max=q_max, output_offset=y.zero_point)
        if x.dtype != "float32":
            multiplier, shift = quantize_multiplier(float(np.float64(x.scale) / np.float64(y.scale)))
            op.params.update(input_offset=x.zero_point, multiplier=multiplier, shift=shift)

    def reference(self, op, g, inputs):
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        p = op.params
        if x.dtype == "float32":
            q = affine_quantize_f32(inputs[0], y.scale, y.zero_point, p["q_min"], p["q_max"])
        else:
            scaled = multiply_by_quantized_multiplier(np.asarray(inputs[0]).astype(np.int64) - p["input_offset"],
                                                      p["multiplier"], p["shift"])
            q = np.clip(wrap_int32(scaled + p["output_offset"]), p["q_min"], p["q_max"])
        return [q.astype(y.dtype)]

    def emit(self, op, g, ctx):
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        p = op.params
        fn = f"edgec_{'quantize' if x.dtype == 'float32' else 'requantize'}_{C_SUFFIX[x.dtype]}_{C_SUFFIX[y.dtype]}"
        if x.dtype == "float32":
            fields = dict(size=x.size, scale=_c_float(y.scale), zero_point=y.zero_point,
                          q_min=_c_int(p["q_min"]), q_max=_c_int(p["q_max"]))
            params = ctx.params_struct(op, "edgec_quantize_f32_params", fields)
        else:
            fields = dict(size=x.size, input_offset=p["input_offset"], output_offset=p["output_offset"],
                          multiplier=p["multiplier"], shift=p["shift"], q_min=_c_int(p["q_min"]),
                          q_max=_c_int(p["q_max"]))
            params = ctx.params_struct(op, "edgec_requantize_params", fields)
        return f"{fn}(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def in_place_inputs(self, op, g):
        # int8 -> int8 and int16 -> int16 requantize (quantize.c) read input[i] before they write output[i]; a
        # wider output would overwrite elements not yet read
        x, y = g.t(op.inputs[0]).dtype, g.t(op.outputs[0]).dtype
        return (0,) if x == y and x in ("int8", "int16") else ()


@register
class Dequantize(Operator):
    type = "dequantize"
    infer_shape = shape_of_first_input
    kernel = "quantize"
    constraints = [dequantize_types]
    s16_twin = False  # int16 in: the same maths (runtime/quantize.c's edgec_dequantize_s16_f32)

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="calibrated")  # never quantized by edgec: a float model has none
    not_exportable = None
    def backward(self, op, g, b):
        """Gradients are in real units (toolchain/train/graph.py), and dequantize is the identity on real values:
        the input's gradient is the output's."""
        if b.needs_grad(op.inputs[0]):
            b.add_grad(op.inputs[0], b.grad_of(op.outputs[0]))

    def export_tflite(self, op, g, w, ins):
        return "DEQUANTIZE", ins, None, {}

    def reference(self, op, g, inputs):
        x = g.t(op.inputs[0])
        diff = np.asarray(inputs[0]).astype(np.int64) - x.zero_point
        return [(np.float64(x.scale) * diff.astype(np.float64)).astype(np.float32)]

    def emit(self, op, g, ctx):
        x = g.t(op.inputs[0])
        fields = dict(size=x.size, scale=_c_float(x.scale), zero_point=x.zero_point)
        params = ctx.params_struct(op, "edgec_dequantize_params", fields)
        fn = f"edgec_dequantize_{C_SUFFIX[x.dtype]}_f32"
        return f"{fn}(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"
