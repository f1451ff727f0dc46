"""FULLY_CONNECTED: int8 matrix-vector product (TFLite: FullyConnected / FullyConnectedPerChannel).

The input is read as [batches, depth] with depth = weights.shape[1] (TFLite flattens leading dims).
    acc[b,o] = bias[o] + sum_d w[o,d] * (x[b,d] - zp_x);   y[b,o] = clamp(zp_y + MBQM(acc, M, shift))
TFLite Micro rescales with double rounding here like everywhere; LiteRT's reference FC rounds once, which is
why LiteRT and TFLM differ by 1-2 LSB on FC-heavy models (docs/numerics.md).
"""

from __future__ import annotations

import numpy as np

from .base import (
    KernelChoice,
    KernelTarget,
    Operator,
    Quantization,
    fused_activation_supported,
    io_int8,
    per_tensor_activations,
    register,
)
from .float_common import activate, activation_fields, all_float32, float_bias, weights_const_f32
from .int4_common import emit_s4, int4_weights, row_bytes
from .int8_common import bias_int32, onnxruntime_rounding, prepare_rescale, requantize, weights_int8_symmetric


def weights_are_2d(op, g) -> bool:
    """weights are a constant 2-D [out, depth] tensor and the input size is a multiple of depth"""
    w, x = g.t(op.inputs[1]), g.t(op.inputs[0])
    return w.is_const and len(w.shape) == 2 and x.size % w.shape[1] == 0


@register
class FullyConnected(Operator):
    type = "fully_connected"
    kernel = "fully_connected_s8"
    constraints = [io_int8, per_tensor_activations, weights_are_2d, weights_int8_symmetric, bias_int32,
                   fused_activation_supported]

    fuses_activation = True
    patch_kind = None
    # weights [units, in]: one scale per output unit
    quantization = Quantization(output="calibrated", weight_axis=0)
    not_exportable = None
    backward = None  # no gradient rule yet

    def export_tflite(self, op, g, w, ins):
        return "FULLY_CONNECTED", ins, "FullyConnectedOptions", dict(
            fusedActivationFunction=w.activation(op), keepNumDims=bool(op.attrs.get("keep_num_dims", False)))

    def infer_shape(self, op, g):
        x, w = g.t(op.inputs[0]), g.t(op.inputs[1])
        if op.attrs.get("keep_num_dims"):
            return [(*x.shape[:-1], w.shape[0])]
        return [(x.size // w.shape[1], w.shape[0])]

    def prepare(self, op, g):
        prepare_rescale(op, g)
        w = g.t(op.inputs[1])
        assert w.quant is not None
        op.params["per_channel"] = int(w.quant.scale.size > 1)
        if not op.params["per_channel"]:
            op.params["multiplier"] = op.params["multiplier"][:1]
            op.params["shift"] = op.params["shift"][:1]

    def reference(self, op, g, inputs):
        x, w = inputs[0], inputs[1]
        bias = inputs[2] if len(inputs) > 2 else None
        assert x is not None and w is not None
        depth = w.shape[1]
        acc = (x.astype(np.int64).reshape(-1, depth) + op.params["input_offset"]) @ w.astype(np.int64).T
        if bias is not None:
            acc = acc + bias.astype(np.int64)
        return [requantize(acc, op, g).reshape(g.t(op.outputs[0]).shape)]

    def choose_kernel(self, op, g, target: KernelTarget) -> KernelChoice | None:
        """On a core with DSP, every int8 FC: runtime/fully_connected_s8_dsp.c widens 4 inputs (minus the zero
        point) once per word and multiplies them into 4 output rows with SMLAD; no scratch."""
        if not target.dsp:
            return None
        return KernelChoice("fully_connected_s8_dsp", "edgec_fully_connected_s8_dsp",
                            f"{target.core} DSP: 4 output rows x 4 inputs per SXTB16/SMLAD block")

    def emit(self, op, g, ctx):
        x, w = g.t(op.inputs[0]), g.t(op.inputs[1])
        p = op.params
        fields = dict(batches=x.size // w.shape[1], depth=w.shape[1], out_c=w.shape[0],
                      input_offset=p["input_offset"], output_offset=p["output_offset"],
                      act_min=p["act_min"], act_max=p["act_max"], per_channel=p["per_channel"],
                      weights=ctx.ptr(op.inputs[1]),
                      bias=ctx.ptr(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] else "NULL",
                      multiplier=ctx.const_array(op, "multiplier", p["multiplier"]),
                      shift=ctx.const_array(op, "shift", p["shift"]))
        if onnxruntime_rounding(op):
            fields["rounding"] = 1  # onnxruntime's float32 rescale (int8_common.onnxruntime_rounding)
        if int4_weights(op, g):  # packed int4 weights: runtime/fully_connected_s4.c
            return emit_s4(op, g, ctx, "edgec_fully_connected_s8_params", fields)
        params = ctx.params_struct(op, "edgec_fully_connected_s8_params", fields)
        chosen = op.attrs.get("kernel_choice")  # the same parameters for the DSP kernel (FC has no patch stage)
        function = chosen["function"] if chosen else "edgec_fully_connected_s8"
        return f"{function}(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def scratch_bytes(self, op, g, *, in_place):
        return row_bytes(op, g) if int4_weights(op, g) else 0  # int4: one output's weights, unpacked

    def macs(self, op, g):
        x, w = g.t(op.inputs[0]), g.t(op.inputs[1])
        return (x.size // w.shape[1]) * w.shape[0] * w.shape[1]

    # ---- float32: y[b,o] = sum_d x[b,d] * w[o,d] (d ascending) + bias[o]; clamp ------------------------------
    kernel_f32 = "fully_connected_f32"
    constraints_f32 = [all_float32, weights_are_2d, weights_const_f32, fused_activation_supported]

    def reference_f32(self, op, g, inputs):
        x, w = inputs[0], inputs[1]
        bias = inputs[2] if len(inputs) > 2 else None
        assert x is not None and w is not None
        acc = x.astype(np.float64).reshape(-1, w.shape[1]) @ w.astype(np.float64).T
        if bias is not None:
            acc = acc + bias.astype(np.float64)
        return [activate(op, acc).reshape(g.t(op.outputs[0]).shape)]

    def emit_f32(self, op, g, ctx):
        x, w = g.t(op.inputs[0]), g.t(op.inputs[1])
        fields = dict(batches=x.size // w.shape[1], depth=w.shape[1], out_c=w.shape[0], **activation_fields(op),
                      weights=ctx.ptr(op.inputs[1]), bias=float_bias(op, ctx))
        params = ctx.params_struct(op, "edgec_fully_connected_f32_params", fields)
        return f"edgec_fully_connected_f32(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"
