"""RESHAPE and SQUEEZE (and any op that only renames the shape): no data moves.

The output is an alias of the input in the arena (same bytes, new shape), so the op emits no C at all;
the memory planner gives both tensors one buffer. TFLite requires identical quantization on both sides.
"""

from __future__ import annotations

import numpy as np

from ..c_text import c_comment_text
from .base import Operator, Quantization, register, same_quant


def same_size(op, g) -> bool:
    """output has as many elements as the input"""
    return g.t(op.inputs[0]).size == g.t(op.outputs[0]).size


def same_quant_or_float(op, g) -> bool:
    """input and output have the same dtype and quantization"""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    return x.dtype == y.dtype and (x.quant is None and y.quant is None or same_quant(x.quant, y.quant))


@register
class Reshape(Operator):
    type = "reshape"
    kernel = None
    alias_of_input = True
    constraints = [same_size, same_quant_or_float]
    s16_twin = False  # int16 (16x8): the same alias, no kernel

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="same_as_input")
    not_exportable = None

    def backward(self, op, g, b):
        """The gradient takes the input's shape back: a float32 RESHAPE (an alias: no data moves)."""
        x = op.inputs[0]
        if b.needs_grad(x):
            gx = b.grad_tensor_for(x)
            b.add_op("reshape", [b.grad_of(op.outputs[0])], [gx])
            b.add_grad(x, gx)

    def export_tflite(self, op, g, w, ins):
        shape = list(g.t(op.outputs[0]).shape)
        return "RESHAPE", [ins[0], w.int32(f"{op.name}/shape", shape)], "ReshapeOptions", dict(
            newShape=np.asarray(shape, np.int32))

    def reference(self, op, g, inputs):
        x = inputs[0]
        assert x is not None
        return [x.reshape(g.t(op.outputs[0]).shape)]

    # float32: the same alias, no kernel
    constraints_f32 = [same_size, same_quant_or_float]

    def reference_f32(self, op, g, inputs):
        return self.reference(op, g, inputs)

    def emit_f32(self, op, g, ctx):
        return self.emit(op, g, ctx)

    def emit(self, op, g, ctx):
        shapes = f"{g.t(op.inputs[0]).shape} -> {g.t(op.outputs[0]).shape}"
        return f"/* {c_comment_text(op.name)}: reshape {shapes}, no data moves */"
