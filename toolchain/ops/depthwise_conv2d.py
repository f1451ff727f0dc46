"""DEPTHWISE_CONV_2D: int8 depthwise convolution (TFLite: DepthwiseConvPerChannel).

Output channel o = i * depth_multiplier + m sees only input channel i; weights are [1, k_h, k_w, out_c].
    acc[o] = bias[o] + sum_{ky,kx} w[ky,kx,o] * (x[iy,ix,i] - zp_x);  y[o] = clamp(zp_y + MBQM(acc[o], M[o], s[o]))
"""

from __future__ import annotations

import numpy as np

from .base import Operator, fused_activation_supported, io_int8, per_tensor_activations, register
from .conv2d import (
    bias_int32,
    conv_kernel_fields,
    conv_output_shape,
    padded_windows,
    prepare_conv,
    requantize,
    weights_int8_symmetric,
)
from .window import valid_padding_attr


def multiplier_matches_channels(op, g) -> bool:
    """output channels = input channels x depth multiplier, weights shaped [1, k_h, k_w, out_c]"""
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    return w.shape[0] == 1 and w.shape[3] == y.shape[3] == x.shape[3] * op.attrs["depth_multiplier"]


@register
class DepthwiseConv2D(Operator):
    type = "depthwise_conv2d"
    kernel = "depthwise_conv2d_s8"
    constraints = [io_int8, per_tensor_activations, weights_int8_symmetric, bias_int32, fused_activation_supported,
                   valid_padding_attr, multiplier_matches_channels]

    def infer_shape(self, op, g):
        return [conv_output_shape(op, g, g.t(op.inputs[1]).shape[3])]

    def prepare(self, op, g):
        prepare_conv(op, g)

    def reference(self, op, g, inputs):
        x, w = inputs[0], inputs[1]
        bias = inputs[2] if len(inputs) > 2 else None
        assert x is not None and w is not None
        y = g.t(op.outputs[0])
        _, kh, kw, oc = w.shape
        dm = op.attrs["depth_multiplier"]
        win = padded_windows(x.astype(np.int64) + op.params["input_offset"], op, kh, kw, y.shape[1], y.shape[2], 0)
        win = np.repeat(win, dm, axis=-1)  # input channel i feeds outputs i*dm .. i*dm+dm-1
        acc = np.einsum("nyxhwc,hwc->nyxc", win, w[0].astype(np.int64))
        if bias is not None:
            acc = acc + bias.astype(np.int64)
        return [requantize(acc, op, g)]

    def emit(self, op, g, ctx):
        fields = conv_kernel_fields(op, g, ctx)
        fields["depth_multiplier"] = op.attrs["depth_multiplier"]
        params = ctx.params_struct(op, "edgec_depthwise_conv2d_s8_params", fields)
        return f"edgec_depthwise_conv2d_s8(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def macs(self, op, g):
        w, y = g.t(op.inputs[1]), g.t(op.outputs[0])
        return y.size * w.shape[1] * w.shape[2]
