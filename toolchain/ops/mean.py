"""MEAN on int8 over any set of axes (TFLite Micro: reduce_common.cc EvalMeanHelper -> QuantizedMeanOrSum), and
on int16 (16x8: the same path, QuantizedMeanOrSum<int16_t>, with zero points 0 and an int16 clamp).

TFLite Micro sends every int8 MEAN down one path, whatever the axes and keep_dims (the float-only Mean4D
special case for axes {1, 2} does not apply to int8):
    sum      = sum of the raw int8 values over the reduced axes                    (int32, wrapping)
    n        = number of values per mean;   k = min(floor(log2 n), 32, 31 + shift)
    M', s'   = (M * 2^k) / n  (truncating),  shift - k      where M, shift = QuantizeMultiplier(s_x / s_y)
    y        = clamp(zp_y + MBQM(sum - zp_x * n, M', s'), -128, 127)
so the division by n is folded into the multiplier at compile time; M' keeps about 31 significant bits.

With attrs["rounding"] == "onnxruntime" (the ONNX importer sets it on a quantized GlobalAveragePool, which
onnxruntime runs as QLinearGlobalAveragePool) the rescale is onnxruntime's instead: the float32 scale
s_x / (s_y * float32(n)), a float32 multiply and ties to even, emulated in integers (fixedpoint.requantize_float32).

At compile time the input is folded into at most 4 kept loops (the output, in order) and 4 reduced loops,
each with an input element stride: merging neighbouring dimensions of the same kind that are contiguous.
"""

from __future__ import annotations

import numpy as np

from ..c_emit import c_list
from ..fixedpoint import (
    float32_parts,
    multiply_by_quantized_multiplier,
    quantize_multiplier,
    requantize_float32,
    wrap_int32,
)
from .base import Operator, Quantization, io_int8, is_half, per_tensor_activations, register
from .float_common import all_float32
from .int16_common import io_int16

MAX_RANK = 6
LOOPS = 4  # kept and reduced loops each: with rank <= 8, alternating kinds never need more


def resolved_axes(op, g) -> list[int]:
    """The reduced axes, non-negative and without duplicates, in the order given (TFLite's ResolveAxis)."""
    rank = len(g.t(op.inputs[0]).shape)
    out: list[int] = []
    for a in op.attrs.get("axes", []):
        a = a + rank if a < 0 else a
        if a not in out:
            out.append(a)
    return out


def axes_in_range(op, g) -> bool:
    """every axis is within the input's rank (-rank <= axis < rank)"""
    rank = len(g.t(op.inputs[0]).shape)
    return all(-rank <= int(a) < rank for a in op.attrs.get("axes", []))


def rank_at_most_6(op, g) -> bool:
    """the input has at most 6 dimensions"""
    return len(g.t(op.inputs[0]).shape) <= MAX_RANK


def mean_multiplier(s_in: float, s_out: float, count: int) -> tuple[int, int]:
    """QuantizeMultiplier(s_in / s_out) with 1/count folded in, exactly as QuantizedMeanOrSum adapts it."""
    m, shift = quantize_multiplier(float(np.float64(s_in) / np.float64(s_out)))
    k = min(count.bit_length() - 1, 32, 31 + shift)  # bit_length - 1 = 63 - CountLeadingZeros(count)
    return (m << k) // count, shift - k


def mean_loops(shape: tuple[int, ...], axes: list[int]) -> tuple[list[int], list[int], list[int], list[int]]:
    """(kept extents, kept strides, reduced extents, reduced strides), outermost first, LOOPS each.

    Extent-1 dimensions are dropped; a dimension folds into the next inner loop of the same kind when the walk
    stays contiguous (stride_outer == stride_inner * extent_inner), e.g. (1,7,7,16) over [1,2] becomes kept [16]
    (stride 1) and reduced [49] (stride 16).
    """
    loops: list[list] = []  # [extent, stride, reduced], innermost first while building
    stride = 1
    for i in reversed(range(len(shape))):
        n, reduced = shape[i], i in axes
        if n != 1:
            last = loops[-1] if loops else None
            if last is not None and last[2] == reduced and stride == last[1] * last[0]:
                last[0] *= n
            else:
                loops.append([n, stride, reduced])
        stride *= n
    loops.reverse()
    kept = [lp for lp in loops if not lp[2]]
    red = [lp for lp in loops if lp[2]]
    assert len(kept) <= LOOPS and len(red) <= LOOPS, f"mean over {axes} of {shape} needs too many loops"
    kept = [[1, 0, False]] * (LOOPS - len(kept)) + kept
    red = [[1, 0, True]] * (LOOPS - len(red)) + red
    return [lp[0] for lp in kept], [lp[1] for lp in kept], [lp[0] for lp in red], [lp[1] for lp in red]


def global_pool_gradient(op, g, b, grad: str) -> None:
    """g_x = grad / (H W), broadcast over H and W, for an op averaging a 4-D NHWC x over H and W (MEAN over axes
    1 and 2; a global AVERAGE_POOL_2D)."""
    from ..errors import TrainingError

    x = op.inputs[0]
    shape = g.t(x).shape
    if len(shape) != 4 or g.t(op.outputs[0]).size != shape[0] * shape[3]:
        raise TrainingError(f"{op.type} (node {op.name!r}): gradients are implemented for a global average over "
                            f"H and W of an NHWC tensor only (input {list(shape)})")
    if b.needs_grad(x):
        gx = b.grad_tensor_for(x)
        b.add_op("mean_backward", [grad], [gx])
        b.add_grad(x, gx)


@register
class MeanBackward(Operator):
    """MEAN_BACKWARD (training graphs): g_x[n, h, w, c] = g_y[n, c] * inv_count, inv_count = float32(1 / (H W))."""

    type = "mean_backward"
    kernel = "mean_backward_f32"
    kernel_f32 = "mean_backward_f32"
    constraints: list = []

    fuses_activation = False
    patch_kind = None
    quantization = Quantization()
    not_exportable = "a training-graph op (edgec train): it has no TFLite form"
    backward = None

    def prepare(self, op, g):
        n, h, w, c = g.t(op.outputs[0]).shape
        op.params["inv_count"] = float(np.float32(1.0 / (h * w)))

    prepare_f32 = prepare

    def reference(self, op, g, inputs):
        n, h, w, c = g.t(op.outputs[0]).shape
        gy = np.asarray(inputs[0], np.float32).reshape(n, 1, 1, c)
        return [np.broadcast_to((gy * np.float32(op.params["inv_count"])).astype(np.float32), (n, h, w, c)).copy()]

    reference_f32 = reference

    def emit(self, op, g, ctx):
        n, h, w, c = g.t(op.outputs[0]).shape
        fn = "edgec_mean_backward_f16" if is_half(g, op.outputs[0]) else "edgec_mean_backward_f32"  # fp16 gradients
        return (f"{fn}({n}, {h * w}, {c}, {op.params['inv_count']!r}f, {ctx.ptr(op.inputs[0])}, "
                f"{ctx.ptr(op.outputs[0])});")

    emit_f32 = emit


def tflite_rounding(op, g) -> bool:
    """TFLite's rescale (not onnxruntime's QLinearGlobalAveragePool rounding, an int8-only form)"""
    return op.attrs.get("rounding") != "onnxruntime"


@register
class Mean(Operator):
    type = "mean"
    kernel = "mean_s8"
    constraints = [io_int8, per_tensor_activations, axes_in_range, rank_at_most_6]

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="calibrated")
    not_exportable = None

    def backward(self, op, g, b):
        """Real units: y = mean of x over H and W, so g_x[n, h, w, c] = g_y[n, c] / (H W) (MEAN_BACKWARD); the
        int8 output's rounding and saturation pass the gradient straight through. Means over other axes: no rule
        yet."""
        global_pool_gradient(op, g, b, b.grad_of(op.outputs[0]))

    def export_tflite(self, op, g, w, ins):
        axes = w.int32(f"{op.name}/axes", [int(a) for a in op.attrs.get("axes", [])])
        return "MEAN", [ins[0], axes], "ReducerOptions", dict(keepDims=bool(op.attrs.get("keep_dims", False)))

    def infer_shape(self, op, g):
        shape = g.t(op.inputs[0]).shape
        axes = resolved_axes(op, g)
        if op.attrs.get("keep_dims", False):
            return [tuple(1 if i in axes else d for i, d in enumerate(shape))]
        return [tuple(d for i, d in enumerate(shape) if i not in axes)]

    def prepare(self, op, g):
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        count = int(np.prod([x.shape[a] for a in resolved_axes(op, g)], dtype=np.int64))
        rounding = 1 if op.attrs.get("rounding") == "onnxruntime" else 0
        if rounding:  # onnxruntime: float32(s_x / float32(s_y * float32(n))) = m * 2^e
            f32 = np.float32
            scale = f32(f32(x.scale) / f32(f32(y.scale) * f32(count)))
            ms, es = float32_parts(np.asarray([scale]))
            m, shift = int(ms[0]), int(es[0])
        else:
            m, shift = mean_multiplier(x.scale, y.scale, count)
        op.params.update(count=count, input_zero_point=x.zero_point, output_zero_point=y.zero_point,
                         multiplier=m, shift=shift, rounding=rounding)

    def reference(self, op, g, inputs):
        x = inputs[0]
        assert x is not None
        p = op.params
        total = wrap_int32(x.astype(np.int64).sum(axis=tuple(resolved_axes(op, g)), keepdims=True))
        shifted = wrap_int32(total - p["input_zero_point"] * p["count"])
        if p.get("rounding"):
            scaled = requantize_float32(shifted, p["multiplier"], p["shift"])
        else:
            scaled = multiply_by_quantized_multiplier(shifted, p["multiplier"], p["shift"])
        y = wrap_int32(scaled + p["output_zero_point"])
        return [np.clip(y, -128, 127).astype(np.int8).reshape(g.t(op.outputs[0]).shape)]

    def emit(self, op, g, ctx):
        p = op.params
        out_shape, out_stride, red_shape, red_stride = mean_loops(tuple(g.t(op.inputs[0]).shape),
                                                                  resolved_axes(op, g))
        fields = dict(out_shape=c_list(out_shape), out_stride=c_list(out_stride), red_shape=c_list(red_shape),
                      red_stride=c_list(red_stride), count=p["count"], input_zero_point=p["input_zero_point"],
                      output_zero_point=p["output_zero_point"], multiplier=p["multiplier"], shift=p["shift"])
        if p.get("rounding"):  # written only when set, so the C of TFLite models stays as it was
            fields["rounding"] = p["rounding"]
        params = ctx.params_struct(op, "edgec_mean_s8_params", fields)
        return f"edgec_mean_s8(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def macs(self, op, g):
        return g.t(op.inputs[0]).size

    # ---- int16 (16x8, TFLite Micro's QuantizedMeanOrSum<int16_t>): the int8 maths, zero points 0, int16 clamp --
    kernel_s16: str | None = "mean_s16"
    constraints_s16 = [io_int16, axes_in_range, rank_at_most_6, tflite_rounding]

    def prepare_s16(self, op, g):
        self.prepare(op, g)

    def reference_s16(self, op, g, inputs):
        x = inputs[0]
        assert x is not None
        p = op.params
        total = wrap_int32(x.astype(np.int64).sum(axis=tuple(resolved_axes(op, g)), keepdims=True))
        y = multiply_by_quantized_multiplier(total, p["multiplier"], p["shift"])
        return [np.clip(y, -32768, 32767).astype(np.int16).reshape(g.t(op.outputs[0]).shape)]

    def emit_s16(self, op, g, ctx):
        p = op.params
        out_shape, out_stride, red_shape, red_stride = mean_loops(tuple(g.t(op.inputs[0]).shape),
                                                                  resolved_axes(op, g))
        fields = dict(out_shape=c_list(out_shape), out_stride=c_list(out_stride), red_shape=c_list(red_shape),
                      red_stride=c_list(red_stride), multiplier=p["multiplier"], shift=p["shift"])
        params = ctx.params_struct(op, "edgec_mean_s16_params", fields)
        return f"edgec_mean_s16(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    # ---- float32: y = (sum of the reduced values, in row-major order) / count ----------------------------------
    kernel_f32 = "mean_f32"
    constraints_f32 = [all_float32, axes_in_range, rank_at_most_6]

    def reference_f32(self, op, g, inputs):
        x = np.asarray(inputs[0], dtype=np.float32).astype(np.float64)
        axes = tuple(resolved_axes(op, g))
        return [x.mean(axis=axes).astype(np.float32).reshape(g.t(op.outputs[0]).shape)]

    def emit_f32(self, op, g, ctx):
        x = g.t(op.inputs[0])
        axes = resolved_axes(op, g)
        out_shape, out_stride, red_shape, red_stride = mean_loops(tuple(x.shape), axes)
        count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        fields = dict(out_shape=c_list(out_shape), out_stride=c_list(out_stride), red_shape=c_list(red_shape),
                      red_stride=c_list(red_stride), count=count)
        params = ctx.params_struct(op, "edgec_mean_f32_params", fields)
        return f"edgec_mean_f32(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"
