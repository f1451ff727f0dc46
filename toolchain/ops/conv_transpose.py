"""TRANSPOSE_CONV: int8 transposed convolution with per-channel weights (TFLite Micro transpose_conv.cc,
reference_integer_ops::TransposeConv), and float32. NHWC input and output, weights [O, KH, KW, I].

Every input pixel scatters into a window of the output:
    acc[b, iy*s_h - pad_top + ky, ix*s_w - pad_left + kx, o] += (x[b, iy, ix, i] - zp_x) * w[o, ky, kx, i]
    y[o] = clamp(zp_y + MBQM(acc[o] + bias[o], M[o], shift[o]), act_min, act_max)
    M[o], shift[o] = QuantizeMultiplier(s_x * s_w[o] / s_y)        (double precision, as for CONV_2D)
TFLM scatters into an int32 scratch buffer the size of the output. The C kernel gathers instead (for each
output, the taps with (oy + pad_top - ky) divisible by s_h and in range), which needs no scratch; integer
sums do not depend on their order, and the float32 kernel visits the taps in TFLM's order (ky, kx from the
top down = input rows and columns upwards), so its sums are TFLM's too.

Padding: the output size is the output tensor's shape. SAME/VALID padding is TFLite's: the padding of a
forward convolution from the output size to out_size(padding, H_out, KH, s_h); EXPLICIT takes attrs
pad_top/pad_left (the ONNX importer's `pads`); the bottom/right padding is whatever the output size leaves.
"""

from __future__ import annotations

import numpy as np

from .base import Operator, Quantization, fused_activation_supported, io_int8, per_tensor_activations, register
from .float_common import activate, activation_fields, all_float32, float_bias, weights_const_f32
from .int8_common import bias_int32, prepare_rescale, requantize, weights_int8_symmetric
from .window import out_size, pad_before


def conv_transpose_shapes(op, g) -> bool:
    """input, weights and output are 4-D: input [N, H, W, I], weights [O, KH, KW, I], output [N, H', W', O]"""
    if len(op.inputs) < 2 or op.inputs[1] is None:
        return False
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    return (len(x.shape) == len(w.shape) == len(y.shape) == 4 and w.shape[3] == x.shape[3]
            and w.shape[0] == y.shape[3] and x.shape[0] == y.shape[0] and min(*x.shape, *w.shape, *y.shape) >= 1)


def conv_transpose_padding(op, g) -> bool:
    """padding is SAME, VALID, or EXPLICIT with pad_top and pad_left of 0 or more; strides are at least 1"""
    a = op.attrs
    if a.get("stride_h", 0) < 1 or a.get("stride_w", 0) < 1:
        return False
    if a.get("padding") == "EXPLICIT":
        return int(a.get("pad_top", -1)) >= 0 and int(a.get("pad_left", -1)) >= 0
    return a.get("padding") in ("SAME", "VALID")


def transpose_pads(op, g) -> tuple[int, int]:
    """(pad_top, pad_left) as TFLM's Prepare computes them from the output size (ComputePaddingHeightWidth)."""
    a = op.attrs
    if a["padding"] == "EXPLICIT":
        return int(a["pad_top"]), int(a["pad_left"])
    w, y = g.t(op.inputs[1]), g.t(op.outputs[0])
    pads = []
    for size, k, s in ((y.shape[1], w.shape[1], a["stride_h"]), (y.shape[2], w.shape[2], a["stride_w"])):
        pads.append(pad_before(size, out_size(a["padding"], size, k, s), k, s))
    return pads[0], pads[1]


def scatter(x: np.ndarray, w: np.ndarray, op, g, dtype) -> np.ndarray:
    """sum over taps of x[b, iy, ix, :] . w[o, ky, kx, :] placed at (iy*s_h - pad_top + ky, ...), cropped to
    the output: the transposed convolution's accumulators [N, H', W', O] in `dtype`."""
    a, p = op.attrs, op.params
    s_h, s_w = a["stride_h"], a["stride_w"]
    n, h, wd, _ = x.shape
    o, kh, kw, _ = w.shape
    _, oh, ow, _ = g.t(op.outputs[0]).shape
    big_h = max((h - 1) * s_h + kh, p["pad_top"] + oh)
    big_w = max((wd - 1) * s_w + kw, p["pad_left"] + ow)
    acc = np.zeros((n, big_h, big_w, o), dtype=dtype)
    for ky in range(kh):
        for kx in range(kw):
            acc[:, ky:ky + (h - 1) * s_h + 1:s_h, kx:kx + (wd - 1) * s_w + 1:s_w, :] += np.einsum(
                "nyxi,oi->nyxo", x, w[:, ky, kx, :])
    return acc[:, p["pad_top"]:p["pad_top"] + oh, p["pad_left"]:p["pad_left"] + ow, :]


@register
class ConvTranspose(Operator):
    type = "conv_transpose"
    kernel = "conv_transpose_s8"
    kernel_f32 = "conv_transpose_f32"
    constraints = [io_int8, per_tensor_activations, conv_transpose_shapes, weights_int8_symmetric, bias_int32,
                   fused_activation_supported, conv_transpose_padding]
    constraints_f32 = [all_float32, conv_transpose_shapes, weights_const_f32, fused_activation_supported,
                       conv_transpose_padding]

    # an imported fused activation runs, but fuse_activations does not fold a separate RELU into it
    fuses_activation = False
    patch_kind = None
    # weights [out_c, k_h, k_w, in_c]: one scale per output channel
    quantization = Quantization(output="calibrated", weight_axis=0)
    not_exportable = None
    backward = None  # no gradient rule yet

    def export_tflite(self, op, g, w, ins):
        # TRANSPOSE_CONV's inputs: the output shape (an int32 constant), the weights, the input, the bias
        a = op.attrs
        shape = w.int32(f"{op.name}/output_shape", g.t(op.outputs[0]).shape)
        return "TRANSPOSE_CONV", [shape, ins[1], ins[0], *ins[2:]], "TransposeConvOptions", dict(
            padding=w.padding(op), strideH=a["stride_h"], strideW=a["stride_w"],
            fusedActivationFunction=w.activation(op))

    def prepare(self, op, g):
        self.prepare_f32(op, g)
        prepare_rescale(op, g)

    def prepare_f32(self, op, g):
        pad_top, pad_left = transpose_pads(op, g)
        op.params.update(pad_top=pad_top, pad_left=pad_left)

    def reference(self, op, g, inputs):
        x, w = inputs[0], inputs[1]
        bias = inputs[2] if len(inputs) > 2 else None
        assert x is not None and w is not None
        acc = scatter(x.astype(np.int64) + op.params["input_offset"], w.astype(np.int64), op, g, np.int64)
        if bias is not None:
            acc = acc + bias.astype(np.int64)
        return [requantize(acc, op, g)]

    def reference_f32(self, op, g, inputs):
        # sums in float64, rounded once (float_common's convention): the C's float32 sums are within rounding
        x, w = inputs[0], inputs[1]
        bias = inputs[2] if len(inputs) > 2 else None
        assert x is not None and w is not None
        acc = scatter(x.astype(np.float64), w.astype(np.float64), op, g, np.float64)
        if bias is not None:
            acc = acc + bias.astype(np.float64)
        return [activate(op, acc)]

    def _fields(self, op, g, ctx) -> dict:
        x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        a, p = op.attrs, op.params
        return dict(batches=x.shape[0], in_h=x.shape[1], in_w=x.shape[2], in_c=x.shape[3],
                    out_h=y.shape[1], out_w=y.shape[2], out_c=y.shape[3], k_h=w.shape[1], k_w=w.shape[2],
                    stride_h=a["stride_h"], stride_w=a["stride_w"], pad_top=p["pad_top"], pad_left=p["pad_left"],
                    weights=ctx.ptr(op.inputs[1]), bias=float_bias(op, ctx))

    def emit(self, op, g, ctx):
        p = op.params
        fields = self._fields(op, g, ctx)
        fields.update(input_offset=p["input_offset"], output_offset=p["output_offset"], act_min=p["act_min"],
                      act_max=p["act_max"], multiplier=ctx.const_array(op, "multiplier", p["multiplier"]),
                      shift=ctx.const_array(op, "shift", p["shift"]))
        params = ctx.params_struct(op, "edgec_conv_transpose_s8_params", fields)
        return f"edgec_conv_transpose_s8(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def emit_f32(self, op, g, ctx):
        fields = self._fields(op, g, ctx)
        fields.update(activation_fields(op))
        params = ctx.params_struct(op, "edgec_conv_transpose_f32_params", fields)
        return f"edgec_conv_transpose_f32(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def macs(self, op, g):
        x, w = g.t(op.inputs[0]), g.t(op.inputs[1])
        return x.size * w.shape[0] * w.shape[1] * w.shape[2]

