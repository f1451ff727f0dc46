"""ABS on int8 (TFLite Micro elementwise.cc: PrepareAbsRsqrt / AbsEvalQuantized) and float32; ONNX Abs.

int8, v = |x - zp_x| (0..255, an int32):
    y = clamp(zp_y + v, -128, 127)                           s_x == s_y (compared as float32): no rescale
    y = clamp(zp_y + MBQM(v, M, shift), -128, 127)           otherwise
    M, shift = QuantizeMultiplier(double(s_x) / double(s_y))  (the quotient in double, unlike RELU's float32)
The left shift and the add wrap around in int32, as TFLM's do on every target; the clamp follows.
float32: y = fabsf(x), one IEEE operation, bit-identical to TFLM.
"""

from __future__ import annotations

import numpy as np

from ..fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier, wrap_int32
from .base import Operator, Quantization, io_int8, per_tensor_activations, register, shape_of_first_input
from .float_common import all_float32


def _scales(op, g) -> tuple[np.float32, np.float32]:
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    return (np.float32(np.asarray(x.scale, dtype=np.float32).reshape(-1)[0]),
            np.float32(np.asarray(y.scale, dtype=np.float32).reshape(-1)[0]))


def abs_rescale_in_range(op, g) -> bool:
    """the input scale is less than 2^31 times the output scale (the rescale's left shift stays below 32)"""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    if x.quant is None or y.quant is None:
        return True
    s_x, s_y = _scales(op, g)
    return float(s_x) / float(s_y) < 2.0**31


@register
class Abs(Operator):
    type = "abs"
    infer_shape = shape_of_first_input
    kernel = "abs_s8"
    kernel_f32 = "abs_f32"
    constraints = [io_int8, per_tensor_activations, abs_rescale_in_range]
    constraints_f32 = [all_float32]

    fuses_activation = False  # TFLite's ABS has no fused activation
    patch_kind = "unary"  # one flat loop over the elements: runs on a patch's buffers unchanged
    quantization = Quantization(output="calibrated")  # |x| has its own range ([0, max |x|]), not the input's
    not_exportable = None
    backward = None  # no gradient rule yet (d|x|/dx = sign(x) when the training path lands)

    def export_tflite(self, op, g, w, ins):
        return "ABS", ins, None, {}

    def prepare(self, op, g):
        s_x, s_y = _scales(op, g)
        rescale = bool(s_x != s_y)
        m, shift = quantize_multiplier(float(s_x) / float(s_y)) if rescale else (0, 0)
        op.params.update(rescale=int(rescale), multiplier=m, shift=shift)

    def reference(self, op, g, inputs):
        p = op.params
        zx, zy = g.t(op.inputs[0]).zero_point, g.t(op.outputs[0]).zero_point
        v = np.abs(np.asarray(inputs[0]).astype(np.int64) - zx)
        scaled = multiply_by_quantized_multiplier(v, p["multiplier"], p["shift"]) if p["rescale"] else v
        return [np.clip(wrap_int32(zy + scaled), -128, 127).astype(np.int8)]

    def emit(self, op, g, ctx):
        x, y, p = g.t(op.inputs[0]), g.t(op.outputs[0]), op.params
        params = ctx.params_struct(op, "edgec_abs_s8_params", dict(
            size=x.size, input_offset=x.zero_point, output_offset=y.zero_point, rescale=p["rescale"],
            multiplier=p["multiplier"], shift=p["shift"]))
        return f"edgec_abs_s8(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def macs(self, op, g):
        return g.t(op.outputs[0]).size if op.params.get("rescale") else 0  # one rescale multiply per element

    def in_place_inputs(self, op, g):
        return (0,)  # both kernels read input[i] before they write output[i] (same element size)

    def reference_f32(self, op, g, inputs):
        return [np.abs(np.asarray(inputs[0], dtype=np.float32))]

    def emit_f32(self, op, g, ctx):
        return f"edgec_abs_f32({g.t(op.inputs[0]).size}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"
