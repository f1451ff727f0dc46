"""SLICE: a strided window of a tensor (ONNX Slice, Split and Gather by constant indices in arithmetic progression;
TFLite's STRIDED_SLICE semantics with every mask resolved), int8 or float32.

    y[i_0, ..., i_{r-1}] = x[begin_0 + i_0 * step_0, ..., begin_{r-1} + i_{r-1} * step_{r-1}]   (steps may be < 0)

No arithmetic: values are copied, so int8 needs one quantization on both sides. At compile time the output's
dimensions become at most 6 loops, each with its (signed) element stride through the input, from an element
offset; unit dimensions are dropped and a loop folds into the next inner one where the input is contiguous
across both (a slice of whole rows is one loop). Cost: one load and one store per output element.
"""

from __future__ import annotations

import numpy as np

from ..c_emit import c_list
from .base import Operator, Quantization, register, same_quant

MAX_RANK = 6


def slice_window(op, g) -> bool:
    """begin, step (non-zero) and the output's shape give, per input dimension, indices that stay inside the
    input; the input has 1 to 6 dimensions"""
    x, y = g.t(op.inputs[0]).shape, g.t(op.outputs[0]).shape
    begin, step = op.attrs.get("begin", []), op.attrs.get("step", [])
    if not 1 <= len(x) <= MAX_RANK or not len(begin) == len(step) == len(x) == len(y):
        return False
    for n, b, s, size in zip(x, begin, step, y):
        if s == 0 or size < 1 or not 0 <= b < n or not 0 <= b + (size - 1) * s < n:
            return False
    return True


def slice_types(op, g) -> bool:
    """input and output are both int8 with the same scale and zero point (a slice copies values, it does not
    rescale), or both float32"""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    if x.dtype == y.dtype == "float32":
        return True
    return x.dtype == y.dtype == "int8" and same_quant(x.quant, y.quant)


def slice_loops(in_shape: tuple[int, ...], begin: list[int], step: list[int], out_shape: tuple[int, ...]
                ) -> tuple[int, list[int], list[int]]:
    """(element offset, loop extents, signed input strides), outermost first, padded to 6 loops."""
    strides = [int(np.prod(in_shape[d + 1:], dtype=np.int64)) for d in range(len(in_shape))]
    offset = sum(b * s for b, s in zip(begin, strides))
    loops: list[list[int]] = []  # innermost first while building
    for d in reversed(range(len(in_shape))):
        n, s = out_shape[d], step[d] * strides[d]
        if n == 1:
            continue
        if loops and s == loops[-1][1] * loops[-1][0]:
            loops[-1][0] *= n  # contiguous with the inner loop: one loop
        else:
            loops.append([n, s])
    loops += [[1, 0]] * (MAX_RANK - len(loops))
    loops.reverse()
    return offset, [lp[0] for lp in loops], [lp[1] for lp in loops]


@register
class Slice(Operator):
    type = "slice"
    kernel = "slice"
    kernel_f32 = "slice"
    constraints = [slice_window, slice_types]
    constraints_f32 = [slice_window, slice_types]

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="same_as_input")
    not_exportable = None
    backward = None  # no gradient rule yet

    def export_tflite(self, op, g, w, ins):
        """TFLite's STRIDED_SLICE with no shrink: end = begin + size * step per dimension; where that end falls
        outside the dimension (a negative step down to index 0 gives -1, which TFLite would read as n - 1), the
        end_mask bit is set instead (the slice then runs to the dimension's end in the step's direction)."""
        x, y = g.t(op.inputs[0]).shape, g.t(op.outputs[0]).shape
        begin, step = [int(v) for v in op.attrs["begin"]], [int(v) for v in op.attrs["step"]]
        end, end_mask = [], 0
        for d, (n, b, s, size) in enumerate(zip(x, begin, step, y)):
            e = b + size * s
            if e < 0 or e > n:
                end_mask |= 1 << d
                e = 0
            end.append(e)
        ins = [ins[0], w.int32(f"{op.name}/begin", begin), w.int32(f"{op.name}/end", end),
               w.int32(f"{op.name}/strides", step)]
        return "STRIDED_SLICE", ins, "StridedSliceOptions", dict(beginMask=0, endMask=end_mask, shrinkAxisMask=0)

    def reference(self, op, g, inputs):
        x = np.asarray(inputs[0])
        y = g.t(op.outputs[0]).shape
        index = tuple(np.arange(y[d]) * op.attrs["step"][d] + op.attrs["begin"][d] for d in range(x.ndim))
        return [np.ascontiguousarray(x[np.ix_(*index)])]

    def reference_f32(self, op, g, inputs):
        return self.reference(op, g, inputs)

    def _emit(self, op, g, ctx, suffix: str) -> str:
        offset, shape, stride = slice_loops(tuple(g.t(op.inputs[0]).shape), op.attrs["begin"], op.attrs["step"],
                                            tuple(g.t(op.outputs[0]).shape))
        params = ctx.params_struct(op, "edgec_slice_params", dict(offset=offset, shape=c_list(shape),
                                                                  stride=c_list(stride)))
        return f"edgec_slice_{suffix}(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def emit(self, op, g, ctx):
        return self._emit(op, g, ctx, "s8")

    def emit_f32(self, op, g, ctx):
        return self._emit(op, g, ctx, "f32")
