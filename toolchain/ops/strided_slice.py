"""STRIDED_SLICE (TFLite) with constant begin, end and strides, int8, int16 or float32 (values are copied: no
arithmetic).

TFLite Micro's rules (strided_slice_common.cc, and the StartForAxis / StopForAxis index logic), per axis d of size n
with stride s != 0:
    start = begin[d]; with begin_mask bit d: the lowest int (s > 0) or the highest (s < 0);
            if start < 0: start += n;   clamp to [0, n] (s > 0) or [-1, n - 1] (s < 0)
    stop  = start + 1 when shrink_axis_mask bit d is set (the axis is then dropped from the output); otherwise
            end[d], with end_mask bit d: the highest int (s > 0) or the lowest (s < 0); if stop < 0: stop += n;
            clamp to [0, n] (s > 0) or [-1, n - 1] (s < 0)
    size  = max(0, ceil((stop - start) / s))
    y[i_0, ...] = x[start_0 + i_0 * s_0, ...]
The ellipsis and new-axis masks and the `offset` option are not honoured by TFLite Micro (it zeroes the first two);
the importer refuses them. Once resolved, the slice is SLICE's (ops/slice.py): at most 6 loops with signed element
strides through the input, run by runtime/slice.c. Cost: one load and one store per output element.
"""

from __future__ import annotations

import numpy as np

from ..c_emit import c_list
from .base import Operator, Quantization, register, same_quant
from .slice import MAX_RANK, slice_loops, slice_types

INT_MAX, INT_MIN = 2**31 - 1, -(2**31)


def _clamp(v: int, lo: int, hi: int) -> int:
    return hi if v > hi else lo if v < lo else v


def resolve(shape, attrs) -> tuple[list[int], list[int], list[int], list[bool]]:
    """(start, step, size, shrunk) per input axis, by TFLite Micro's rules (the module docstring)."""
    starts, steps, sizes, shrunk = [], [], [], []
    for d, n in enumerate(shape):
        s = int(attrs["strides"][d])
        start = int(attrs["begin"][d])
        if attrs["begin_mask"] >> d & 1:
            start = INT_MIN if s > 0 else INT_MAX
        if start < 0:
            start += n
        start = _clamp(start, 0, n) if s > 0 else _clamp(start, -1, n - 1)
        shrink = bool(attrs["shrink_axis_mask"] >> d & 1)
        if shrink:
            stop = start + 1
        else:
            stop = int(attrs["end"][d])
            if attrs["end_mask"] >> d & 1:
                stop = INT_MAX if s > 0 else INT_MIN
            if stop < 0:
                stop += n
            stop = _clamp(stop, 0, n) if s > 0 else _clamp(stop, -1, n - 1)
        size = max(0, -((start - stop) // s)) if s else 0  # ceil((stop - start) / s), exact in integers
        starts.append(start)
        steps.append(s)
        sizes.append(size)
        shrunk.append(shrink)
    return starts, steps, sizes, shrunk


def strided_window(op, g) -> bool:
    """the input has 1 to 6 dimensions; begin, end and strides give one value per input dimension; every stride is
    non-zero and every resolved slice is non-empty and inside the input"""
    x = g.t(op.inputs[0]).shape
    a = op.attrs
    if not 1 <= len(x) <= MAX_RANK or not len(a.get("begin", [])) == len(a.get("end", [])) == len(
            a.get("strides", [])) == len(x):
        return False
    if any(int(s) == 0 for s in a["strides"]):
        return False
    starts, steps, sizes, _ = resolve(x, a)
    return all(size >= 1 and 0 <= b < n and 0 <= b + (size - 1) * s < n
               for b, s, size, n in zip(starts, steps, sizes, x))


def strided_slice_types(op, g) -> bool:
    """input and output are both int8 (or both int16) with the same scale and zero point (a slice copies values,
    it does not rescale), or both float32"""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    return slice_types(op, g) or (x.dtype == y.dtype == "int16" and same_quant(x.quant, y.quant))


@register
class StridedSlice(Operator):
    type = "strided_slice"
    kernel = "slice"  # runtime/slice.c: SLICE's strided copy
    kernel_f32 = "slice"
    constraints = [strided_window, strided_slice_types]
    constraints_f32 = [strided_window, slice_types]
    s16_twin = False  # int16 (16x8): the same copy, edgec_slice_s16

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="same_as_input")
    not_exportable = None
    backward = None  # no gradient rule yet

    def export_tflite(self, op, g, w, ins):
        a = op.attrs
        begin = w.int32(f"{op.name}/begin", [int(v) for v in a["begin"]])
        end = w.int32(f"{op.name}/end", [int(v) for v in a["end"]])
        strides = w.int32(f"{op.name}/strides", [int(v) for v in a["strides"]])
        return "STRIDED_SLICE", [ins[0], begin, end, strides], "StridedSliceOptions", dict(
            beginMask=int(a["begin_mask"]), endMask=int(a["end_mask"]), shrinkAxisMask=int(a["shrink_axis_mask"]))

    def infer_shape(self, op, g):
        _, _, sizes, shrunk = resolve(g.t(op.inputs[0]).shape, op.attrs)
        return [tuple(n for n, s in zip(sizes, shrunk) if not s)]

    def _window(self, op, g):
        starts, steps, sizes, _ = resolve(g.t(op.inputs[0]).shape, op.attrs)
        return starts, steps, sizes

    def reference(self, op, g, inputs):
        x = np.asarray(inputs[0])
        starts, steps, sizes = self._window(op, g)
        index = tuple(np.arange(n) * s + b for b, s, n in zip(starts, steps, sizes))
        return [np.ascontiguousarray(x[np.ix_(*index)]).reshape(g.t(op.outputs[0]).shape)]

    def reference_f32(self, op, g, inputs):
        return self.reference(op, g, inputs)

    def _emit(self, op, g, ctx, suffix: str) -> str:
        starts, steps, sizes = self._window(op, g)
        offset, shape, stride = slice_loops(tuple(g.t(op.inputs[0]).shape), starts, steps, tuple(sizes))
        params = ctx.params_struct(op, "edgec_slice_params", dict(offset=offset, shape=c_list(shape),
                                                                  stride=c_list(stride)))
        return f"edgec_slice_{suffix}(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def emit(self, op, g, ctx):  # int8, or int16 (s16_twin False: this method serves both)
        return self._emit(op, g, ctx, "s16" if g.t(op.inputs[0]).dtype == "int16" else "s8")

    def emit_f32(self, op, g, ctx):
        return self._emit(op, g, ctx, "f32")

    def macs(self, op, g):
        return 0
