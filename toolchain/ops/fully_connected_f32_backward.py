"""FULLY_CONNECTED_F32_BACKWARD (training graphs): the float32 classifier head's gradient and SGD step.

The head of a training graph (toolchain/train/graph.py) is float32: logits y = W x + b with x the dequantized
features. For a batch of B rows (B = 1 on the device), with g_y = dL/dy:
    g_x[b, i] = sum_{o asc} W[o, i] * g_y[b, o]              (with the weights BEFORE this step's update)
    W[o, i]  = W[o, i] + (sum_{b asc} g_y[b, o] * x[b, i]) * neg_lr
    bias[o]  = bias[o] + (sum_{b asc} g_y[b, o]) * neg_lr           neg_lr = float32(-lr)
float32 operations in that order, sums from 0.0f (the C is built with -ffp-contract=off): numpy and C agree bit
for bit. Inputs: x, g_y, W (mutable), bias (mutable); outputs: [g_x] when a layer below is trained, else [].
With momentum M > 0 (--momentum) two more inputs, the velocities vW [out_c, depth] and vb [out_c] (mutable,
zero at the start), and the updates become (edgec_fully_connected_f32_backward_momentum)
    vW[o, i] = M * vW[o, i] + (sum_{b asc} g_y[b, o] * x[b, i]) * neg_lr;   W[o, i] = W[o, i] + vW[o, i]
    vb[o]    = M * vb[o] + (sum_{b asc} g_y[b, o]) * neg_lr;                bias[o] = bias[o] + vb[o]
(the step first, then M * v, then their sum: PyTorch's SGD keeps v' = M v' + G and moves w by -lr v'; with a
constant lr, v = -lr v' exactly in real numbers, so the two are the same method.)
The reference updates the W and bias arrays it is given in place (the training executor passes the live ones).
"""

from __future__ import annotations

import numpy as np

from .base import Operator, Quantization, is_half, register
from .clamp_mask import TRAINING_ONLY


def head_forward(x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """The head's forward pass exactly as runtime/fully_connected_f32.c computes it: per output, the sum over the
    depth in ascending order in one float32 from 0.0f, then the bias (the float reference of FULLY_CONNECTED sums
    in float64, which is close but not the same bits; training needs the same bits)."""
    f = np.float32
    out_c, depth = w.shape
    x2 = np.asarray(x, f).reshape(-1, depth)
    acc = np.zeros((x2.shape[0], out_c), f)
    for d in range(depth):
        acc = (acc + (x2[:, d:d + 1] * w[:, d][None, :]).astype(f)).astype(f)
    return (acc + bias[None, :]).astype(f)


def head_backward(op, g, b) -> None:
    """The gradient rule of the float32 head (FullyConnected's rule for a float32 layer)."""
    x, w, bias = op.inputs[0], op.inputs[1], op.inputs[2]
    outputs = []
    if b.needs_grad(x):
        outputs = [b.grad_tensor_for(x)]
    inputs = [x, b.grad_of(op.outputs[0]), b.param(w), b.param(bias)]
    attrs = {"lr": b.lr}
    momentum = float(getattr(b, "momentum", 0.0))
    if momentum:
        attrs["momentum"] = momentum
        inputs += [b.state(f"{w}/velocity", np.zeros(g.t(w).shape, np.float32)),
                   b.state(f"{bias}/velocity", np.zeros(g.t(bias).shape, np.float32))]
    b.add_op("fully_connected_f32_backward", inputs, outputs, attrs)
    if outputs:
        b.add_grad(x, outputs[0])


@register
class FullyConnectedF32Backward(Operator):
    type = "fully_connected_f32_backward"
    kernel = "fully_connected_f32_backward"
    kernel_f32 = "fully_connected_f32_backward"
    constraints: list = []

    fuses_activation = False
    patch_kind = None
    quantization = Quantization()
    not_exportable = TRAINING_ONLY
    backward = None

    def infer_shape(self, op, g):
        return [g.t(op.inputs[0]).shape] if op.outputs else []

    def prepare(self, op, g):
        op.params["neg_lr"] = float(np.float32(-op.attrs["lr"]))
        op.params["momentum"] = float(np.float32(op.attrs.get("momentum", 0.0)))

    prepare_f32 = prepare

    def reference(self, op, g, inputs):
        f = np.float32
        x, gy, w, bias = inputs[:4]
        assert x is not None and gy is not None and w is not None and bias is not None
        out_c, depth = w.shape
        x2, g2 = np.asarray(x, f).reshape(-1, depth), np.asarray(gy, f).reshape(-1, out_c)
        outs = []
        if op.outputs:
            s = np.zeros((x2.shape[0], depth), f)
            for o in range(out_c):
                s = (s + (w[o][None, :] * g2[:, o:o + 1]).astype(f)).astype(f)
            outs.append(s.reshape(g.t(op.outputs[0]).shape))
        neg_lr = f(op.params["neg_lr"])
        gw = np.zeros((out_c, depth), f)
        gb = np.zeros(out_c, f)
        for r in range(x2.shape[0]):
            gw = (gw + (g2[r][:, None] * x2[r][None, :]).astype(f)).astype(f)
            gb = (gb + g2[r]).astype(f)
        step_w, step_b = (gw * neg_lr).astype(f), (gb * neg_lr).astype(f)
        if len(inputs) > 4:  # momentum: v = M * v + step, the parameter moves by v
            vw, vb = inputs[4], inputs[5]
            m = f(op.params["momentum"])
            vw[...] = ((m * vw).astype(f) + step_w).astype(f)
            vb[...] = ((m * vb).astype(f) + step_b).astype(f)
            step_w, step_b = vw, vb
        w[...] = (w + step_w).astype(f)
        bias[...] = (bias + step_b).astype(f)
        return outs

    reference_f32 = reference

    def emit(self, op, g, ctx):
        w = g.t(op.inputs[2])
        rows = g.t(op.inputs[0]).size // w.shape[1]
        gx = ctx.ptr(op.outputs[0]) if op.outputs else "NULL"
        half = "_f16" if op.outputs and is_half(g, op.outputs[0]) else ""  # g_x stored in fp16
        if len(op.inputs) > 4:
            return (f"edgec_fully_connected_f32_backward_momentum{half}({rows}, {w.shape[1]}, {w.shape[0]}, "
                    f"{op.params['neg_lr']!r}f, {op.params['momentum']!r}f, {ctx.ptr(op.inputs[0])}, "
                    f"{ctx.ptr(op.inputs[1])}, {ctx.ptr(op.inputs[2])}, {ctx.ptr(op.inputs[3])}, "
                    f"{ctx.ptr(op.inputs[4])}, {ctx.ptr(op.inputs[5])}, {gx});")
        return (f"edgec_fully_connected_f32_backward{half}({rows}, {w.shape[1]}, {w.shape[0]}, "
                f"{op.params['neg_lr']!r}f, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[1])}, "
                f"{ctx.ptr(op.inputs[2])}, {ctx.ptr(op.inputs[3])}, {gx});")

    emit_f32 = emit

    def macs(self, op, g):
        w = g.t(op.inputs[2])
        rows = g.t(op.inputs[0]).size // w.shape[1]
        return rows * w.size * (2 if op.outputs else 1)
