"""Recomputing cheap forward segments instead of saving them (sublinear-memory checkpointing): the search that
decides where it would lower the training step's arena (docs/training.md, "Recomputation").

A saved tensor S is a forward tensor some backward op reads: its lifetime stretches from the forward pass to that
reader. The candidate for S re-runs S's producer right before S's first backward reader, from the producer's own
inputs (for a clamp mask or a channel slice, whose input dies early, the layer that computes that input and then
the mask or slice: a segment of two ops), and gives the backward readers the copy. S then dies after its last
forward reader; the segment's inputs live until the recomputation instead (the planner counts them: a recomputed
mask needs the int8 input of the layer below it, which is usually larger than the mask). The layer's weights are
those of the forward pass at that point (a layer's weights change only in its own backward op, which comes after
every reader of its saved tensors), so the recomputed values, and the step, are the same bits.

    candidates(tg, plan)                   the saved tensors whose removal could lower the arena, with their segment
    with_recompute(tg, candidate)          the training graph with that segment re-run in the backward pass
    search(tg, plan, plan_fn)              greedy: plan every candidate with the real planner (plan_fn), keep the
                                           best one that lowers the arena, repeat; returns the graph, the plan, the log

A candidate can lower the arena only if S is live, on the stretched part of its lifetime, at a step whose live
bytes are within S's bytes of the arena: `candidates` keeps those, and each is then planned for real.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from ..ir import Graph, Op
from ..memory import MemoryPlan
from ..ops import REGISTRY

#: forward ops whose output is a copy or a summary of the tensor below them: recomputed with that tensor's producer
DERIVED = ("clamp_mask", "channel_slice")


@dataclass
class Candidate:
    saved: str  # the saved tensor
    bytes: int  # its bytes
    segment: list[str]  # names of the forward ops re-run, in order
    reader: int  # index of its first backward reader in tg.ops
    macs: int  # MACs of the segment (the price, per step)
    live_at: int  # the step where removing it could lower the arena (its live bytes there)


def saved_tensors(tg: Graph) -> dict[str, list[int]]:
    """Saved tensor -> the indices of the backward ops that read it."""
    n = tg.meta["training"]["forward_ops"]
    produced = {o for op in tg.ops[:n] for o in op.outputs}
    readers: dict[str, list[int]] = {}
    for k, op in enumerate(tg.ops[n + 1:], n + 1):
        for i in op.inputs:
            if i is not None and i in produced:
                readers.setdefault(i, []).append(k)
    return readers


def _last_forward_use(tg: Graph, tensor: str) -> int:
    n = tg.meta["training"]["forward_ops"]
    return max((k for k, op in enumerate(tg.ops[:n]) if tensor in op.inputs or tensor in op.outputs), default=0)


def candidates(tg: Graph, plan: MemoryPlan) -> list[Candidate]:
    """Saved tensors whose stretched lifetime covers a step whose live bytes exceed the arena minus their bytes
    (elsewhere, removing them cannot lower the arena), each with its recompute segment."""
    producers = {o: op for op in tg.ops for o in op.outputs}
    out = []
    for saved, readers in saved_tensors(tg).items():
        if saved not in plan.owner:
            continue
        size = tg.t(saved).nbytes
        start, end = _last_forward_use(tg, saved) + 1, readers[0]
        steps = [s for s in range(start, end) if plan.live_bytes[s] > plan.arena_bytes - size]
        if not steps:
            continue
        p = producers[saved]
        segment = [p]
        if p.type in DERIVED and p.inputs[0] in producers:
            segment = [producers[p.inputs[0]], p]
        macs = sum(int(REGISTRY[op.type].macs(op, tg) or 0) for op in segment)
        out.append(Candidate(saved=saved, bytes=size, segment=[op.name for op in segment], reader=end, macs=macs,
                             live_at=max(plan.live_bytes[s] for s in steps)))
    return out


def with_recompute(tg: Graph, c: Candidate) -> Graph:
    """tg with c's segment copied (new output tensors, `<name>/recomputed`) right before the first backward reader
    of c.saved, and every backward reader of c.saved reading the copy."""
    g = copy.deepcopy(tg)
    n = g.meta["training"]["forward_ops"]
    by_name = {op.name: op for op in g.ops}
    renamed: dict[str, str] = {}
    clones: list[Op] = []
    for name in c.segment:
        op = copy.deepcopy(by_name[name])
        op.name = f"{op.name}/recomputed"
        op.attrs.pop("patch", None)  # the copy runs whole, in the backward pass
        op.attrs["label"] = f"{by_name[name].attrs.get('label', name)} (recomputed)"
        op.inputs = [renamed.get(i, i) if i is not None else None for i in op.inputs]
        outs = []
        for o in op.outputs:
            t = copy.deepcopy(g.t(o))
            t.name = f"{o}/recomputed"
            g.tensors[t.name] = t
            renamed[o] = t.name
            outs.append(t.name)
        op.outputs = outs
        clones.append(op)
    for op in g.ops[n + 1:]:
        op.inputs = [renamed[i] if i == c.saved else i for i in op.inputs]
    g.ops = g.ops[:c.reader] + clones + g.ops[c.reader:]
    used = {t for op in g.ops for t in [*op.inputs, *op.outputs] if t}
    g.tensors = {k: v for k, v in g.tensors.items() if k in used or k in g.inputs or k in g.outputs}
    return g


def search(tg: Graph, plan: MemoryPlan, plan_fn: Callable[[Graph], tuple[Graph, MemoryPlan]],
           rounds: int = 4) -> tuple[Graph, MemoryPlan, list[dict]]:
    """Greedy: plan every candidate with the real planner, keep the one that lowers the arena most, repeat (at most
    `rounds` times). Returns the (possibly unchanged) graph and plan and one record per candidate planned."""
    log: list[dict] = []
    for _ in range(rounds):
        best: tuple[Graph, MemoryPlan, Candidate] | None = None
        for c in candidates(tg, plan):
            g2, p2 = plan_fn(with_recompute(tg, c))
            log.append(dict(saved=c.saved, bytes=c.bytes, segment=c.segment, macs=c.macs,
                            arena_before=plan.arena_bytes, arena_after=p2.arena_bytes))
            if p2.arena_bytes < (best[1].arena_bytes if best else plan.arena_bytes):
                best = (g2, p2, c)
        if best is None:
            break
        tg, plan = best[0], best[1]
    return tg, plan, log
