"""SOFTMAX_CROSS_ENTROPY (training graphs only): the loss of a classifier and its gradient, in float32.

    m = max_k z_k;  e_k = expf(z_k - m);  s = sum_{k asc} e_k
    g_k = e_k / s - [k == label]                  (dL/dz: softmax minus one-hot)
    loss = log(s) - (z_label - m)                 (= -log softmax(z)_label)

expf is edgec's own float32 exp (runtime/edgec_train.h, numpy twin toolchain/train/update.py expf), so g is the
same bits on the host, on every core and in numpy; the loss, which feeds nothing, goes through libm's logf (host
and newlib may differ in its last bit) and is compared with a tolerance. A label outside [0, K) subtracts no
one-hot term (edgec train checks the labels before; the C never indexes out of bounds).
Inputs: logits float32 [1, K], label int32 [1]. Outputs: loss float32 [1], g_logits float32 [1, K].
"""

from __future__ import annotations

import numpy as np

from ..train.update import expf
from .base import Operator, Quantization, register
from .clamp_mask import TRAINING_ONLY


def softmax_cross_entropy(z: np.ndarray, label: int) -> tuple[np.float32, np.ndarray]:
    """(loss, gradient) of one sample's logits, float32 operations in the C's order."""
    f = np.float32
    z = np.asarray(z, f).reshape(-1)
    m = z.max()
    e = expf((z - m).astype(f))
    s = f(0)
    for v in e:  # sequential, as the C loop
        s = f(s + v)
    g = (e / s).astype(f)
    inside = 0 <= label < z.size
    if inside:
        g[label] = f(g[label] - f(1))
    loss = f(np.log(np.float64(s)) - np.float64(f(z[label] - m) if inside else f(0)))
    return loss, g


@register
class SoftmaxCrossEntropy(Operator):
    type = "softmax_cross_entropy"
    kernel = "softmax_cross_entropy_f32"
    kernel_f32 = "softmax_cross_entropy_f32"
    constraints: list = []

    fuses_activation = False
    patch_kind = None
    quantization = Quantization()
    not_exportable = TRAINING_ONLY
    backward = None  # the start of the backward pass: its output g_logits is dL/dz

    def infer_shape(self, op, g):
        return [(1,), g.t(op.inputs[0]).shape]

    def reference(self, op, g, inputs):
        z, label = inputs[0], inputs[1]
        assert z is not None and label is not None
        loss, grad = softmax_cross_entropy(z, int(np.asarray(label).reshape(-1)[0]))
        return [np.array([loss], np.float32), grad.reshape(g.t(op.outputs[1]).shape)]

    def reference_f32(self, op, g, inputs):
        return self.reference(op, g, inputs)

    def emit(self, op, g, ctx):
        classes = g.t(op.inputs[0]).size
        return (f"edgec_softmax_cross_entropy_f32({classes}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[1])}, "
                f"{ctx.ptr(op.outputs[0])}, {ctx.ptr(op.outputs[1])});")

    def emit_f32(self, op, g, ctx):
        return self.emit(op, g, ctx)
