"""EXP (TFLite): y = e^x elementwise, float32 (TFLite Micro: exp.cc, std::exp on each float).

The C kernel calls the C library's expf once per element (cost: one expf). TFLite Micro on the host calls the same
glibc expf, so the generated C is bit-identical to it there (tested); on a microcontroller the toolchain's libm
(newlib, ...) may round differently, by an ULP or so (docs/numerics.md's float32 tolerance). The numpy reference
rounds the float64 exponential to float32 (correctly rounded, which glibc's expf also is in practice).
TFLite Micro has no int8 EXP kernel (its Prepare accepts float32 only), so there is no reference to match for
int8: edgec refuses an int8 EXP (build with `--dtype float32`).
"""

from __future__ import annotations

import numpy as np

from .base import Operator, Quantization, register, shape_of_first_input
from .float_common import all_float32
from .layer_norm import float32_only


def same_shape(op, g) -> bool:
    """the output has the input's shape"""
    return g.t(op.inputs[0]).shape == g.t(op.outputs[0]).shape


@register
class Exp(Operator):
    type = "exp"
    kernel = None
    constraints = [float32_only]
    kernel_f32 = "exp_f32"
    constraints_f32 = [all_float32, same_shape]

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="calibrated")
    not_exportable = None
    backward = None  # no gradient rule yet

    def export_tflite(self, op, g, w, ins):
        return "EXP", ins, None, {}

    infer_shape = shape_of_first_input

    def reference_f32(self, op, g, inputs):
        x = np.asarray(inputs[0], dtype=np.float64)
        with np.errstate(over="ignore"):
            return [np.exp(x).astype(np.float32)]

    def emit_f32(self, op, g, ctx):
        return f"edgec_exp_f32({g.t(op.inputs[0]).size}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def in_place_inputs(self, op, g):
        return (0,)
