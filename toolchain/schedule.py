"""Operator order: the topological order of the graph with the smallest activation arena (docs/memory.md).

Independent ops (the two branches of a residual block) may run in any order without changing a single output
bit, but the order decides which tensors are alive together. `best_order` searches the orders with a dynamic
programme over sets of scheduled ops (Serenity, Ahn et al. 2020): after a set S of ops has run, the tensors still
alive depend on S only, not on the order inside S, so

    peak(S + {v}) = min over the last op v of  max(peak(S), live bytes while v runs after S)

and one state per set suffices. The states of one size are expanded together (a breadth-first sweep); where a
graph has many parallel branches the number of sets explodes, so each sweep keeps at most `max_states` sets
(the lowest peaks; ties by the original order), which makes the search a beam, still deterministic.

The live bytes while v runs follow memory.lifetimes: every buffer produced (or a graph input) with a reader not
yet run (or a graph output), v's outputs, v's kernel scratch; when v may run in place (the input's buffer dies at
v, memory.in_place_input's rule) its input and output share one buffer of the larger size. The model does
not carry an in-place chain's larger first buffer forward (a shrinking in-place op), so its figure is an
estimate: `reorder_for_memory` keeps a new order only when the real planner's arena for it is strictly smaller.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .ir import Graph
from .memory import buffer_of, in_place_input, plan_memory
from .ops import REGISTRY

MAX_STATES = 4096


@dataclass
class _Buffers:
    """The graph's buffers (reshape aliases merged) as bit masks over op indices."""

    size: list[int]
    producer: list[int]  # bit of the op producing the buffer, 0 for a graph input
    touchers: list[int]  # bits of every op reading or writing a tensor of the buffer
    is_output: list[bool]
    of_tensor: dict[str, int]
    made_by: list[list[int]]  # per op, the buffers it produces


def _buffers(g: Graph) -> _Buffers:
    owner = buffer_of(g)
    names = sorted(set(owner.values()), key=list(owner.values()).index)
    index = {b: i for i, b in enumerate(names)}
    n = len(names)
    size, producer, touchers = [0] * n, [0] * n, [0] * n
    for t, b in owner.items():
        size[index[b]] = max(size[index[b]], g.tensors[t].nbytes)
    for k, op in enumerate(g.ops):
        for i in op.inputs:
            if i is not None and i in owner:
                touchers[index[owner[i]]] |= 1 << k
        for out in op.outputs:
            touchers[index[owner[out]]] |= 1 << k
            if owner[out] == out:
                producer[index[out]] = 1 << k
    is_output = [False] * n
    for t in g.outputs:
        is_output[index[owner[t]]] = True
    made_by = [[i for i in range(n) if producer[i] == 1 << k] for k in range(len(g.ops))]
    return _Buffers(size, producer, touchers, is_output, {t: index[b] for t, b in owner.items()}, made_by)


def _live_before(bufs: _Buffers, done: int) -> int:
    """Bytes of the buffers alive after the ops in `done` whatever runs next: produced within `done` (or graph
    inputs) with a reader not yet run, or graph outputs."""
    return sum(bufs.size[i] for i in range(len(bufs.size))
               if bufs.producer[i] & done == bufs.producer[i] and (bufs.touchers[i] & ~done or bufs.is_output[i]))


def _step_bytes(g: Graph, bufs: _Buffers, done: int, k: int, before: int | None = None,
                scratch: dict[tuple[int, bool], int] | None = None) -> int:
    """Live bytes while op k runs after the ops in `done` (a bit mask): the buffers alive before it
    (`_live_before`, passed in when the caller has it) and the buffers k produces; `scratch` caches the ops'
    scratch bytes for one search."""
    op = g.ops[k]
    bit = 1 << k
    after = done | bit
    total = (_live_before(bufs, done) if before is None else before) + sum(
        bufs.size[i] for i in bufs.made_by[k])
    j = in_place_input(op, g, bufs.of_tensor, lambda b: not (bufs.touchers[b] & ~after or bufs.is_output[b]))
    if j is not None:
        x, y = bufs.of_tensor[op.inputs[j]], bufs.of_tensor[op.outputs[0]]  # type: ignore[index]
        total -= min(bufs.size[x], bufs.size[y])  # one buffer of the larger size
    if scratch is None:
        return total + REGISTRY[op.type].scratch_bytes(op, g, in_place=j is not None)
    key = (k, j is not None)
    if key not in scratch:  # the search asks millions of times: once per op and in-place flag
        scratch[key] = REGISTRY[op.type].scratch_bytes(op, g, in_place=j is not None)
    return total + scratch[key]


def _predecessors(g: Graph) -> list[int]:
    """For each op, the bit mask of the ops producing its inputs."""
    made_by = {t: k for k, op in enumerate(g.ops) for t in op.outputs}
    return [sum({1 << made_by[t] for t in op.inputs if t is not None and t in made_by}) for op in g.ops]


def order_peak(g: Graph, order: list[int]) -> int:
    """The peak live bytes of running g's ops in `order`, by the search's model."""
    bufs = _buffers(g)
    done, peak = 0, 0
    for k in order:
        peak = max(peak, _step_bytes(g, bufs, done, k))
        done |= 1 << k
    return peak


def best_order(g: Graph, max_states: int = MAX_STATES) -> tuple[list[int], int, bool]:
    """(op indices in the best order found, its modelled peak, exhaustive). Exhaustive is False when a sweep hit
    `max_states` (the result is then the best of a beam search). Ties keep the earliest original order."""
    n = len(g.ops)
    preds = _predecessors(g)
    bufs = _buffers(g)
    # state: done mask -> (peak, order as a tuple of op indices)
    level: dict[int, tuple[int, tuple[int, ...]]] = {0: (0, ())}
    exhaustive = True
    scratch: dict[tuple[int, bool], int] = {}
    for _ in range(n):
        nxt: dict[int, tuple[int, tuple[int, ...]]] = {}
        for done, (peak, order) in level.items():
            before = _live_before(bufs, done)
            for k in range(n):
                if done >> k & 1 or preds[k] & done != preds[k]:
                    continue
                cand = (max(peak, _step_bytes(g, bufs, done, k, before, scratch)), order + (k,))
                key = done | 1 << k
                if key not in nxt or cand < nxt[key]:
                    nxt[key] = cand
        if len(nxt) > max_states:
            exhaustive = False
            nxt = dict(sorted(nxt.items(), key=lambda kv: kv[1])[:max_states])
        level = nxt
    peak, order = level[(1 << n) - 1] if n else (0, ())
    return list(order), peak, exhaustive


def reordered(g: Graph, order: list[int]) -> Graph:
    """The same graph with its ops in `order` (tensors shared, ops not copied)."""
    return replace(g, ops=[g.ops[k] for k in order])


def reorder_for_memory(g: Graph, max_states: int = MAX_STATES, *, in_place: bool | None = None) -> Graph:
    """g with its ops in the order of the smallest planned arena: the searched order when the real planner
    (`plan_memory(..., in_place=in_place)`, the same call the build makes) gives it a strictly smaller arena than
    the given order, else g unchanged. Outputs are identical either way: only independent ops change places."""
    order, _, _ = best_order(g, max_states)
    if order == list(range(len(g.ops))):
        return g
    candidate = reordered(g, order)
    smaller = plan_memory(candidate, in_place=in_place).arena_bytes < plan_memory(g, in_place=in_place).arena_bytes
    return candidate if smaller else g
