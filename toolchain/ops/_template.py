"""NEG (an example): y = -x, elementwise. A new operator's whole module, to copy to ops/<name>.py and fill in.

int8, one scale for input and output: q_y = clamp(zp_y - (q_x - zp_x), -128, 127), exact (no rescale).

This file registers nothing: the ops package loader skips it (like base and window), and the class below has no
`@register`. A real op module starts with a docstring like this one: the maths, exactly as the runtime computes it
(the formula with its rounding and saturation, the reference implementation it matches), so a reader can check the
numpy reference and the C kernel against it.

Everything a new operator touches (docs/architecture.md, "Adding an operator"):
  1. this module: the class with its facts, constraints, shape rule, prepare, numpy reference, C emitter;
  2. its kernel, runtime/<kernel>.c and .h (and runtime/<kernel_f32>.c for float32);
  3. the importer mapping(s): importers/tflite.py (`@tflite_op`) and/or the ONNX importer, which set every
     attribute the op reads (the op takes no defaults of its own: frameworks disagree on them);
  4. its test, tests/host/test_op_<name>.py (oneop.run_three_ways: TFLM, numpy and C agree, and the model
     exports back to the same IR through export_tflite).
"""

from __future__ import annotations

import numpy as np

from .base import Operator, Quantization, io_int8, per_tensor_activations

# ---- constraints: predicates (op, graph) -> bool; the docstring is the rule the user reads when it fails ----------


def same_shape(op, g) -> bool:
    """the output has the input's shape"""
    return g.t(op.inputs[0]).shape == g.t(op.outputs[0]).shape


def same_scale(op, g) -> bool:
    """the input and the output have one scale (the kernel negates without rescaling)"""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    return x.quant is not None and y.quant is not None and np.array_equal(x.quant.scale, y.quant.scale)


# @register   <- a real op module decorates its class (this template must not add an op to the registry)
class Neg(Operator):
    type = "neg"  # the IR op type, REGISTRY's key; the importers produce ops of this type
    kernel = "neg_s8"  # runtime/neg_s8.c and .h, copied into the output folder when a graph uses the op
    kernel_f32 = None  # runtime/<name>.c for float32 graphs; None: the op refuses float32 (check() says so)
    constraints = [io_int8, per_tensor_activations, same_shape, same_scale]
    constraints_f32: list = []

    # ---- the facts the rest of the compiler reads (ops/base.py documents each; every one must be declared:
    # tests/host/test_op_facts.py fails for a registered op that leaves one UNDECLARED) -------------------------

    #: passes.fuse_activations may fold a following RELU/RELU6/RELU_N1_TO_1 into the op's `activation` attribute:
    #: True only when the kernel clamps its output to activation_range (and the op has fused_activation_supported)
    fuses_activation = False
    #: patch-based inference (patch.py): "window" (a sliding window over input 0; define window_size), "unary"
    #: (elementwise over one input of the output's shape; the kernel is a size and a flat loop), "binary"
    #: (elementwise with numpy broadcasting, edgec_broadcast.h), or None: never inside a patch stage
    patch_kind = "unary"
    #: the quantizer's rule (quantizer.py): output "calibrated" | "same_as_input" | "fixed" (with fixed=(scale,
    #: zero point)) | "shared_by_inputs"; weight_axis: the per-channel axis of a constant weight input 1, else None
    quantization = Quantization(output="calibrated")
    #: None when export_tflite below writes the op into a .tflite; otherwise the reason it cannot be written,
    #: e.g. not_exportable = "TFLite has no NEG_FOO builtin" (then define no export_tflite)
    not_exportable = None
    #: the gradient rule of the training path; None: no gradient rule yet
    backward = None

    def export_tflite(self, op, g, w, ins):
        """(builtin, TFLite input indices, options table or None, options): `ins` are the file's tensor indices of
        the op's inputs; w.int32(name, values) adds a constant input (a shape, axes...), w.activation(op) and
        w.padding(op) give the schema's codes; an instance TFLite cannot hold raises w.Unsupported(reason)."""
        return "NEG", ins, None, {}

    # ---- shapes, compile-time constants, maths -------------------------------------------------------------------

    def infer_shape(self, op, g):
        """The output shapes from the input shapes and attrs (checked against the model's own)."""
        return [g.t(op.inputs[0]).shape]

    def prepare(self, op, g):
        """Compile time: every integer constant the C needs goes into op.params (multipliers, shifts, clamps)."""
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        op.params.update(input_offset=-x.zero_point, output_offset=y.zero_point)

    def reference(self, op, g, inputs):
        """numpy, the same integer maths as the C kernel (bit-exact)."""
        p = op.params
        x = np.asarray(inputs[0]).astype(np.int64)
        return [np.clip(p["output_offset"] - (x + p["input_offset"]), -128, 127).astype(np.int8)]

    def emit(self, op, g, ctx):
        """The C statement of this layer: a const parameter struct in flash and one kernel call."""
        x, p = g.t(op.inputs[0]), op.params
        params = ctx.params_struct(op, "edgec_neg_s8_params", dict(size=x.size, input_offset=p["input_offset"],
                                                                   output_offset=p["output_offset"]))
        return f"edgec_neg_s8(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def macs(self, op, g):
        return 0  # no multiplies (reports count multiply-accumulates)

    # ---- memory (docs/memory.md) ---------------------------------------------------------------------------------

    def in_place_inputs(self, op, g):
        # the kernel reads input[i] before it writes output[i] (same element size): it may overwrite its input
        return (0,)
