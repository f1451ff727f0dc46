"""SUM (TFLite) over a constant set of axes, int8 or float32 (TFLite Micro: reduce_common.cc EvalSumHelper).

int8 takes TFLite Micro's integer mean-or-sum path with the division left out (no 1/n folded into the multiplier):
    sum      = sum of the raw int8 values over the reduced axes                    (int32, wrapping)
    n        = number of values per output;   M, shift = QuantizeMultiplier(s_x / s_y)   (double ratio)
    y        = clamp(zp_y + MBQM(wrap32(sum - zp_x * n), M, shift), -128, 127)
(MBQM: MultiplyByQuantizedMultiplier, rounding half away from zero in the doubling high multiply, then a rounding
right shift.) This is exactly MEAN's integer formula (ops/mean.py) with M, shift unadapted, so SUM runs the same
kernel, runtime/mean_s8.c, with its count n and the plain multiplier. Cost: one add per input value, one
requantization per output value.

float32: y = 0.0f + x_0 + x_1 + ... in row-major order of the reduced axes, one float accumulator per output
(TFLite Micro's ReduceGeneric adds each input into its output in the input's row-major order, the same order).
It runs runtime/mean_f32.c with count 1: the final sum / 1.0f is exact, so the result is the plain sum,
bit-identical to TFLite Micro.

The axes must be a constant input (the importer refuses a computed one); keep_dims keeps the reduced axes as 1s.
"""

from __future__ import annotations

import numpy as np

from ..c_emit import c_list
from ..fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier, wrap_int32
from .base import register
from .mean import Mean, mean_loops, resolved_axes


@register
class Sum(Mean):
    type = "sum"
    kernel = "mean_s8"  # MEAN's integer kernel: sum, centre by zp_x * n, requantize (the multiplier has no 1/n)
    kernel_f32 = "mean_f32"  # with count 1: the plain float sum
    kernel_s16 = None  # MEAN's 16x8 twin is not tested as a SUM: int16 SUM is refused by name
    not_exportable = None
    backward = None  # type: ignore[assignment]  # no gradient rule yet (MEAN's is for means only)

    def export_tflite(self, op, g, w, ins):
        axes = w.int32(f"{op.name}/axes", [int(a) for a in op.attrs.get("axes", [])])
        return "SUM", [ins[0], axes], "ReducerOptions", dict(keepDims=bool(op.attrs.get("keep_dims", False)))

    def prepare(self, op, g):
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        count = int(np.prod([x.shape[a] for a in resolved_axes(op, g)], dtype=np.int64))
        m, shift = quantize_multiplier(float(np.float64(x.scale) / np.float64(y.scale)))
        op.params.update(count=count, input_zero_point=x.zero_point, output_zero_point=y.zero_point,
                         multiplier=m, shift=shift, rounding=0)

    def reference(self, op, g, inputs):
        p = op.params
        x = np.asarray(inputs[0]).astype(np.int64)
        total = wrap_int32(x.sum(axis=tuple(resolved_axes(op, g)), keepdims=True))
        shifted = wrap_int32(total - p["input_zero_point"] * p["count"])
        y = wrap_int32(multiply_by_quantized_multiplier(shifted, p["multiplier"], p["shift"]) + p["output_zero_point"])
        return [np.clip(y, -128, 127).astype(np.int8).reshape(g.t(op.outputs[0]).shape)]

    def reference_f32(self, op, g, inputs):
        """one float32 accumulator per output, adding the reduced values in row-major order (as the C does)"""
        x = np.asarray(inputs[0], dtype=np.float32)
        axes = resolved_axes(op, g)
        kept = [d for d in range(x.ndim) if d not in axes]
        # move the kept axes first, flatten the reduced ones in their row-major order, then add column by column
        cols = np.transpose(x, kept + sorted(axes)).reshape(int(np.prod([x.shape[d] for d in kept])), -1)
        acc = np.zeros(cols.shape[0], np.float32)
        for j in range(cols.shape[1]):
            acc = (acc + cols[:, j]).astype(np.float32)
        return [acc.reshape(g.t(op.outputs[0]).shape)]

    def emit_f32(self, op, g, ctx):
        out_shape, out_stride, red_shape, red_stride = mean_loops(tuple(g.t(op.inputs[0]).shape),
                                                                  resolved_axes(op, g))
        fields = dict(out_shape=c_list(out_shape), out_stride=c_list(out_stride), red_shape=c_list(red_shape),
                      red_stride=c_list(red_stride), count=1)
        params = ctx.params_struct(op, "edgec_mean_f32_params", fields)
        return f"edgec_mean_f32(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"
