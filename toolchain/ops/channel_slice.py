"""CHANNEL_SLICE (training graphs only): the first `channels` channels of an int8 NHWC tensor, copied.

    y[n, h, w, c] = x[n, h, w, c]        for c < channels          (y: [N, H, W, channels], x's quantization)

A conv trained over its first `channels` input channels needs only those of its input for the weight gradient
(G[o, ky, kx, i] reads x[..., i], i < channels); the input gradient needs no saved input at all. So the training
builder saves this slice, computed in the forward pass right after x's producer, instead of keeping the whole x
alive until the backward op (toolchain/train/graph.py; docs/training.md, "Only the trained channels saved").
"""

from __future__ import annotations

import numpy as np

from .base import Operator, Quantization, register
from .clamp_mask import TRAINING_ONLY


@register
class ChannelSlice(Operator):
    type = "channel_slice"
    kernel = "channel_slice_s8"
    constraints: list = []

    fuses_activation = False
    patch_kind = None
    quantization = Quantization()
    not_exportable = TRAINING_ONLY
    backward = None  # its output is read by a backward op only; no gradient flows through it

    def infer_shape(self, op, g):
        return [(*g.t(op.inputs[0]).shape[:-1], int(op.attrs["channels"]))]

    def reference(self, op, g, inputs):
        return [np.ascontiguousarray(np.asarray(inputs[0])[..., :op.attrs["channels"]])]

    def emit(self, op, g, ctx):
        x = g.t(op.inputs[0])
        return (f"edgec_channel_slice_s8({x.size // x.shape[-1]}, {x.shape[-1]}, {op.attrs['channels']}, "
                f"{ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});")
