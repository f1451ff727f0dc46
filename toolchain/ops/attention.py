"""ATTENTION (float32): softmax(Q K^T * scale + mask) V computed one query row at a time, so the N x M score
matrix never exists whole (MCUFormer's point: on an MCU the scores of a long sequence are the largest tensor).

The op replaces the chain batch_matmul(Q, K^T) [-> mul(scalar constant)] [-> add(constant mask)] -> softmax
(last axis) -> batch_matmul(., V) (toolchain/attention.py fuses it, and keeps it only where the planned arena
gets smaller). Per batch b and query row i, into a scratch row of M floats:
    s_j = sum_d Q[i, d] * K(d, j)              d ascending, one float from 0.0f       (batch_matmul_f32)
    s_j = clamp(s_j * scale)                   when the chain scales                   (mul_f32, clamp to +-FLT_MAX)
    s_j = clamp(s_j + mask[i, j])              when the chain masks                    (add_f32)
    p_j = expf((s_j - max_j s) * beta) / sum_j(...)                                    (softmax_f32)
    y[i, c] = sum_j p_j * V(j, c)              j ascending, one float from 0.0f        (batch_matmul_f32)
Every step is the same float operations in the same order as the unfused ops' kernels, so the result is
bit-identical to the chain it replaces (tests/host/test_attention.py checks it). Cost: the chain's MACs
(N M D + N M Dv per batch) and no more; memory: M floats of scratch instead of two N x M tensors.
"""

from __future__ import annotations

import numpy as np

from ..c_emit import c_list
from .base import Operator, Quantization, register
from .float_common import FLT_MAX, all_float32, c_float, clamp_f32
from .layer_norm import float32_only

BATCH_DIMS = 3


def _shapes(op, g):
    q, k, v = (g.t(t).shape for t in op.inputs[:3])
    n, d = q[-2], q[-1]
    m = k[-2] if op.attrs["adj_k"] else k[-1]
    dv = v[-2] if op.attrs["adj_v"] else v[-1]
    return n, d, m, dv


def attention_shapes(op, g) -> bool:
    """Q [..., N, D], K^T [..., D, M] (or K [..., M, D]), V [..., M, Dv] (or [..., Dv, M]) of rank 2 to 5 whose batch
    dims broadcast to the output's [..., N, Dv]; the mask, when given, a constant broadcasting to [..., N, M]"""
    q, k, v = (g.t(t).shape for t in op.inputs[:3])
    y = g.t(op.outputs[0]).shape
    if not all(2 <= len(s) <= 5 for s in (q, k, v, y)):
        return False
    n, d, m, dv = _shapes(op, g)
    kd = k[-1] if op.attrs["adj_k"] else k[-2]
    vm = v[-1] if op.attrs["adj_v"] else v[-2]
    try:
        batch = np.broadcast_shapes(q[:-2], k[:-2], v[:-2])
        if len(op.inputs) > 3 and op.inputs[3] is not None:
            mask = g.t(op.inputs[3])
            if not mask.is_const or np.broadcast_shapes(mask.shape, (*batch, n, m)) != (*batch, n, m):
                return False
    except ValueError:
        return False
    return kd == d and vm == m and tuple(y) == (*batch, n, dv)


def _batch_strides(shape: tuple[int, ...], batch: tuple[int, ...], unit: int) -> list[int]:
    """Per (left-padded) batch dim, the step of an operand in `unit`s (0 where it broadcasts)."""
    dims = (1,) * (BATCH_DIMS - len(shape)) + tuple(shape)
    out, step = [0] * BATCH_DIMS, unit
    for k in reversed(range(BATCH_DIMS)):
        out[k] = step if dims[k] != 1 else 0
        step *= dims[k]
    return out


@register
class Attention(Operator):
    type = "attention"
    kernel = None
    constraints = [float32_only]

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="calibrated")
    not_exportable = "TFLite has no fused attention builtin (edgec makes this op from the chain it replaces)"
    backward = None

    def infer_shape(self, op, g):
        return [g.t(op.outputs[0]).shape]

    kernel_f32 = "attention_f32"
    constraints_f32 = [all_float32, attention_shapes]

    def reference_f32(self, op, g, inputs):
        """The unfused chain's float32 maths, step by step (as the kernels compute, float32 per step)."""
        q, k, v = (np.asarray(x, np.float32) for x in inputs[:3])
        kt = np.swapaxes(k, -1, -2) if op.attrs["adj_k"] else k
        vv = np.swapaxes(v, -1, -2) if op.attrs["adj_v"] else v
        s = np.matmul(q.astype(np.float64), kt.astype(np.float64)).astype(np.float32)
        if op.attrs.get("scale") is not None:
            s = clamp_f32(s * np.float32(op.attrs["scale"]), -FLT_MAX, FLT_MAX)
        if len(inputs) > 3 and inputs[3] is not None:
            s = clamp_f32(s + np.asarray(inputs[3], np.float32), -FLT_MAX, FLT_MAX)
        arg = (s - s.max(axis=-1, keepdims=True)) * np.float32(op.attrs["beta"])
        e = np.exp(arg.astype(np.float64))
        p = (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
        y = np.matmul(p.astype(np.float64), vv.astype(np.float64))
        return [y.astype(np.float32).reshape(g.t(op.outputs[0]).shape)]

    def emit_f32(self, op, g, ctx):
        q, k, v = (g.t(t).shape for t in op.inputs[:3])
        n, d, m, dv = _shapes(op, g)
        y = g.t(op.outputs[0]).shape
        batch = tuple(y[:-2])
        padded = (1,) * (BATCH_DIMS - len(batch)) + batch
        fields = dict(batch=c_list(padded), q_stride=c_list(_batch_strides(q[:-2], batch, 1)),
                      k_stride=c_list(_batch_strides(k[:-2], batch, 1)),
                      v_stride=c_list(_batch_strides(v[:-2], batch, 1)), rows=n, depth=d, keys=m, cols=dv,
                      adj_k=int(op.attrs["adj_k"]), adj_v=int(op.attrs["adj_v"]),
                      has_scale=int(op.attrs.get("scale") is not None),
                      scale=c_float(op.attrs.get("scale") or 1.0), beta=c_float(op.attrs["beta"]))
        mask = op.inputs[3] if len(op.inputs) > 3 else None
        if mask is not None:
            full = (1,) * (BATCH_DIMS + 2 - len(g.t(mask).shape)) + tuple(g.t(mask).shape)
            strides = [int(np.prod(full[j + 1:], dtype=np.int64)) if full[j] != 1 else 0 for j in range(len(full))]
            fields.update(mask=ctx.ptr(mask), mask_stride=c_list(strides[:BATCH_DIMS]), mask_row=strides[3],
                          mask_col=strides[4])
        else:
            fields.update(mask="NULL", mask_stride=c_list([0] * BATCH_DIMS), mask_row=0, mask_col=0)
        params = ctx.params_struct(op, "edgec_attention_f32_params", fields)
        row = f"((float *)(edgec_arena.bytes + {ctx.plan.scratch_offset(op.name)}))"
        ins = ", ".join(ctx.ptr(t) for t in op.inputs[:3])
        return f"edgec_attention_f32(&{params}, {ins}, {ctx.ptr(op.outputs[0])}, {row});"

    def scratch_bytes(self, op, g, *, in_place):
        return 4 * _shapes(op, g)[2]  # one row of scores

    def macs(self, op, g):
        n, d, m, dv = _shapes(op, g)
        return int(np.prod(g.t(op.outputs[0]).shape[:-2], dtype=np.int64)) * n * m * (d + dv)
