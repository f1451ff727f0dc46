"""CLAMP_MASK (training graphs only): the 1-bit mask of where an int8 layer's output clamp let the gradient through.

    bit e = act_min < q[e] < act_max           (e: element index in row-major order)
    byte e >> 3, bit e & 7 (least significant first); ceil(n / 8) bytes

The mask is PyTorch's gradient of ReLU / ReLU6 / hardtanh on the int8 grid (strict at both ends: an output at the
clamp passes no gradient), and the straight-through rule of the int8 saturation of a layer without activation.
It is computed in the forward pass, right after the layer (toolchain/train/graph.py), so the int8 output itself
need not be kept for the backward pass: 1 bit per element instead of 8 (the "few-bit backward" of ReLU-like
clamps, which is exact for them). act_min / act_max come from the producer's params (its fused activation).
"""

from __future__ import annotations

import numpy as np

from .base import Operator, Quantization, is_half, register

TRAINING_ONLY = "a training-graph op (edgec train): it has no TFLite form"


def mask_bytes(size: int) -> int:
    return (size + 7) // 8


def pack_mask(passes: np.ndarray) -> np.ndarray:
    """bool array -> the packed bytes (row-major, least significant bit first)."""
    return np.packbits(np.asarray(passes, bool).reshape(-1), bitorder="little")


def unpack_mask(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """The packed bytes -> a bool array of `shape`."""
    n = int(np.prod(shape, dtype=np.int64))
    return np.unpackbits(np.asarray(mask, np.uint8), bitorder="little")[:n].astype(bool).reshape(shape)


@register
class ClampMask(Operator):
    type = "clamp_mask"
    kernel = "clamp_mask"
    constraints: list = []

    fuses_activation = False
    patch_kind = None
    quantization = Quantization()
    not_exportable = TRAINING_ONLY
    backward = None  # the mask is an input of backward ops; nothing flows through it

    def infer_shape(self, op, g):
        return [(mask_bytes(g.t(op.inputs[0]).size),)]

    def reference(self, op, g, inputs):
        q = np.asarray(inputs[0]).astype(np.int32)
        return [pack_mask((q > op.attrs["act_min"]) & (q < op.attrs["act_max"]))]

    def emit(self, op, g, ctx):
        fields = dict(size=g.t(op.inputs[0]).size, act_min=op.attrs["act_min"], act_max=op.attrs["act_max"])
        params = ctx.params_struct(op, "edgec_clamp_mask_params", fields)
        return f"edgec_clamp_mask(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"


def masked_gradient(b, tensor: str) -> str:
    """The gradient of int8 tensor `tensor` after its producer's clamp: an APPLY_MASK op (mask_of(tensor) on
    grad_of(tensor)); the rules of add, relu and average pooling start with it."""
    out = b.new_tensor(f"{tensor}/grad_masked", b.g.t(tensor).shape)
    b.add_op("apply_mask", [b.grad_of(tensor), b.mask_of(tensor)], [out])
    return out


@register
class ApplyMask(Operator):
    """APPLY_MASK (training graphs): g_out[e] = bit e of the mask ? g[e] : 0.0f (the backward of a clamp)."""

    type = "apply_mask"
    kernel = "clamp_mask"
    kernel_f32 = "clamp_mask"
    constraints: list = []

    fuses_activation = False
    patch_kind = None
    quantization = Quantization()
    not_exportable = TRAINING_ONLY
    backward = None

    def in_place_inputs(self, op, g):
        """Element e of the output reads element e of the gradient only: it may overwrite the gradient."""
        return (0,)

    def reference(self, op, g, inputs):
        grad = np.asarray(inputs[0], np.float32)
        passes = unpack_mask(np.asarray(inputs[1]), grad.shape)
        return [np.where(passes, grad, np.float32(0)).astype(np.float32)]

    reference_f32 = reference

    def emit(self, op, g, ctx):
        fn = "edgec_apply_mask_f16" if is_half(g, op.outputs[0]) else "edgec_apply_mask"  # fp16 gradients
        return (f"{fn}({g.t(op.inputs[0]).size}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[1])}, "
                f"{ctx.ptr(op.outputs[0])});")

    emit_f32 = emit
