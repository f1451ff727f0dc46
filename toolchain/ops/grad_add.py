"""GRAD_ADD (training graphs, fp16 gradients): the sum of two gradient contributions of one tensor (a tensor read by
two ops, e.g. a residual add's input), stored in fp16: g = half(float(a) + float(b)), one float32 add per element,
rounded to nearest even once at the store (runtime/grad_add_f16.c, edgec_train.h's conversions). With float32
gradients the training builder sums with a float32 ADD instead (toolchain/train/graph.py), so the float32 step is
unchanged."""

from __future__ import annotations

import numpy as np

from .base import Operator, Quantization, register


@register
class GradAdd(Operator):
    """GRAD_ADD: g[e] = a[e] + b[e] in float32 (a and b fp16-stored gradients of the same shape), stored in fp16."""

    type = "grad_add"
    kernel = "grad_add_f16"
    kernel_f32 = "grad_add_f16"
    constraints: list = []

    fuses_activation = False
    patch_kind = None
    quantization = Quantization()
    not_exportable = "a training-graph op (edgec train): it has no TFLite form"
    backward = None

    def in_place_inputs(self, op, g):
        """Element e of the sum reads element e of each input only: it may overwrite either."""
        return (0, 1)

    def reference(self, op, g, inputs):
        f = np.float32
        return [(np.asarray(inputs[0], f) + np.asarray(inputs[1], f)).astype(f)]

    reference_f32 = reference

    def emit(self, op, g, ctx):
        return (f"edgec_grad_add_f16({g.t(op.outputs[0]).size}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[1])}, "
                f"{ctx.ptr(op.outputs[0])});")

    emit_f32 = emit
