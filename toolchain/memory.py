"""The memory planner: activation buffers -> offsets in one static arena, and an independent checker.

The planner sees only plain records (size, first_use, last_use, alignment), never the graph: `lifetimes()` turns
a graph into records, `plan_greedy_by_size()` places them, `check_plan()` re-verifies any plan from scratch.
Steps are op indices; a buffer is live on every step in [first_use, last_use], both ends included, so the
output of step k never shares bytes with an input of step k (kernels here are not in-place).
"""

from __future__ import annotations

from dataclasses import dataclass

from .ir import Graph
from .ops import REGISTRY

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


def buffer_of(g: Graph) -> dict[str, str]:
    """Tensor -> the buffer that holds it: alias ops (reshape) share their input's buffer."""
    owner = {n: n for n, t in g.tensors.items() if not t.is_const}
    for op in g.ops:
        if REGISTRY[op.type].alias_of_input and op.inputs[0] in owner:
            owner[op.outputs[0]] = owner[op.inputs[0]]  # type: ignore[index]
    return owner


def lifetimes(g: Graph) -> list[Buffer]:
    """One record per arena buffer. Graph inputs live from step 0, graph outputs until the last step."""
    owner = buffer_of(g)
    last_step = max(len(g.ops) - 1, 0)
    span: dict[str, list[int]] = {}

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
    return [Buffer(name=b, size=g.tensors[b].nbytes, first_use=lo, last_use=hi) for b, (lo, hi) in span.items()]


def align_up(x: int, a: int) -> int:
    return (x + a - 1) // a * a


def plan_greedy_by_size(buffers: list[Buffer]) -> int:
    """TFLM's greedy: largest first, each at the lowest offset that clears every placed buffer live at the
    same time. Ties are broken by first use then name, so the plan is deterministic. Returns the arena size."""
    placed: list[Buffer] = []
    for b in sorted(buffers, key=lambda b: (-b.size, b.first_use, b.name)):
        conflicts = sorted((p for p in placed if p.overlaps_in_time(b)), key=lambda p: p.offset)
        offset = 0
        for p in conflicts:
            if offset + b.size <= p.offset:
                break  # fits in the gap before p
            offset = max(offset, align_up(p.offset + p.size, b.alignment))
        b.offset = align_up(offset, b.alignment)
        placed.append(b)
    return arena_size(buffers)


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
    """Sum of live buffer sizes at each step: the lower bound any packing of these lifetimes must reach."""
    return [sum(b.size for b in buffers if b.first_use <= s <= b.last_use) for s in range(steps)]


@dataclass
class MemoryPlan:
    buffers: list[Buffer]
    arena_bytes: int
    owner: dict[str, str]  # tensor -> buffer name
    live_bytes: list[int]

    def offset(self, tensor: str) -> int:
        return next(b.offset for b in self.buffers if b.name == self.owner[tensor])

    @property
    def lower_bound_bytes(self) -> int:
        return max(self.live_bytes, default=0)


def plan_memory(g: Graph) -> MemoryPlan:
    buffers = lifetimes(g)
    arena = plan_greedy_by_size(buffers)
    check_plan(buffers, arena)
    return MemoryPlan(buffers=buffers, arena_bytes=arena, owner=buffer_of(g),
                      live_bytes=live_bytes_per_step(buffers, max(len(g.ops), 1)))
