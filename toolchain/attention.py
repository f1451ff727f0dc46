"""Row-wise attention (MCUFormer's memory point): the chain

    S = batch_matmul(Q, K^T) [-> mul(S, scalar constant)] [-> add(S, constant mask)] -> P = softmax(S, last axis)
      -> Y = batch_matmul(P, V)

becomes one `attention` op (toolchain/ops/attention.py) that computes Y one query row at a time, so neither S
nor P (each N x M per head) is ever held whole: the op needs one row of M floats of scratch. A transpose that
only swaps K's last two dims for the first product is folded into the op too (it reads K with strides).
The results are bit-identical (the same float operations in the same order). `choose_attention` keeps the fused
graph only where the planned arena is strictly smaller (for a short sequence the scores may not be the peak), and
records both arenas in g.meta["attention"]. float32 and int8 (an int8 chain without a mask: the int8 ADD's
rescale has no fused form yet).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .ir import Graph, Op
from .memory import plan_memory
from .schedule import reorder_for_memory


def _single_use(g: Graph, readers: dict[str, list[Op]], name: str) -> bool:
    return len(readers.get(name, [])) == 1 and name not in g.outputs


def _scalar_const(g: Graph, name: str | None, dtype: str = "float32") -> float | None:
    if name is None or not g.t(name).is_const or g.t(name).size != 1 or g.t(name).dtype != dtype:
        return None
    return float(np.asarray(g.t(name).data).reshape(-1)[0])


def _other(op: Op, name: str) -> str | None:
    ins = [i for i in op.inputs]
    if len(ins) != 2 or name not in ins:
        return None
    return ins[1] if ins[0] == name else ins[0]


def fuse_attention(g: Graph) -> tuple[Graph, int]:
    """(g with every matching chain replaced by an attention op, how many); g itself is not changed."""
    producers, readers = g.producers(), g.consumers()
    removed: set[str] = set()  # names of ops fused away
    replaced: dict[str, Op] = {}  # the chain's last op -> the attention op that takes its place
    for op2 in g.ops:
        dtype = g.t(op2.outputs[0]).dtype
        if op2.type != "batch_matmul" or op2.attrs.get("adj_x") or dtype not in ("float32", "int8"):
            continue
        p = op2.inputs[0]
        sm = producers.get(p or "")
        if sm is None or sm.type != "softmax" or not _single_use(g, readers, p or ""):
            continue
        chain, cur, mask, scale, mul = [sm], sm.inputs[0], None, None, None
        prod = producers.get(cur or "")
        if prod is not None and prod.type == "add" and dtype == "int8":
            continue  # an int8 mask: no fused kernel for the int8 ADD's rescale
        if prod is not None and prod.type == "add" and prod.attrs.get("activation", "NONE") == "NONE":
            const = [i for i in prod.inputs if i is not None and g.t(i).is_const]
            if len(const) == 1 and _single_use(g, readers, cur or ""):
                mask, cur = const[0], _other(prod, const[0])
                chain.append(prod)
                prod = producers.get(cur or "")
        if prod is not None and prod.type == "mul" and prod.attrs.get("activation", "NONE") == "NONE":
            const = [i for i in prod.inputs if i is not None and _scalar_const(g, i, dtype) is not None]
            if len(const) == 1 and _single_use(g, readers, cur or ""):
                scale, cur, mul = _scalar_const(g, const[0], dtype), _other(prod, const[0]), prod
                chain.append(prod)
                prod = producers.get(cur or "")
        if prod is None or prod.type != "batch_matmul" or prod.attrs.get("adj_x") or not _single_use(
                g, readers, cur or ""):
            continue
        bmm1 = prod
        chain.append(bmm1)
        q, k = bmm1.inputs[0], bmm1.inputs[1]
        adj_k = bool(bmm1.attrs.get("adj_y"))
        kt = producers.get(k or "")
        rank = len(g.t(k).shape)
        if (kt is not None and kt.type == "transpose" and _single_use(g, readers, k or "")
                and kt.attrs.get("perm") == [*range(rank - 2), rank - 1, rank - 2]):
            k, adj_k = kt.inputs[0], not adj_k  # read K itself, with strides
            chain.append(kt)
        softmax_in = g.t(sm.inputs[0]).shape
        if len(softmax_in) < 2:
            continue
        inputs: list[str | None] = [q, k, op2.inputs[1]] + ([mask] if mask is not None else [])
        attrs = dict(adj_k=adj_k, adj_v=bool(op2.attrs.get("adj_y")), scale=scale,
                     beta=float(sm.attrs.get("beta", 1.0)), label=op2.attrs.get("label", op2.name))
        fused = Op(type="attention", name=f"{op2.name}_attention", inputs=inputs, outputs=list(op2.outputs),
                   attrs=attrs)
        from .ops import REGISTRY
        from .ops.attention import chain_params

        if dtype == "int8":  # the chain's compile-time constants, as its kernels would use them
            const_index = 0 if mul is None else [i for i in mul.inputs].index(
                next(i for i in mul.inputs if i is not None and g.t(i).is_const))
            fused.params = chain_params(bmm1, mul, None if scale is None else int(scale), const_index, sm, op2)
            fused.attrs["scale"] = None

        if REGISTRY["attention"].check(fused, g):
            continue  # a shape the kernel does not take: keep the chain
        removed.update(op.name for op in chain)
        replaced[op2.name] = fused
    if not replaced:
        return g, 0
    ops = [replaced.get(op.name, op) for op in g.ops if op.name not in removed]
    used = {t for op in ops for t in [*op.inputs, *op.outputs] if t is not None} | set(g.inputs) | set(g.outputs)
    return replace(g, ops=ops, tensors={n: t for n, t in g.tensors.items() if n in used}), len(replaced)


def choose_attention(g: Graph, in_place: bool | None = None) -> Graph:
    """The fused graph (reordered for memory) when its planned arena is strictly smaller, else g; both arenas go
    into meta["attention"] = {"chains", "fused", "arena_unfused", "arena_fused"}."""
    fused, count = fuse_attention(g)
    if not count:
        return g
    fused = reorder_for_memory(fused, in_place=in_place)
    before = plan_memory(g, in_place=in_place).arena_bytes
    after = plan_memory(fused, in_place=in_place).arena_bytes
    chosen = fused if after < before else g
    chosen.meta = dict(g.meta, attention=dict(chains=count, fused=after < before, arena_unfused=before,
                                              arena_fused=after))
    return chosen
