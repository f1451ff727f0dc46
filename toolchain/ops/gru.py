"""GRU: a gated recurrent unit over a sequence (ONNX's GRU), its hidden state h persisting between invocations
(a state tensor, ir.Tensor.state) as the LSTM's does. TFLite and TFLite Micro have no GRU builtin, so this op has
no .tflite form (`not_exportable`) and runs in float32 only; for int8 the quantizer lowers it into the
FULLY_CONNECTED, LOGISTIC, TANH, MUL, ADD and SUB of its unrolled steps (lower_to_tflite_ops, at the end of this
module; docs/recurrent.md says why float32 keeps the one op).

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
    """float32 only: there is no int8 GRU op (TFLite Micro has no GRU); `--calib` lowers the GRU into the int8
    ops of its unrolled steps instead (lower_to_tflite_ops)"""
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


# ---- int8: the GRU lowered into ops TFLite Micro runs (quantizer.quantize_graph, docs/recurrent.md) -----------

def lowering_refused(op, g) -> str | None:
    """Why this GRU cannot be lowered for int8, or None. The lowering starts every invocation from h = 0, as
    ONNX's GRU does (reset_state); a GRU carrying h between invocations would need a state TFLite Micro keeps."""
    if not op.attrs.get("reset_state"):
        return "a GRU whose state persists between invocations has no int8 form (the lowering starts from h = 0)"
    if _dims(op, g) is None:
        return "the GRU's tensors do not have a GRU's shapes"
    return None


def lower_to_tflite_ops(op, g) -> list:
    """The float ops that compute this GRU one step at a time, unrolled over its T steps, with only TFLite
    builtins TFLite Micro runs in int8: per step, STRIDED_SLICE (x_t, the time axis dropped), FULLY_CONNECTED
    (three on x_t, three on h), ADD, LOGISTIC, MUL, TANH, SUB; then RESHAPE and CONCATENATION into y. The
    tensors they use are added to `g`; the caller puts the ops in the GRU's place. h starts at 0 (reset_state):
    the first step drops the recurrent products (R h = 0, and r itself unless linear_before_reset is 1), so no
    constant state is needed:
        z = sigma(W_z x + (Wb_z + Rb_z) [+ R_z h]),  r = sigma(W_r x + (Wb_r + Rb_r) [+ R_r h])
        linear_before_reset 0: n = tanh(W_h x + (Wb_h + Rb_h) [+ R_h (r o h)])
        linear_before_reset 1: n = tanh(W_h x + Wb_h + r o ([R_h h] + Rb_h))
        h' = n + z o (h - n)     (the first step: n - z o n)
    Every weight tensor is shared by the T steps' FULLY_CONNECTEDs (one copy in flash)."""
    from ..ir import Op, Tensor

    t_steps, batch, _, n = _dims(op, g)  # type: ignore[misc]
    tm, lbr = bool(op.attrs.get("time_major")), bool(op.attrs.get("linear_before_reset"))
    label = op.attrs.get("label", op.name)
    base = op.name
    data = [np.asarray(g.t(i).data, np.float32) for i in op.inputs[W0:H]]
    w, r, wb, rb = data[0:3], data[3:6], data[6:9], data[9:12]
    ops: list = []

    def tensor(name: str, shape, value=None) -> str:
        name = f"{base}/{name}"
        while name in g.tensors:  # a model's own tensor of that name
            name += "_"
        g.tensors[name] = Tensor(name=name, shape=tuple(shape), dtype="float32",
                                 data=None if value is None else np.ascontiguousarray(value, np.float32))
        return name

    taken = {o.name for o in g.ops}

    def emit(kind: str, ins: list, shape, attrs: dict, name: str, out: str | None = None) -> str:
        out = out or tensor(name, shape)
        op_name = stem = f"{base}_{name}".replace("/", "_")
        k = 1
        while op_name in taken:  # op names are unique (C symbols derive from them)
            op_name, k = f"{stem}_{k}", k + 1
        taken.add(op_name)
        ops.append(Op(type=kind, name=op_name, inputs=list(ins), outputs=[out],
                      attrs=dict(attrs, label=f"{label}: {name}")))
        return out

    w_in = [tensor(f"W_{g_}", w[k].shape, w[k]) for k, g_ in enumerate("zrh")]
    w_rec = [tensor(f"R_{g_}", r[k].shape, r[k]) for k, g_ in enumerate("zrh")]
    b_in = [tensor("b_z", (n,), wb[0] + rb[0]), tensor("b_r", (n,), wb[1] + rb[1]),
            tensor("b_h", (n,), wb[2] if lbr else wb[2] + rb[2])]
    rb_h = tensor("Rb_h", (n,), rb[2]) if lbr else None  # the recurrent FC's bias (int32 when quantized)
    rb_h0 = tensor("Rb_h_first", (n,), rb[2]) if lbr else None  # the first step's MUL operand (int8)
    x = str(op.inputs[X])
    axis = 0 if tm else 1
    bn = (batch, n)
    fc = dict(activation="NONE")
    h: str | None = None
    ys: dict[int, str] = {}
    order = range(t_steps - 1, -1, -1) if op.attrs.get("reverse") else range(t_steps)
    for t in order:
        s = f"t{t}"
        begin = [0, 0, 0]
        begin[axis] = t
        xt = emit("strided_slice", [x], (batch, g.t(x).shape[2]), dict(
            begin=begin, end=[v + 1 if d == axis else 0 for d, v in enumerate(begin)], strides=[1, 1, 1],
            begin_mask=0b111 & ~(1 << axis), end_mask=0b111 & ~(1 << axis), shrink_axis_mask=1 << axis), f"{s}/x")
        zx, nx = (emit("fully_connected", [xt, w_in[k], b_in[k]], bn, fc, f"{s}/{'zrh'[k]}_x") for k in (0, 2))
        if h is None:  # h = 0: r matters only through r o Rb_h (linear_before_reset 1)
            z = emit("logistic", [zx], bn, {}, f"{s}/z")
            pre = nx
            if lbr:
                rg = emit("logistic", [emit("fully_connected", [xt, w_in[1], b_in[1]], bn, fc, f"{s}/r_x")], bn, {},
                          f"{s}/r")
                pre = emit("add", [nx, emit("mul", [rg, rb_h0], bn, fc, f"{s}/r_Rb")], bn, fc, f"{s}/h_pre")
            cand = emit("tanh", [pre], bn, {}, f"{s}/n")
            h_new = emit("sub", [cand, emit("mul", [z, cand], bn, fc, f"{s}/z_n")], bn, fc, f"{s}/h")
        else:
            z = emit("logistic", [emit("add", [zx, emit("fully_connected", [h, w_rec[0], None], bn, fc, f"{s}/z_h")],
                                       bn, fc, f"{s}/z_pre")], bn, {}, f"{s}/z")
            rx = emit("fully_connected", [xt, w_in[1], b_in[1]], bn, fc, f"{s}/r_x")
            rg = emit("logistic", [emit("add", [rx, emit("fully_connected", [h, w_rec[1], None], bn, fc, f"{s}/r_h")],
                                        bn, fc, f"{s}/r_pre")], bn, {}, f"{s}/r")
            if lbr:
                rec = emit("fully_connected", [h, w_rec[2], rb_h], bn, fc, f"{s}/h_h")
                rec = emit("mul", [rg, rec], bn, fc, f"{s}/r_h_h")
            else:
                rec = emit("fully_connected", [emit("mul", [rg, h], bn, fc, f"{s}/r_o_h"), w_rec[2], None], bn, fc,
                           f"{s}/h_h")
            cand = emit("tanh", [emit("add", [nx, rec], bn, fc, f"{s}/h_pre")], bn, {}, f"{s}/n")
            diff = emit("sub", [h, cand], bn, fc, f"{s}/h_minus_n")
            h_new = emit("add", [cand, emit("mul", [z, diff], bn, fc, f"{s}/z_d")], bn, fc, f"{s}/h")
        h = h_new
        ys[t] = emit("reshape", [h], (1, batch, n) if tm else (batch, 1, n), {}, f"{s}/y")
    y = str(op.outputs[0])
    if t_steps == 1:
        emit("reshape", [ys[0]], g.t(y).shape, {}, "y", out=y)
    else:
        emit("concat", [ys[t] for t in range(t_steps)], g.t(y).shape, dict(axis=axis), "y", out=y)
    if op.attrs.get("final_h"):
        assert h is not None
        emit("reshape", [h], g.t(op.outputs[1]).shape, {}, "h_last", out=str(op.outputs[1]))
    return ops
