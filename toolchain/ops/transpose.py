"""TRANSPOSE (TFLite Micro transpose.cc, reference_ops::Transpose): permute the dimensions, int8 or float32.

    y[i_0, ..., i_{r-1}] = x[j]   with j[perm[k]] = i_k        (y.shape[k] = x.shape[perm[k]])

No arithmetic: bytes move, so int8 is exact by construction and the quantization must be the same on both
sides. At compile time the output's dimensions become at most 6 loops, each with the element stride it walks
in the input; unit dimensions are dropped and an output dimension is folded into the next inner one when the
input is contiguous across both (e.g. NHWC -> NCHW of an 8x8x3 image is 2 loops, [3, 64] with strides
[1, 3]). The C kernel is one fixed 6-deep loop nest over those.
"""

from __future__ import annotations

import numpy as np

from ..c_emit import c_list
from .base import Operator, Quantization, register, same_quant

MAX_RANK = 6  # TFLM accepts 1-D to 5-D; edgec's loop nest takes 6


def _perm(op, g) -> list[int]:
    rank = len(g.t(op.inputs[0]).shape)
    perm = op.attrs.get("perm")
    return list(reversed(range(rank))) if perm is None else [int(p) for p in perm]  # ONNX's default: reverse


def transpose_perm_valid(op, g) -> bool:
    """perm is a permutation of the input's dimensions, the input has 1 to 6 dimensions, and the output's
    shape is the input's shape permuted"""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    perm = _perm(op, g)
    if not 1 <= len(x.shape) <= MAX_RANK or sorted(perm) != list(range(len(x.shape))):
        return False
    return tuple(y.shape) == tuple(x.shape[p] for p in perm)


def transpose_types(op, g) -> bool:
    """input and output are both int8 (or both int16) with the same scale and zero point (a transpose moves
    values, it does not rescale), or both float32"""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    if x.dtype == y.dtype == "float32":
        return True
    return x.dtype == y.dtype and x.dtype in ("int8", "int16") and same_quant(x.quant, y.quant)


def transpose_loops(in_shape: tuple[int, ...], perm: list[int], rank: int = MAX_RANK) -> tuple[list[int], list[int]]:
    """(extents, input element strides) of the loops over the output, outermost first, padded to `rank`."""
    strides = [int(np.prod(in_shape[d + 1:], dtype=np.int64)) for d in range(len(in_shape))]
    loops: list[list[int]] = []  # innermost first while building
    for k in reversed(range(len(perm))):
        n, s = in_shape[perm[k]], strides[perm[k]]
        if n == 1:
            continue
        if loops and s == loops[-1][1] * loops[-1][0]:
            loops[-1][0] *= n  # the input is contiguous across this dimension and the inner loop: one loop
        else:
            loops.append([n, s])
    loops += [[1, 0]] * (rank - len(loops))
    loops.reverse()
    return [lp[0] for lp in loops], [lp[1] for lp in loops]


@register
class Transpose(Operator):
    type = "transpose"
    kernel = "transpose"
    kernel_f32 = "transpose"
    constraints = [transpose_perm_valid, transpose_types]
    s16_twin = False  # int16 (16x8): the same moves, edgec_transpose_s16
    constraints_f32 = [transpose_perm_valid, transpose_types]

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="same_as_input")
    not_exportable = None
    backward = None  # no gradient rule yet

    def export_tflite(self, op, g, w, ins):
        rank = len(g.t(op.inputs[0]).shape)
        perm = op.attrs.get("perm")
        perm = list(reversed(range(rank))) if perm is None else [int(p) for p in perm]
        return "TRANSPOSE", [ins[0], w.int32(f"{op.name}/perm", perm)], "TransposeOptions", {}

    def infer_shape(self, op, g):
        x = g.t(op.inputs[0])
        return [tuple(x.shape[p] for p in _perm(op, g))]

    def reference(self, op, g, inputs):
        x = inputs[0]
        assert x is not None
        return [np.ascontiguousarray(np.transpose(x, _perm(op, g)))]

    def reference_f32(self, op, g, inputs):
        return self.reference(op, g, inputs)

    def _emit(self, op, g, ctx, suffix: str) -> str:
        shape, stride = transpose_loops(tuple(g.t(op.inputs[0]).shape), _perm(op, g))
        params = ctx.params_struct(op, "edgec_transpose_params", dict(shape=c_list(shape), stride=c_list(stride)))
        return f"edgec_transpose_{suffix}(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def emit(self, op, g, ctx):  # int8, or int16 (s16_twin False: this method serves both)
        return self._emit(op, g, ctx, "s16" if g.t(op.inputs[0]).dtype == "int16" else "s8")

    def emit_f32(self, op, g, ctx):
        return self._emit(op, g, ctx, "f32")
