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

int8 (a chain without a mask: batch_matmul -> [mul by an int8 scalar] -> softmax -> batch_matmul), per row, into
a scratch row of M bytes, with the chain's own compile-time constants (op.params, copied by the fusion):
    s_j = clamp(zp_s + MBQM(sum_d (Q[i, d] - zp_q) (K(d, j) - zp_k), M_s, shift_s))    (batch_matmul_s8)
    s_j = clamp(zp_m + MBQM((s_j - zp_s) * (c - zp_c), M_m, shift_m))                  (mul_s8)
    p   = edgec_softmax_s8 on the row (in place)                                       (softmax_s8 itself)
    y[i, c] = clamp(zp_y + MBQM(sum_j (p_j - zp_p) (V(j, c) - zp_v), M_y, shift_y))    (batch_matmul_s8)
integer maths identical to the chain's kernels: bit-exact with it, and with TFLite Micro running the chain.
"""

from __future__ import annotations

import numpy as np

from ..c_emit import c_list
from ..fixedpoint import multiply_by_quantized_multiplier, wrap_int32
from ..ir import Op
from .base import REGISTRY, Operator, Quantization, is_float, register
from .float_common import FLT_MAX, all_float32, c_float, clamp_f32

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


def attention_int8(op, g) -> bool:
    """int8: Q, K, V and the output int8 per tensor, no mask, and the chain's constants given by the fusion"""
    ts = [g.t(t) for t in (*op.inputs[:3], op.outputs[0])]
    return (all(t.dtype == "int8" and t.quant is not None for t in ts) and len(op.inputs) == 3
            and "s_multiplier" in op.params)


#: the int8 kernel's parameters, in its struct's order (op.params: the fusion copies them from the chain)
INT8_FIELDS = ("q_offset", "k_offset", "s_offset", "s_multiplier", "s_shift", "has_mul", "mul_term",
               "mul_offset", "mul_out_offset", "mul_multiplier", "mul_shift", "mul_min", "mul_max",
               "input_multiplier", "input_left_shift", "diff_min", "p_offset", "v_offset", "y_offset", "y_multiplier",
               "y_shift")


def chain_params(bmm1, mul, mul_const_q: int | None, const_index: int, sm, bmm2) -> dict:
    """The int8 constants of the fused op, from the prepared ops of the chain (mul may be None; its constant,
    mul_const_q, is its input const_index)."""
    p1, p2, ps = bmm1.params, bmm2.params, sm.params
    out = dict(q_offset=p1["lhs_offset"], k_offset=p1["rhs_offset"], s_offset=p1["output_offset"],
               s_multiplier=p1["multiplier"], s_shift=p1["shift"], has_mul=int(mul is not None), mul_term=0,
               mul_offset=0, mul_out_offset=0, mul_multiplier=0, mul_shift=0, mul_min=-128, mul_max=127,
               input_multiplier=ps["input_multiplier"], input_left_shift=ps["input_left_shift"],
               diff_min=ps["diff_min"], p_offset=p2["lhs_offset"], v_offset=p2["rhs_offset"],
               y_offset=p2["output_offset"], y_multiplier=p2["multiplier"], y_shift=p2["shift"])
    if mul is not None:
        pm = mul.params
        s_is_first = const_index == 1  # the scores are the mul's first input
        out.update(mul_term=int(mul_const_q or 0) + (pm["input2_offset"] if s_is_first else pm["input1_offset"]),
                   mul_offset=pm["input1_offset"] if s_is_first else pm["input2_offset"],
                   mul_out_offset=pm["output_offset"],
                   mul_multiplier=pm["output_multiplier"], mul_shift=pm["output_shift"], mul_min=pm["act_min"],
                   mul_max=pm["act_max"])
    return out


@register
class Attention(Operator):
    type = "attention"
    kernel = "attention_s8"
    constraints = [attention_int8, attention_shapes]

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="calibrated")
    not_exportable = "TFLite has no fused attention builtin (edgec makes this op from the chain it replaces)"
    backward = None

    def infer_shape(self, op, g):
        return [g.t(op.outputs[0]).shape]

    def kernels_for(self, op, g):
        # the int8 kernel calls the softmax kernel itself on each row
        return super().kernels_for(op, g) + ([] if is_float(op, g) else ["softmax_s8"])

    def reference(self, op, g, inputs):
        p = op.params
        q, k, v = (np.asarray(x).astype(np.int64) for x in inputs[:3])
        kt = np.swapaxes(k, -1, -2) if op.attrs["adj_k"] else k
        vv = np.swapaxes(v, -1, -2) if op.attrs["adj_v"] else v
        acc = np.matmul(q + p["q_offset"], kt + p["k_offset"])
        s = np.clip(multiply_by_quantized_multiplier(acc, p["s_multiplier"], p["s_shift"]) + p["s_offset"], -128, 127)
        if p["has_mul"]:
            prod = (s + p["mul_offset"]) * p["mul_term"]
            s = np.clip(wrap_int32(multiply_by_quantized_multiplier(prod, p["mul_multiplier"], p["mul_shift"])
                                   + p["mul_out_offset"]), p["mul_min"], p["mul_max"])
        softmax = Op(type="softmax", name=op.name, inputs=[], outputs=[], params=dict(
            input_multiplier=p["input_multiplier"], input_left_shift=p["input_left_shift"],
            diff_min=p["diff_min"], depth=s.shape[-1]))
        prob = REGISTRY["softmax"].reference(softmax, g, [s.astype(np.int8)])[0].astype(np.int64)
        acc = np.matmul(prob + p["p_offset"], vv + p["v_offset"])
        y = multiply_by_quantized_multiplier(acc, p["y_multiplier"], p["y_shift"]) + p["y_offset"]
        return [np.clip(y, -128, 127).astype(np.int8).reshape(g.t(op.outputs[0]).shape)]

    def emit(self, op, g, ctx):
        fields = self._geometry(op, g, ctx)
        fields.update({k: op.params[k] for k in INT8_FIELDS})
        params = ctx.params_struct(op, "edgec_attention_s8_params", fields)
        row = f"((int8_t *)(edgec_arena.bytes + {ctx.plan.scratch_offset(op.name)}))"
        ins = ", ".join(ctx.ptr(t) for t in op.inputs[:3])
        return f"edgec_attention_s8(&{params}, {ins}, {ctx.ptr(op.outputs[0])}, {row});"

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

    def _geometry(self, op, g, ctx) -> dict:
        q, k, v = (g.t(t).shape for t in op.inputs[:3])
        n, d, m, dv = _shapes(op, g)
        y = g.t(op.outputs[0]).shape
        batch = tuple(y[:-2])
        padded = (1,) * (BATCH_DIMS - len(batch)) + batch
        return dict(batch=c_list(padded), q_stride=c_list(_batch_strides(q[:-2], batch, 1)),
                    k_stride=c_list(_batch_strides(k[:-2], batch, 1)),
                    v_stride=c_list(_batch_strides(v[:-2], batch, 1)), rows=n, depth=d, keys=m, cols=dv,
                    adj_k=int(op.attrs["adj_k"]), adj_v=int(op.attrs["adj_v"]))

    def emit_f32(self, op, g, ctx):
        fields = self._geometry(op, g, ctx)
        fields.update(has_scale=int(op.attrs.get("scale") is not None),
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
        return (4 if is_float(op, g) else 1) * _shapes(op, g)[2]  # one row of scores

    def macs(self, op, g):
        n, d, m, dv = _shapes(op, g)
        return int(np.prod(g.t(op.outputs[0]).shape[:-2], dtype=np.int64)) * n * m * (d + dv)
