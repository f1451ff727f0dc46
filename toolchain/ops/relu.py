"""RELU, RELU6 and RELU_N1_TO_1 on int8 (IR op `relu`, attrs lo/hi in real units, hi None = unbounded).

TFLite Micro treats them differently (activations.cc / activations_common.cc):
  RELU:  rescales input -> output:  y = clamp(zp_y + MBQM(x - zp_x, M, shift), act_min, act_max)
         M, shift = QuantizeMultiplier(double(s_x / s_y))   (the quotient is taken in float32)
         act_min = max(-128, zp_y + roundf(0 / s_y)),  act_max = 127
  RELU6: no rescale at all, the raw input is clamped with bounds from the INPUT quantization
         (even when the output's differs):  y = clamp(x, zp_x, FloatToQuantizedType(6, s_x, zp_x))
  RELU_N1_TO_1: TFLM has no kernel for it. edgec follows TFLite's (LiteRT) reference, QuantizedReluX(-1, 1):
         RELU's formula with act_min = max(-128, zp_y + roundf(-1 / s_y)), act_max = min(127, zp_y + roundf(1 / s_y)).
  Other bounds (ONNX Clip(lo, hi), either bound optional): TFLite has no op; edgec uses RELU's formula with
         act_min = zp_y + roundf(lo / s_y), act_max = zp_y + roundf(hi / s_y), each saturated to [-128, 127]
         (a missing bound is -128 or 127), so int8 Clip is RELU_N1_TO_1's kernel with other bounds.
int16 (16x8, runtime/relu_s16.c; zero points 0): RELU and RELU6 only (TFLM's int16 kernels), the same formulas on
the int16 range: RELU y = clamp(MBQM(x, M, shift), max(-32768, roundf(0 / s_y)), 32767); RELU6 y = clamp(x, 0,
min(32767, roundf(6 / s_x))).
"""

from __future__ import annotations

import numpy as np

from ..fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier, tflite_round, wrap_int32
from .base import Operator, Quantization, io_int8, per_tensor_activations, register, shape_of_first_input
from .float_common import all_float32, c_float, clamp_f32
from .int16_common import io_int16

KINDS: dict[tuple[float | None, float | None], str] = {
    (0.0, None): "RELU", (0.0, 6.0): "RELU6", (-1.0, 1.0): "RELU_N1_TO_1"}


def relu_builtin(op) -> str | None:
    """The TFLite builtin a `relu` op's bounds (attrs lo, hi) are: "RELU" (0, none), "RELU6" (0, 6) or
    "RELU_N1_TO_1" (-1, 1); None for any other bounds (an ONNX Clip), which TFLite has no operator for. The int8
    kernel follows it (RELU6 clamps without a rescale), and so do the passes that fuse a relu into the op before
    it, the quantizer (RELU6 keeps its input's quantization) and the .tflite exporter."""
    lo, hi = op.attrs.get("lo"), op.attrs.get("hi")
    return KINDS.get((None if lo is None else float(lo), None if hi is None else float(hi)))


def relu_kind(op, g) -> bool:
    """the bounds are ordered (lo <= hi, a missing bound is unbounded); RELU, RELU6 and RELU_N1_TO_1 run as
    TFLite runs them, other bounds (ONNX Clip) with TFLite's RELU formula: rescale, then clamp to the bounds
    quantized on the output's scale"""
    lo, hi = float_bounds(op)
    return bool(lo <= hi)


def _quantized_bound(value: float, y) -> int:
    """zp_y + roundf(value / s_y) (division in float32, as TFLite's Prepare), saturated to int8; an infinite
    bound, or one beyond the output's range, saturates."""
    with np.errstate(over="ignore"):
        q = float(np.float32(value) / np.float32(y.scale))
    if not np.isfinite(q):
        return -128 if q < 0 else 127
    return min(127, max(-128, y.zero_point + tflite_round(q)))


def relu_rescale_in_range(op, g) -> bool:
    """the input scale is less than 2^31 times the output scale (the rescale's left shift stays below 32)"""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    return x.quant is None or y.quant is None or float(np.float32(x.scale) / np.float32(y.scale)) < 2.0**31


def _round_quantize(value: float, scale: float) -> int:
    """roundf(value / scale) with the division in float32, as the kernels' Prepare computes it."""
    return tflite_round(float(np.float32(value) / np.float32(scale)))


def float_bounds(op) -> tuple[float, float]:
    lo, hi = op.attrs.get("lo"), op.attrs.get("hi")
    return (-np.inf if lo is None else float(lo)), (np.inf if hi is None else float(hi))


def relu_or_relu6(op, g) -> bool:
    """int16: RELU or RELU6 (TFLite Micro has no int16 RELU_N1_TO_1, and TFLite no clamp to other bounds)"""
    return relu_builtin(op) in ("RELU", "RELU6")


def bounds_ordered(op, g) -> bool:
    """the lower bound is not above the upper bound"""
    lo, hi = float_bounds(op)
    return lo <= hi


@register
class Relu(Operator):
    type = "relu"
    infer_shape = shape_of_first_input
    kernel = "relu_s8"
    constraints = [io_int8, per_tensor_activations, relu_kind, relu_rescale_in_range]

    fuses_activation = False
    patch_kind = "unary"
    quantization = Quantization(output="calibrated")  # RELU6: see quantization_for
    not_exportable = None

    def backward(self, op, g, b):
        """Real units: RELU/RELU6/RELU_N1_TO_1 pass the gradient where the int8 output is strictly inside its
        clamp (the 1-bit mask), and the rescale between the two scales is part of the real-valued identity."""
        from .clamp_mask import masked_gradient

        x = op.inputs[0]
        if b.needs_grad(x):
            b.add_grad(x, masked_gradient(b, op.outputs[0]))

    def quantization_for(self, op):
        # a RELU6 shares its input's quantization (as TFLite's converter quantizes it), other clamps calibrate
        return Quantization(output="same_as_input") if relu_builtin(op) == "RELU6" else self.quantization

    def export_tflite(self, op, g, w, ins):
        kind = relu_builtin(op)
        if kind is None:
            raise w.Unsupported(f"a clamp to [{op.attrs.get('lo')}, {op.attrs.get('hi')}] has no TFLite builtin")
        return kind, ins, None, {}

    def prepare(self, op, g):
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        kind = relu_builtin(op)
        if kind == "RELU6":
            six = min(127, max(-128, _round_quantize(6.0, x.scale) + x.zero_point))
            op.params.update(rescale=False, act_min=x.zero_point, act_max=six, multiplier=0, shift=0)
            return
        multiplier, shift = quantize_multiplier(float(np.float32(x.scale) / np.float32(y.scale)))
        # RELU, RELU_N1_TO_1 and general bounds: max(-128, zp_y + roundf(lo / s_y)), min(127, zp_y + roundf(hi / s_y))
        lo, hi = float_bounds(op)
        act_min, act_max = _quantized_bound(lo, y), _quantized_bound(hi, y)
        op.params.update(rescale=True, act_min=act_min, act_max=act_max, multiplier=multiplier, shift=shift)

    def reference(self, op, g, inputs):
        x = np.asarray(inputs[0]).astype(np.int64)
        p = op.params
        if p["rescale"]:
            zx, zy = g.t(op.inputs[0]).zero_point, g.t(op.outputs[0]).zero_point
            x = wrap_int32(multiply_by_quantized_multiplier(x - zx, p["multiplier"], p["shift"]) + zy)
        return [np.clip(x, p["act_min"], p["act_max"]).astype(np.int8)]

    def emit(self, op, g, ctx):
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        p = op.params
        fields = dict(size=x.size, input_offset=x.zero_point, output_offset=y.zero_point,
                      multiplier=p["multiplier"], shift=p["shift"], act_min=p["act_min"], act_max=p["act_max"])
        params = ctx.params_struct(op, "edgec_relu_s8_params", fields)
        fn = "edgec_relu_s8" if p["rescale"] else "edgec_clamp_s8"
        return f"{fn}(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def in_place_inputs(self, op, g):
        # relu_s8.c and relu_s16.c read input[i] before they write output[i], one element at a time
        return (0,) if io_int8(op, g) or io_int16(op, g) else ()

    # ---- int16 (16x8): RELU and RELU6 (module doc) ----------------------------------------------------------------
    kernel_s16 = "relu_s16"
    constraints_s16 = [io_int16, relu_rescale_in_range, relu_or_relu6]

    def prepare_s16(self, op, g):
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        if relu_builtin(op) == "RELU6":
            six = min(32767, max(-32768, _round_quantize(6.0, x.scale)))
            op.params.update(rescale=False, act_min=0, act_max=six, multiplier=0, shift=0)
            return
        multiplier, shift = quantize_multiplier(float(np.float32(x.scale) / np.float32(y.scale)))
        act_min = max(-32768, _round_quantize(0.0, y.scale))
        op.params.update(rescale=True, act_min=act_min, act_max=32767, multiplier=multiplier, shift=shift)

    def reference_s16(self, op, g, inputs):
        x = np.asarray(inputs[0]).astype(np.int64)
        p = op.params
        if p["rescale"]:
            x = wrap_int32(multiply_by_quantized_multiplier(x, p["multiplier"], p["shift"]))
        return [np.clip(x, p["act_min"], p["act_max"]).astype(np.int16)]

    def emit_s16(self, op, g, ctx):
        p = op.params
        fields = dict(size=g.t(op.inputs[0]).size, multiplier=p["multiplier"], shift=p["shift"],
                      act_min=p["act_min"], act_max=p["act_max"])
        params = ctx.params_struct(op, "edgec_relu_s16_params", fields)
        fn = "edgec_relu_s16" if p["rescale"] else "edgec_clamp_s16"
        return f"{fn}(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    # ---- float32: y = min(max(x, lo), hi), any bounds (ONNX Clip), None = unbounded ---------------------------
    kernel_f32 = "relu_f32"
    constraints_f32 = [all_float32, bounds_ordered]

    def reference_f32(self, op, g, inputs):
        return [clamp_f32(np.asarray(inputs[0], dtype=np.float32), *float_bounds(op))]

    def emit_f32(self, op, g, ctx):
        lo, hi = float_bounds(op)
        fields = dict(size=g.t(op.inputs[0]).size, act_min=c_float(lo), act_max=c_float(hi))
        params = ctx.params_struct(op, "edgec_relu_f32_params", fields)
        return f"edgec_relu_f32(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"
