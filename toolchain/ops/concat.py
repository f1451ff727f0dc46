"""CONCATENATION on int8 (TFLite Micro concatenation.cc, reference_ops::Concatenation): any rank, any axis.

TFLM's int8 kernel does not rescale: its Prepare requires every input to have exactly the output's scale and
zero point (and a NONE fused activation, at most 10 inputs, at most 6 dimensions), then copies bytes. edgec
enforces the same rules as constraints, so a model TFLM would refuse is refused here too.
"""

from __future__ import annotations

import numpy as np

from .base import Operator, Quantization, register, same_quant
from .float_common import all_float32

MAX_INPUTS = 10  # kMaxInputNum
MAX_RANK = 6  # RuntimeShape::kMaxSmallSize


def _axis(op, g) -> int:
    rank = len(g.t(op.outputs[0]).shape)
    axis = int(op.attrs.get("axis", 0))
    return axis + rank if axis < 0 else axis


def concat_int8(op, g) -> bool:
    """inputs and output are int8 (or all int16: a 16x8 model's concatenation copies them the same way)"""
    dtypes = {g.t(t).dtype for t in [*op.inputs, *op.outputs] if t is not None}
    return dtypes in ({"int8"}, {"int16"})


def concat_same_quant(op, g) -> bool:
    """every input has the output's scale and zero point (TFLM's int8 concatenation does not rescale)"""
    y = g.t(op.outputs[0]).quant
    return all(same_quant(g.t(t).quant, y) for t in op.inputs if t is not None)


def concat_no_activation(op, g) -> bool:
    """fused activation is NONE"""
    return op.attrs.get("activation", "NONE") == "NONE"


def concat_inputs(op, g) -> bool:
    """1 to 10 inputs, none missing"""
    return 1 <= len(op.inputs) <= MAX_INPUTS and all(t is not None for t in op.inputs)


def concat_shapes(op, g) -> bool:
    """inputs have the output's rank (at most 6) and agree with it on every dimension but the axis"""
    y = g.t(op.outputs[0]).shape
    if len(y) > MAX_RANK or not 0 <= _axis(op, g) < max(len(y), 1):
        return False
    axis = _axis(op, g)
    return all(t is not None and len(g.t(t).shape) == len(y)
               and all(a == b for k, (a, b) in enumerate(zip(g.t(t).shape, y)) if k != axis) for t in op.inputs)


@register
class Concat(Operator):
    type = "concat"
    kernel = "concat_s8"
    constraints = [concat_int8, concat_inputs, concat_shapes, concat_same_quant, concat_no_activation]
    s16_twin = False  # int16: the same byte copies, chunks counted in bytes (emit)

    fuses_activation = False
    patch_kind = None
    # TFLite's CONCATENATION copies bytes: one quantization for the output and every input
    quantization = Quantization(output="shared_by_inputs")
    not_exportable = None
    backward = None  # no gradient rule yet

    def export_tflite(self, op, g, w, ins):
        return "CONCATENATION", ins, "ConcatenationOptions", dict(axis=int(op.attrs.get("axis", 0)),
                                                                  fusedActivationFunction=w.activation(op))

    def infer_shape(self, op, g):
        y = list(g.t(op.inputs[0]).shape)
        axis = _axis(op, g)
        y[axis] = sum(g.t(t).shape[axis] for t in op.inputs)
        return [tuple(y)]

    def reference(self, op, g, inputs):
        dtype = g.t(op.outputs[0]).dtype
        return [np.concatenate([np.asarray(x) for x in inputs], axis=_axis(op, g)).astype(dtype)]

    def emit(self, op, g, ctx):
        y = g.t(op.outputs[0])
        axis = _axis(op, g)
        outer = int(np.prod(y.shape[:axis], dtype=np.int64))
        inner = int(np.prod(y.shape[axis + 1:], dtype=np.int64))
        size = 2 if y.dtype == "int16" else 1  # int16: the same kernel moves 2 bytes an element
        chunks = np.array([g.t(t).shape[axis] * inner * size for t in op.inputs], dtype=np.int32)
        fields = dict(outer=outer, num_inputs=len(op.inputs), chunk=ctx.const_array(op, "chunk", chunks))
        params = ctx.params_struct(op, "edgec_concat_s8_params", fields)
        if size == 1:
            ptrs = ", ".join(ctx.ptr(t) for t in op.inputs)
            out = ctx.ptr(op.outputs[0])
        else:
            ptrs = ", ".join(f"(const int8_t *){ctx.ptr(t)}" for t in op.inputs)
            out = f"(int8_t *){ctx.ptr(op.outputs[0])}"
        return (f"{{ const int8_t *const inputs[{len(op.inputs)}] = {{{ptrs}}};\n"
                f"      edgec_concat_s8(&{params}, inputs, {out}); }}")

    # ---- float32: a copy, as int8 (chunks counted in elements) ------------------------------------------------
    kernel_f32 = "concat_f32"
    constraints_f32 = [all_float32, concat_inputs, concat_shapes, concat_no_activation]

    def reference_f32(self, op, g, inputs):
        return [np.concatenate([np.asarray(x, dtype=np.float32) for x in inputs], axis=_axis(op, g))]

    def emit_f32(self, op, g, ctx):
        y = g.t(op.outputs[0])
        axis = _axis(op, g)
        inner = int(np.prod(y.shape[axis + 1:], dtype=np.int64))
        chunks = np.array([g.t(t).shape[axis] * inner for t in op.inputs], dtype=np.int32)
        fields = dict(outer=int(np.prod(y.shape[:axis], dtype=np.int64)), num_inputs=len(op.inputs),
                      chunk=ctx.const_array(op, "chunk", chunks))
        params = ctx.params_struct(op, "edgec_concat_f32_params", fields)
        ptrs = ", ".join(ctx.ptr(t) for t in op.inputs)
        return (f"{{ const float *const inputs[{len(op.inputs)}] = {{{ptrs}}};\n"
                f"      edgec_concat_f32(&{params}, inputs, {ctx.ptr(op.outputs[0])}); }}")
