"""The memory planner: activation buffers -> offsets in one static arena, and an independent checker.

The planner sees only plain records (size, first_use, last_use, alignment), never the graph: `lifetimes()` turns
a graph into records, `plan_buffers()` places them with every strategy (greedy by size, greedy by conflicts, a
seeded hill-climb over the placement order, a capped branch-and-bound) and keeps the smallest, and `check_plan()`
re-verifies every plan from scratch.
Steps are op indices; a buffer is live on every step in [first_use, last_use], both ends included, so the
output of step k never shares bytes with an input of step k, except through an in-place op: there the output
is put in the input's buffer (one record, of the larger size), which `in_place_ops()` allows only where the
kernel is written for it and the input dies at that op. Kernel scratch is one more record, live at its op only.
The rules are in docs/memory.md.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from itertools import accumulate
from typing import Any, TypeVar

from .ir import Graph, Op
from .ops import REGISTRY

H = TypeVar("H")  # a buffer's key: its name here, its index in schedule.py

ALIGNMENT = 8  # int64 loads and Cortex-M LDRD want 8-byte alignment; the arena itself is 8-aligned


@dataclass
class Buffer:
    name: str
    size: int
    first_use: int
    last_use: int
    alignment: int = ALIGNMENT
    offset: int = -1

    def overlaps_in_time(self, other: Buffer) -> bool:
        return self.first_use <= other.last_use and other.first_use <= self.last_use


class PlanError(Exception):
    """A plan breaks an invariant: a bug in the planner, never a user error."""


def buffer_of(g: Graph, *, in_place: dict[str, int] | None = None) -> dict[str, str]:
    """Tensor -> the buffer that holds it: alias ops (reshape) share their input's buffer, and so does the output
    of an op in `in_place` (op name -> index of the input it overwrites)."""
    owner = {n: n for n, t in g.tensors.items() if not t.is_const and not t.state}
    for op in g.ops:
        k = 0 if REGISTRY[op.type].alias_of_input else (in_place or {}).get(op.name)
        if k is not None and op.inputs[k] in owner:
            owner[op.outputs[0]] = owner[op.inputs[k]]  # type: ignore[index]
    return owner


def scratch_name(op_name: str) -> str:
    """The record of an op's kernel scratch ('#' is never part of a tensor name the importers make)."""
    return f"{op_name}#scratch"


def lifetimes(g: Graph, *, in_place: dict[str, int] | None = None) -> list[Buffer]:
    """One record per arena buffer, sized for the largest tensor it holds, and one per kernel scratch (live at
    its op only). Graph inputs live from step 0, graph outputs until the last step. `in_place` (op name -> input
    index, from `in_place_ops`) merges such an op's output into its input's record; None: no op is in place."""
    in_place = in_place or {}
    owner = buffer_of(g, in_place=in_place)
    last_step = max(len(g.ops) - 1, 0)
    span: dict[str, list[int]] = {}
    size: dict[str, int] = {}
    for name, b in owner.items():
        size[b] = max(size.get(b, 0), g.tensors[name].nbytes)

    def touch(tensor: str, step: int) -> None:
        b = owner[tensor]
        lo, hi = span.setdefault(b, [step, step])
        span[b] = [min(lo, step), max(hi, step)]

    for name in g.inputs:
        touch(name, 0)
    for step, op in enumerate(g.ops):
        for used in [*op.inputs, *op.outputs]:
            if used is not None and used in owner:
                touch(used, step)
    for name in g.outputs:
        touch(name, last_step)
    records = [Buffer(name=b, size=size[b], first_use=lo, last_use=hi) for b, (lo, hi) in span.items()]
    for step, op in enumerate(g.ops):
        extra = REGISTRY[op.type].scratch_bytes(op, g, in_place=op.name in in_place)
        if extra:
            records.append(Buffer(name=scratch_name(op.name), size=extra, first_use=step, last_use=step))
    return records


# ---- in-place ops ------------------------------------------------------------------------------------------------

def in_place_candidates(g: Graph, *, overwrite_graph_inputs: bool = True,
                        exclude: frozenset[str] = frozenset()) -> dict[str, int]:
    """Ops that may write their output over an input, for this op order: op name -> input index.

    An op qualifies when its kernel allows it (`Operator.in_place_inputs`) and the input's buffer dies at this op:
    no later op reads any tensor held in that buffer (reshape aliases and earlier in-place outputs included), the
    buffer holds no graph output, and no other input of the op is in the same buffer. The output must have the
    input's dtype. Patch-stage ops (`attrs["patch"]`) never qualify: their tensors are partial tiles. The graph
    input may be overwritten (as in TinyEngine): the caller fills it before every invoke, and the planner reuses
    its bytes after its last reader anyway; `overwrite_graph_inputs=False` keeps it intact."""
    owner = {n: n for n, t in g.tensors.items() if not t.is_const and not t.state}
    members: dict[str, list[str]] = {n: [n] for n in owner}
    last_read: dict[str, int] = {}
    for step, op in enumerate(g.ops):
        for i in op.inputs:
            if i is not None:
                last_read[i] = step
    outputs, inputs = set(g.outputs), set(g.inputs)
    chosen: dict[str, int] = {}

    def join(tensor: str, b: str) -> None:
        owner[tensor] = b
        members[b].append(tensor)

    def dies(b: str, step: int) -> bool:
        # not read later and not a graph output: nothing needs the input after this op
        return (not any(last_read.get(t, -1) > step or t in outputs for t in members[b])
                and (overwrite_graph_inputs or not any(t in inputs for t in members[b])))

    for step, op in enumerate(g.ops):
        if REGISTRY[op.type].alias_of_input:
            if op.inputs[0] in owner:
                join(op.outputs[0], owner[op.inputs[0]])  # type: ignore[index]
            continue
        if op.name in exclude:
            continue
        k = in_place_input(op, g, owner, partial(dies, step=step))
        if k is not None:
            chosen[op.name] = k
            join(op.outputs[0], owner[op.inputs[k]])  # type: ignore[index]
    return chosen


def in_place_input(op: Op, g: Graph, owner: Mapping[str, H], dies: Callable[[H], bool]) -> int | None:
    """The input whose buffer the output of `op` may take over, by the in-place rule (shared with schedule.py's
    model): the kernel allows it (`Operator.in_place_inputs`, first qualifying in its order), the output has the
    input's dtype, no other input of the op is in the same buffer, and `dies(buffer)`: nothing after this op
    needs that buffer. `owner` maps activation tensors to their buffers. None when no input qualifies; reshape
    aliases, patch-stage ops and ops with several outputs never do."""
    impl = REGISTRY[op.type]
    if impl.alias_of_input or op.attrs.get("patch") or len(op.outputs) != 1:
        return None
    y = op.outputs[0]
    for k in impl.in_place_inputs(op, g):
        x = op.inputs[k]
        if x is None or x not in owner or g.t(x).dtype != g.t(y).dtype:
            continue
        b = owner[x]
        if any(i is not None and j != k and owner.get(i) == b for j, i in enumerate(op.inputs)):
            continue
        if dies(b):
            return k
    return None


def _live_profile(g: Graph, in_place: dict[str, int]) -> tuple[int, int]:
    live = live_bytes_per_step(lifetimes(g, in_place=in_place), max(len(g.ops), 1))
    return max(live, default=0), sum(live)


def in_place_ops(g: Graph, *, overwrite_graph_inputs: bool = True) -> dict[str, int]:
    """The in-place ops the planner uses. A record has one size for its whole life, so an in-place chain whose
    tensors differ in size keeps the largest for as long as any of them lives (a stride-2 in-place depthwise keeps
    its input's whole buffer alive while its small output lives). Every candidate in a buffer of equal-sized
    tensors is kept (it lowers the live bytes at its step and changes no other); the others are dropped one at a
    time, in op order, wherever that lowers (peak live bytes, total live bytes over the steps).

    That greedy pass can get stuck (a growing 1x1 conv's chain may hide what the depthwise ops alone would save),
    so it also starts with each op type left out in turn, and the best live-bytes profile of the starts is kept."""
    candidates = in_place_candidates(g, overwrite_graph_inputs=overwrite_graph_inputs)
    kinds = sorted({op.type for op in g.ops if op.name in candidates})
    starts: list[frozenset[str]] = [frozenset()]
    if len(kinds) > 1:
        starts += [frozenset(op.name for op in g.ops if op.type == k) for k in kinds]
    results = [_greedy_in_place(g, start, overwrite_graph_inputs) for start in starts]
    return min(results, key=lambda profiled: profiled[0])[1]


def _greedy_in_place(g: Graph, exclude: frozenset[str], overwrite_graph_inputs: bool
                     ) -> tuple[tuple[int, int], dict[str, int]]:
    """One greedy pass from the candidates without `exclude`: (its live-bytes profile, the ops kept)."""
    chosen = in_place_candidates(g, overwrite_graph_inputs=overwrite_graph_inputs, exclude=exclude)
    owner = buffer_of(g, in_place=chosen)
    sizes: dict[str, set[int]] = {}
    for t, b in owner.items():
        sizes.setdefault(b, set()).add(g.tensors[t].nbytes)
    best = _live_profile(g, chosen)
    for op in g.ops:
        if op.name not in chosen or len(sizes[owner[op.outputs[0]]]) == 1:
            continue
        trial = in_place_candidates(g, overwrite_graph_inputs=overwrite_graph_inputs, exclude=exclude | {op.name})
        profile = _live_profile(g, trial)
        if profile < best:
            exclude, chosen, best = exclude | {op.name}, trial, profile
    return best, chosen


def check_in_place(g: Graph, in_place: dict[str, int]) -> None:
    """Independent re-check of the in-place choices on the graph: each op's kernel allows it, and no op after it
    reads (and no graph output is) a tensor whose bytes it overwrote. Raises PlanError."""
    owner = buffer_of(g, in_place=in_place)
    step_of = {op.name: s for s, op in enumerate(g.ops)}
    for name, k in in_place.items():
        step = step_of.get(name)
        if step is None:
            raise PlanError(f"in-place op {name} is not in the graph")
        op = g.ops[step]
        if k not in REGISTRY[op.type].in_place_inputs(op, g) or op.attrs.get("patch"):
            raise PlanError(f"op {name} ({op.type}) cannot write over its input {k}")
        b = owner[op.inputs[k]]  # type: ignore[index]
        before = {t for s, o in enumerate(g.ops[:step + 1]) for t in [*o.inputs, *o.outputs]
                  if t is not None and owner.get(t) == b and t != op.outputs[0]}
        for later in g.ops[step + 1:]:
            clash = [t for t in later.inputs if t in before]
            if clash:
                raise PlanError(f"op {name} writes over {clash[0]}, which {later.name} reads later")
        if before & set(g.outputs):
            raise PlanError(f"op {name} writes over graph output {sorted(before & set(g.outputs))[0]}")


def align_up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def _conflict_lists(buffers: list[Buffer]) -> list[list[int]]:
    """For each buffer, the indices of the other non-empty buffers live at a common step."""
    n = len(buffers)
    out: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        a = buffers[i]
        if not a.size:
            continue
        for j in range(i + 1, n):
            b = buffers[j]
            if b.size and a.overlaps_in_time(b):
                out[i].append(j)
                out[j].append(i)
    return out


def _lowest_offset(size: int, alignment: int, obstacles: list[tuple[int, int]]) -> int:
    """The lowest `alignment`-aligned offset where `size` bytes clear every (start, end) obstacle (sorted)."""
    offset = 0
    for lo, hi in obstacles:
        if offset + size <= lo:
            break  # fits in the gap before this obstacle
        offset = max(offset, align_up(hi, alignment))
    return offset


#: (a, b, d): buffer b always sits d bytes above buffer a (patch.py's split tensor over its stage input); the
#: records alone cannot say it, so the heuristics take it as an argument
Glue = tuple[int, int, int]


def _lowest_pair_offset(buffers: list[Buffer], conflicts: list[list[int]], offsets: list[int], glue: Glue) -> int:
    """The lowest aligned offset m where buffer a at m and buffer b at m + d both clear every placed buffer they
    conflict with."""
    a, b, d = glue
    m = 0
    moved = True
    while moved:  # m only grows: past each obstacle in turn, until none is hit
        moved = False
        for idx, shift in ((a, 0), (b, d)):
            size = buffers[idx].size
            for j in conflicts[idx]:
                if offsets[j] >= 0 and offsets[j] < m + shift + size and m + shift < offsets[j] + buffers[j].size:
                    m = max(m, align_up(offsets[j] + buffers[j].size - shift, ALIGNMENT))
                    moved = True
    return m


def _place_in_order(buffers: list[Buffer], conflicts: list[list[int]], order: list[int],
                    glue: Glue | None = None) -> tuple[list[int], int]:
    """Bottom-left decoding of a placement order: each buffer at the lowest aligned offset that clears the already
    placed buffers it conflicts with. Every packing that cannot be pushed down is the decoding of some order, so
    searching over orders loses nothing. With `glue`, b goes with a, when a comes up (`_lowest_pair_offset`).
    Returns (offsets by buffer index, arena bytes)."""
    offsets = [-1] * len(buffers)
    top = 0
    for i in order:
        b = buffers[i]
        if glue is not None and i in glue[:2]:
            if i == glue[0]:
                m = _lowest_pair_offset(buffers, conflicts, offsets, glue)
                offsets[i], offsets[glue[1]] = m, m + glue[2]
                top = max(top, m + b.size, m + glue[2] + buffers[glue[1]].size)
            continue
        if not b.size:
            offsets[i] = 0
            continue
        obstacles = sorted((offsets[j], offsets[j] + buffers[j].size) for j in conflicts[i] if offsets[j] >= 0)
        o = _lowest_offset(b.size, b.alignment, obstacles)
        offsets[i] = o
        top = max(top, o + b.size)
    return offsets, align_up(top, ALIGNMENT)


def _apply(buffers: list[Buffer], offsets: list[int]) -> int:
    for b, o in zip(buffers, offsets):
        b.offset = o
    return arena_size(buffers)


def _order_by_size(buffers: list[Buffer]) -> list[int]:
    return sorted(range(len(buffers)), key=lambda i: (-buffers[i].size, buffers[i].first_use, buffers[i].name))


def _order_by_conflicts(buffers: list[Buffer], conflicts: list[list[int]]) -> list[int]:
    """USMP's greedy_by_conflicts: the buffer that conflicts with the most bytes first (ties: larger, earlier)."""
    weight = [sum(buffers[j].size for j in conflicts[i]) + buffers[i].size for i in range(len(buffers))]
    return sorted(range(len(buffers)), key=lambda i: (-weight[i], -len(conflicts[i]), -buffers[i].size,
                                                       buffers[i].first_use, buffers[i].name))


def plan_greedy_by_size(buffers: list[Buffer], glue: Glue | None = None) -> int:
    """TFLM's greedy: largest first, each at the lowest offset that clears every placed buffer live at the
    same time. Ties are broken by first use then name, so the plan is deterministic. Returns the arena size."""
    offsets, _ = _place_in_order(buffers, _conflict_lists(buffers), _order_by_size(buffers), glue)
    return _apply(buffers, offsets)


def plan_greedy_by_conflicts(buffers: list[Buffer], glue: Glue | None = None) -> int:
    """USMP-style greedy by conflicts: the most conflicting buffer (by bytes live alongside it) first."""
    conflicts = _conflict_lists(buffers)
    offsets, _ = _place_in_order(buffers, conflicts, _order_by_conflicts(buffers, conflicts), glue)
    return _apply(buffers, offsets)


def lower_bound(buffers: list[Buffer]) -> int:
    """No plan can beat the aligned maximum of live bytes at one step."""
    steps = max((b.last_use for b in buffers), default=-1) + 1
    return align_up(max(live_bytes_per_step(buffers, steps), default=0), ALIGNMENT)


def plan_hill_climb(buffers: list[Buffer], seed: int = 0, steps: int = 300, start: list[int] | None = None,
                    glue: Glue | None = None) -> int:
    """Hill-climb over the placement order (USMP/Vela style): from the better greedy order, swap two random
    positions, keep the move if the arena does not grow (sideways moves cross plateaus), remember the best.
    Fixed seed and step cap: deterministic. Stops early at the lower bound."""
    n = len(buffers)
    conflicts = _conflict_lists(buffers)
    if start is None:
        candidates = [_order_by_size(buffers), _order_by_conflicts(buffers, conflicts)]
        start = min(candidates, key=lambda o: _place_in_order(buffers, conflicts, o, glue)[1])
    order = list(start)
    best_offsets, best = _place_in_order(buffers, conflicts, order, glue)
    current, target = best, lower_bound(buffers)
    rng = random.Random(seed)
    for _ in range(steps if n > 1 else 0):
        if best <= target:
            break
        i, j = rng.randrange(n), rng.randrange(n)
        if i == j:
            continue
        order[i], order[j] = order[j], order[i]
        offsets, arena = _place_in_order(buffers, conflicts, order, glue)
        if arena <= current:
            current = arena
            if arena < best:
                best, best_offsets = arena, offsets
        else:
            order[i], order[j] = order[j], order[i]
    return _apply(buffers, best_offsets)


@dataclass
class ExactResult:
    arena_bytes: int
    optimal: bool  # the search finished: no plan of these records (for this op order) has a smaller arena
    nodes: int


def plan_exact(buffers: list[Buffer], incumbent: list[int] | None = None, max_nodes: int = 20_000,
               time_limit_s: float = 60.0) -> ExactResult:
    """Branch and bound over placement orders, for small problems. Sound because some optimal packing is a
    "normal" one: sorted by (offset, index), every buffer sits at the lowest aligned offset clearing the buffers
    before it (push any packing down until nothing moves). The search enumerates only such orders: offsets never
    decrease along the order, and a buffer is never placed above a still-unplaced one that would fit entirely
    below it. Bound at a node: everything unplaced lies above the current offset, so at each step the arena holds
    the current offset + the unplaced live bytes + the parts of placed live buffers above the current offset.

    `incumbent` (offsets, e.g. the best heuristic plan) is kept unless something strictly smaller is found. The
    node cap keeps the result deterministic; the time limit is only a safety net, set far above what the cap costs
    (measured: at most 5 s per search, 40 random 5-38-buffer problems on a 2-core machine at load 10; the MLPerf Tiny
    models' searches end in milliseconds) so that a loaded machine never plans differently (it did at 2 s). Sets
    the offsets, returns the arena and whether optimality was proven."""
    n = len(buffers)
    conflicts = _conflict_lists(buffers)
    if incumbent is None:
        incumbent, _ = _place_in_order(buffers, conflicts, _order_by_size(buffers))
    best_offsets = list(incumbent)
    best = _apply(buffers, best_offsets)
    target = lower_bound(buffers)
    deadline = time.perf_counter() + time_limit_s
    steps = max((b.last_use for b in buffers), default=-1) + 1
    live_at = [[i for i in range(n) if buffers[i].size and buffers[i].first_use <= t <= buffers[i].last_use]
               for t in range(steps)]
    sizes = [b.size for b in buffers]
    offsets = [0 if not b.size else -1 for b in buffers]
    unplaced = [i for i in range(n) if sizes[i]]
    nodes = 0
    aborted = False

    def lowest(i: int) -> int:
        obstacles = sorted((offsets[j], offsets[j] + sizes[j]) for j in conflicts[i] if offsets[j] >= 0)
        return _lowest_offset(sizes[i], buffers[i].alignment, obstacles)

    def search(last_off: int, last_idx: int, top: int) -> None:
        nonlocal best, best_offsets, nodes, aborted
        if aborted or best <= target:
            return
        nodes += 1
        if nodes > max_nodes or (nodes % 256 == 0 and time.perf_counter() > deadline):
            aborted = True
            return
        if not unplaced:
            arena = align_up(top, ALIGNMENT)
            if arena < best:
                best, best_offsets = arena, list(offsets)
            return
        raw = {i: lowest(i) for i in unplaced}
        low = {i: max(o, last_off) for i, o in raw.items()}
        floor = min(low.values())
        bound = max(top, max(low[i] + sizes[i] for i in unplaced))
        for live in live_at:
            need = floor
            for i in live:
                if offsets[i] < 0:
                    need += sizes[i]
                elif offsets[i] + sizes[i] > floor:
                    need += offsets[i] + sizes[i] - floor
            bound = max(bound, need)
        if align_up(bound, ALIGNMENT) >= best:
            return
        ends = sorted((raw[i] + sizes[i], i) for i in unplaced)
        for i in sorted(unplaced, key=lambda i: (raw[i], -sizes[i], i)):
            o = raw[i]
            if o < last_off or (o == last_off and i < last_idx):
                continue  # offsets never decrease; equal offsets are time-disjoint, so one order among them
            cap = ends[0][0] if ends[0][1] != i else (ends[1][0] if len(ends) > 1 else o + 1)
            if o >= cap:
                continue  # another unplaced buffer would fit entirely below this one: not a normal packing
            if align_up(o + sizes[i], ALIGNMENT) >= best:
                continue
            offsets[i] = o
            unplaced.remove(i)
            search(o, i, max(top, o + sizes[i]))
            unplaced.append(i)
            unplaced.sort()
            offsets[i] = -1
            if aborted:
                return

    search(0, -1, 0)
    arena = _apply(buffers, best_offsets)
    return ExactResult(arena_bytes=arena, optimal=not aborted or best <= target, nodes=nodes)


def arena_size(buffers: list[Buffer]) -> int:
    return align_up(max((b.offset + b.size for b in buffers), default=0), ALIGNMENT)


def check_plan(buffers: list[Buffer], arena_bytes: int) -> None:
    """Independent re-verification: every buffer placed, aligned, inside the arena, and no two buffers live at
    the same step share a byte. Raises PlanError naming both buffers."""
    for b in buffers:
        if b.offset < 0:
            raise PlanError(f"buffer {b.name} was never placed")
        if b.offset % b.alignment:
            raise PlanError(f"buffer {b.name} at {b.offset} is not {b.alignment}-byte aligned")
        if b.offset + b.size > arena_bytes:
            raise PlanError(f"buffer {b.name} [{b.offset}, {b.offset + b.size}) leaves the {arena_bytes}-byte arena")
    for i, a in enumerate(buffers):
        for b in buffers[i + 1:]:
            if a.overlaps_in_time(b) and a.offset < b.offset + b.size and b.offset < a.offset + a.size and \
                    a.size and b.size:
                raise PlanError(f"buffers {a.name} [{a.offset}, {a.offset + a.size}) steps {a.first_use}-{a.last_use}"
                                f" and {b.name} [{b.offset}, {b.offset + b.size}) steps {b.first_use}-{b.last_use}"
                                " overlap while both are live")


def live_bytes_per_step(buffers: list[Buffer], steps: int) -> list[int]:
    """Sum of live buffer sizes at each step: the lower bound any packing of these lifetimes must reach.
    (A running sum of +size at first use and -size after last use: one pass, the in-place search calls it often.)"""
    delta = [0] * (steps + 1)
    for b in buffers:
        lo, hi = max(b.first_use, 0), min(b.last_use, steps - 1)
        if lo <= hi:
            delta[lo] += b.size
            delta[hi + 1] -= b.size
    return list(accumulate(delta[:steps]))


@dataclass
class MemoryPlan:
    buffers: list[Buffer]
    arena_bytes: int
    owner: dict[str, str]  # tensor -> buffer name
    live_bytes: list[int]
    strategy: str = "greedy_by_size"  # the strategy whose plan was kept
    strategy_arenas: dict[str, int] = field(default_factory=dict)  # arena of every strategy tried (all verified)
    optimal: bool = False  # proven smallest for these records and this op order
    patch: Any = None  # the patch.PatchPlan when the first stage runs per spatial patch, else None (layer by layer)
    layer_arena_bytes: int | None = None  # the layer-by-layer arena the patched plan was compared against
    in_place: dict[str, int] = field(default_factory=dict)  # op name -> the input index its output overwrites

    def offset(self, tensor: str) -> int:
        return next(b.offset for b in self.buffers if b.name == self.owner[tensor])

    def scratch_offset(self, op_name: str) -> int:
        """Arena offset of an op's kernel scratch (an op with scratch_bytes > 0)."""
        return next(b.offset for b in self.buffers if b.name == scratch_name(op_name))

    def is_in_place(self, op_name: str) -> bool:
        return op_name in self.in_place

    @property
    def lower_bound_bytes(self) -> int:
        return max(self.live_bytes, default=0)


STRATEGIES = ("greedy_by_size", "greedy_by_conflicts", "hill_climb", "exact")


def plan_buffers(buffers: list[Buffer], exact_work: int = 200_000, exact_time_s: float = 60.0,
                 hill_steps: int = 300, seed: int = 0, glue: Glue | None = None) -> tuple[str, dict[str, int], bool]:
    """Run every strategy on copies of the records, re-verify each plan with `check_plan`, keep the smallest arena
    (ties: the first in STRATEGIES) and write its offsets into `buffers`. Returns (winner, arena per strategy,
    proven optimal). The exact search starts from the best heuristic plan, so it never returns anything worse; its
    node cap is `exact_work` / number of buffers (a node costs about that), so large graphs get a short search.
    With `glue` (see Glue) only the heuristics run: the exact search cannot hold two records together."""
    plans: dict[str, list[Buffer]] = {}
    arenas: dict[str, int] = {}

    def run(name: str, fn: Callable[[list[Buffer]], int]) -> None:
        copy = [replace(b, offset=-1) for b in buffers]
        arena = fn(copy)
        check_plan(copy, arena)
        plans[name], arenas[name] = copy, arena

    run("greedy_by_size", lambda bs: plan_greedy_by_size(bs, glue))
    run("greedy_by_conflicts", lambda bs: plan_greedy_by_conflicts(bs, glue))
    run("hill_climb", lambda bs: plan_hill_climb(bs, seed=seed, steps=hill_steps, glue=glue))
    best_heuristic = min(arenas, key=lambda k: arenas[k])  # first of the minima
    exact = ExactResult(0, False, 0)

    def run_exact(bs: list[Buffer]) -> int:
        nonlocal exact
        exact = plan_exact(bs, incumbent=[b.offset for b in plans[best_heuristic]],
                           max_nodes=max(1_000, exact_work // max(len(buffers), 1)), time_limit_s=exact_time_s)
        return exact.arena_bytes

    if glue is None:
        run("exact", run_exact)
    winner = min(arenas, key=lambda k: arenas[k])  # arenas is in STRATEGIES order
    for b, p in zip(buffers, plans[winner]):
        b.offset = p.offset
    return winner, arenas, exact.optimal or arenas[winner] <= lower_bound(buffers)


def plan_memory(g: Graph, *, in_place: bool | None = None, overwrite_graph_inputs: bool = True) -> MemoryPlan:
    """Records of `g` in its op order, placed by every strategy, the smallest kept, re-checked (and the in-place
    choices re-checked on the graph). in_place=True: with the ops of `in_place_ops`; False: none; None (default):
    both, and the in-place plan only where its arena is strictly smaller (an in-place kernel costs a little more
    time, e.g. the depthwise copies each channel out first: that is paid only for memory)."""
    chosen = in_place_ops(g, overwrite_graph_inputs=overwrite_graph_inputs) if in_place is not False else {}
    if in_place is None and chosen:
        plain, packed = _plan_graph(g, {}), _plan_graph(g, chosen)
        return packed if packed.arena_bytes < plain.arena_bytes else plain
    return _plan_graph(g, chosen)


def _plan_graph(g: Graph, in_place: dict[str, int]) -> MemoryPlan:
    check_in_place(g, in_place)
    return plan_records(g, lifetimes(g, in_place=in_place), buffer_of(g, in_place=in_place), in_place)


def plan_records(g: Graph, buffers: list[Buffer], owner: dict[str, str], in_place: dict[str, int]) -> MemoryPlan:
    """The memory plan of records made for g's op order (`lifetimes`, or patch.py's patched records): placed by
    `plan_buffers`, re-checked, with the live bytes per op step."""
    strategy, arenas, optimal = plan_buffers(buffers)
    arena = arena_size(buffers)
    check_plan(buffers, arena)
    return MemoryPlan(buffers=buffers, arena_bytes=arena, owner=owner,
                      live_bytes=live_bytes_per_step(buffers, max(len(g.ops), 1)), strategy=strategy,
                      strategy_arenas=arenas, optimal=optimal, in_place=in_place)
