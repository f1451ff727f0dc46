"""GRU: a gated recurrent unit over a sequence (ONNX's GRU), its hidden state h persisting between invocations
(a state tensor, ir.Tensor.state) as the LSTM's does. TFLite and TFLite Micro have no GRU builtin, so this op has
no .tflite form (`not_exportable`) and runs in float32 only (docs/recurrent.md says why it is one op and not a
lowering into FULLY_CONNECTED, LOGISTIC, TANH, MUL and ADD per step).

IR inputs (14): x, W_z, W_r, W_h (input weights [N, I]), R_z, R_r, R_h (recurrent weights [N, N]), Wb_z, Wb_r,
Wb_h (input biases [N]), Rb_z, Rb_r, Rb_h (recurrent biases [N]), h [B, N]; output y, and with `final_h` a copy of
h after the last step [B, N] (ONNX's Y_h). Gate order z (update), r (reset), h (candidate), ONNX's. x and y are
[T, B, I] / [T, B, N] when time_major, else [B, T, I] / [B, T, N]; every batch row runs its own sequence.
`reset_state` (an ONNX GRU, which restarts from a zero state on every run): h is zeroed before the sequence.
`reverse` (ONNX's reverse direction, and the backward half of a bidirectional GRU): the steps run from the last
to the first, output step t still at place t.

One step of one row, float32 (h the previous hidden state):
    z = sigma(W_z x + Wb_z + R_z h + Rb_z)
    r = sigma(W_r x + Wb_r + R_r h + Rb_r)
    linear_before_reset = 0:  c = tanh(W_h x + Wb_h + R_h (r o h) + Rb_h)
    linear_before_reset = 1:  c = tanh(W_h x + Wb_h + r o (R_h h + Rb_h))      (PyTorch's nn.GRU)
    h' = (1 - z) o c + z o h
Each sum is formed as (input product + input bias) + (recurrent product + recurrent bias), the products summed in
k order; sigma is TFLite's (1 above 16.619047, e^z below -9, else 1 / (1 + e^-z)), as the float LSTM's.
"""

from __future__ import annotations

import numpy as np

from .base import Operator, Quantization, register
from .float_common import all_float32

X, W0, R0, WB0, RB0, H = 0, 1, 4, 7, 10, 13  # the IR inputs: x, W_zrh, R_zrh, Wb_zrh, Rb_zrh, h


def _dims(op, g) -> tuple[int, int, int, int] | None:
    """(T, B, I, N) when the tensors have a GRU's shapes, else None."""
    if len(op.inputs) != 14 or any(i is None for i in op.inputs):
        return None
    x = g.t(op.inputs[X]).shape
    w = [g.t(op.inputs[k]).shape for k in range(W0, W0 + 3)]
    r = [g.t(op.inputs[k]).shape for k in range(R0, R0 + 3)]
    b = [g.t(op.inputs[k]).shape for k in range(WB0, RB0 + 3)]
    if len(x) != 3 or len(w[0]) != 2:
        return None
    t, bt = (x[0], x[1]) if op.attrs.get("time_major") else (x[1], x[0])
    n, i = w[0]
    if (x[2] != i or any(s != (n, i) for s in w) or any(s != (n, n) for s in r) or any(s != (n,) for s in b)
            or g.t(op.inputs[H]).size != bt * n):
        return None
    return t, bt, i, n


def gru_shapes(op, g) -> bool:
    """a GRU: input [T, B, I] (time_major) or [B, T, I], the three input weights [N, I], the three recurrent
    weights [N, N], the six biases [N] (input and recurrent), a hidden state of B*N elements, all present"""
    return _dims(op, g) is not None


def gru_state(op, g) -> bool:
    """the hidden state is a state tensor; weights and biases are constants"""
    return (len(op.inputs) == 14 and all(i is not None for i in op.inputs) and g.t(op.inputs[H]).state
            and all(g.t(op.inputs[k]).is_const for k in range(W0, RB0 + 3)))


def gru_float_only(op, g) -> bool:
    """float32 only: an int8 GRU is not supported (TFLite Micro has no GRU to be bit-exact with; build with
    `--dtype float32`)"""
    return False


def _sigmoid(z: np.ndarray) -> np.ndarray:
    f32 = np.float32
    with np.errstate(over="ignore"):
        return np.where(z > f32(16.619047), f32(1), np.where(z < f32(-9), np.exp(z).astype(f32),
                        (f32(1) / (f32(1) + np.exp(-z))).astype(f32))).astype(f32)


@register
class Gru(Operator):
    type = "gru"
    kernel = None
    constraints = [gru_float_only]
    kernel_f32 = "gru_f32"
    constraints_f32 = [all_float32, gru_shapes, gru_state]

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="calibrated")
    not_exportable = "TFLite has no GRU builtin (edgec runs the ONNX GRU in float32 only)"
    backward = None

    def infer_shape(self, op, g):
        x = g.t(op.inputs[X]).shape
        n = g.t(op.inputs[W0]).shape[0]
        batch = x[1] if op.attrs.get("time_major") else x[0]
        return [(*x[:2], n)] + [(batch, n)] * (len(op.outputs) - 1)

    def scratch_bytes(self, op, g, *, in_place):
        """r o h of one row ([N] floats) with linear_before_reset 0: the candidate's recurrent product needs it
        whole before any unit's new h is written."""
        return 0 if op.attrs.get("linear_before_reset") else 4 * g.t(op.inputs[W0]).shape[0]

    def macs(self, op, g):
        t_steps, batch, i, n = _dims(op, g) or (0, 0, 0, 0)
        return t_steps * batch * 3 * n * (i + n)

    def reference_f32(self, op, g, inputs):
        """[y(, final h)] in float32 (the products in float64 rounded once); h updated in place."""
        t_steps, batch, _, n = _dims(op, g)  # type: ignore[misc]
        x, hs = inputs[X], inputs[H]
        assert x is not None and hs is not None
        f32 = np.float32
        w = [np.asarray(inputs[W0 + k], np.float64) for k in range(3)]
        r = [np.asarray(inputs[R0 + k], np.float64) for k in range(3)]
        wb = [np.asarray(inputs[WB0 + k], f32) for k in range(3)]
        rb = [np.asarray(inputs[RB0 + k], f32) for k in range(3)]
        tm, lbr = bool(op.attrs.get("time_major")), bool(op.attrs.get("linear_before_reset"))
        y = np.zeros((t_steps, batch, n) if tm else (batch, t_steps, n), f32)
        h2 = hs.reshape(batch, n)
        if op.attrs.get("reset_state"):
            h2[...] = 0
        steps = range(t_steps - 1, -1, -1) if op.attrs.get("reverse") else range(t_steps)
        for b in range(batch):
            for t in steps:
                xv = np.asarray(x[t, b] if tm else x[b, t], np.float64)
                hv = h2[b].astype(np.float64)
                fx = [((w[k] @ xv).astype(f32) + wb[k]).astype(f32) for k in range(3)]
                zg = _sigmoid((fx[0] + ((r[0] @ hv).astype(f32) + rb[0])).astype(f32))
                rg = _sigmoid((fx[1] + ((r[1] @ hv).astype(f32) + rb[1])).astype(f32))
                if lbr:
                    rec = (rg * ((r[2] @ hv).astype(f32) + rb[2])).astype(f32)
                else:
                    rh = (rg * h2[b]).astype(f32).astype(np.float64)
                    rec = ((r[2] @ rh).astype(f32) + rb[2]).astype(f32)
                c = np.tanh((fx[2] + rec).astype(f32)).astype(f32)
                h2[b] = ((f32(1) - zg) * c + zg * h2[b]).astype(f32)
                if tm:
                    y[t, b] = h2[b]
                else:
                    y[b, t] = h2[b]
        return [y] + ([h2.copy()] if op.attrs.get("final_h") else [])

    def emit_f32(self, op, g, ctx):
        t_steps, batch, i, n = _dims(op, g)  # type: ignore[misc]
        lbr = bool(op.attrs.get("linear_before_reset"))
        fields = dict(time_steps=t_steps, batches=batch, input_size=i, units=n,
                      time_major=int(bool(op.attrs.get("time_major"))),
                      reset_state=int(bool(op.attrs.get("reset_state"))), linear_before_reset=int(lbr),
                      reverse=int(bool(op.attrs.get("reverse"))),
                      input_weights="{" + ", ".join(ctx.ptr(op.inputs[W0 + k]) for k in range(3)) + "}",
                      recurrent_weights="{" + ", ".join(ctx.ptr(op.inputs[R0 + k]) for k in range(3)) + "}",
                      input_bias="{" + ", ".join(ctx.ptr(op.inputs[WB0 + k]) for k in range(3)) + "}",
                      recurrent_bias="{" + ", ".join(ctx.ptr(op.inputs[RB0 + k]) for k in range(3)) + "}")
        params = ctx.params_struct(op, "edgec_gru_f32_params", fields)
        scratch = "NULL" if lbr else f"((float *)(edgec_arena.bytes + {ctx.plan.scratch_offset(op.name)}))"
        final = ctx.ptr(op.outputs[1]) if op.attrs.get("final_h") else "NULL"
        return (f"edgec_gru_f32(&{params}, {ctx.ptr(op.inputs[X])}, {ctx.ptr(op.inputs[H])}, "
                f"{ctx.ptr(op.outputs[0])}, {final}, {scratch});")
