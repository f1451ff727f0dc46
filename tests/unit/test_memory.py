"""The memory planner on hand-made lifetimes, and its independent checker (which must reject bad plans)."""

import numpy as np
import pytest

from edgec.memory import (
    ALIGNMENT,
    Buffer,
    PlanError,
    align_up,
    arena_size,
    check_plan,
    live_bytes_per_step,
    plan_greedy_by_size,
)


def buf(name, size, first, last, offset=-1, alignment=ALIGNMENT):
    return Buffer(name=name, size=size, first_use=first, last_use=last, alignment=alignment, offset=offset)


def plan(*buffers):
    bs = list(buffers)
    arena = plan_greedy_by_size(bs)
    check_plan(bs, arena)
    return {b.name: b.offset for b in bs}, arena


def test_disjoint_lifetimes_share_an_offset():
    offsets, arena = plan(buf("a", 100, 0, 1), buf("b", 100, 2, 3))
    assert offsets == {"a": 0, "b": 0}
    assert arena == align_up(100, ALIGNMENT)


def test_equal_lifetimes_never_overlap():
    """Two buffers with the same (first, last) are live together: TinyEngine's first-fit once put them at the
    same offset. Here they must be side by side."""
    offsets, arena = plan(buf("a", 64, 0, 2), buf("b", 64, 0, 2))
    assert sorted(offsets.values()) == [0, 64]
    assert arena == 128


def test_touching_lifetimes_are_both_live_at_the_shared_step():
    """Ends are inclusive: the output of step 1 must not overwrite the input that step 1 reads."""
    offsets, _ = plan(buf("x", 32, 0, 1), buf("y", 32, 1, 2))
    assert offsets["x"] != offsets["y"]


def test_gap_is_reused_only_when_it_fits():
    # big lives 0-0, the two small ones 1-2: they reuse big's bytes
    offsets, arena = plan(buf("big", 256, 0, 0), buf("s1", 64, 1, 2), buf("s2", 64, 1, 2))
    assert arena == 256 and sorted([offsets["s1"], offsets["s2"]]) == [0, 64]
    # a 64-byte gap between two live buffers must not take a 100-byte one (a first-fit that checks only the
    # start of the gap would put it there): the checker rejects such a plan
    with pytest.raises(PlanError):
        check_plan([buf("lo", 64, 0, 3, offset=0), buf("hi", 64, 0, 3, offset=128),
                    buf("mid", 100, 1, 2, offset=64)], 256)


def test_alignment():
    offsets, arena = plan(buf("a", 3, 0, 1), buf("b", 5, 0, 1), buf("c", 1, 0, 1))
    assert all(o % ALIGNMENT == 0 for o in offsets.values())
    assert arena % ALIGNMENT == 0 and arena == 3 * ALIGNMENT
    offsets, _ = plan(buf("a", 3, 0, 1, alignment=16), buf("b", 20, 0, 1, alignment=16))
    assert all(o % 16 == 0 for o in offsets.values())


def test_plan_is_deterministic():
    def make():
        return [buf(f"t{i}", 16 * (i % 3 + 1), i % 4, i % 4 + 2) for i in range(10)]

    a, b = make(), make()
    plan_greedy_by_size(a)
    plan_greedy_by_size(b)
    assert [x.offset for x in a] == [x.offset for x in b]


# ---- the checker must reject bad plans -------------------------------------------------------------------------

def test_check_rejects_overlap_while_live():
    with pytest.raises(PlanError, match="a .* and b .* overlap"):
        check_plan([buf("a", 64, 0, 2, offset=0), buf("b", 64, 1, 3, offset=32)], 128)


def test_check_rejects_overlap_at_a_shared_step():
    with pytest.raises(PlanError, match="overlap"):
        check_plan([buf("a", 8, 0, 1, offset=0), buf("b", 8, 1, 2, offset=0)], 8)


def test_check_allows_overlap_in_space_when_disjoint_in_time():
    check_plan([buf("a", 64, 0, 1, offset=0), buf("b", 64, 2, 3, offset=0)], 64)


def test_check_rejects_misaligned():
    with pytest.raises(PlanError, match="aligned"):
        check_plan([buf("a", 8, 0, 1, offset=4)], 16)


def test_check_rejects_out_of_arena():
    with pytest.raises(PlanError, match="leaves"):
        check_plan([buf("a", 64, 0, 1, offset=8)], 64)


def test_check_rejects_unplaced():
    with pytest.raises(PlanError, match="never placed"):
        check_plan([buf("a", 8, 0, 1)], 64)


def test_zero_sized_buffers_do_not_conflict():
    check_plan([buf("a", 0, 0, 1, offset=0), buf("b", 8, 0, 1, offset=0)], 8)


# ---- property: random lifetimes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(40))
def test_random_lifetimes(seed):
    rng = np.random.default_rng(seed)
    steps = int(rng.integers(1, 25))
    buffers = []
    for i in range(int(rng.integers(1, 40))):
        first = int(rng.integers(0, steps))
        last = int(rng.integers(first, steps))
        size = int(rng.choice([rng.integers(1, 64), rng.integers(64, 5000)]))
        buffers.append(buf(f"t{i}", size, first, last, alignment=int(rng.choice([1, 4, 8, 16]))))
    arena = plan_greedy_by_size(buffers)
    check_plan(buffers, arena)
    assert arena == arena_size(buffers)
    assert arena >= max(live_bytes_per_step(buffers, steps))
    assert arena <= sum(align_up(b.size, 16) for b in buffers)
    # a 1-byte-smaller arena cannot hold this plan
    if arena:
        last_byte = max(b.offset + b.size for b in buffers)
        with pytest.raises(PlanError):
            check_plan(buffers, last_byte - 1)


def test_live_bytes_per_step():
    bs = [buf("a", 10, 0, 1), buf("b", 20, 1, 2), buf("c", 5, 3, 3)]
    assert live_bytes_per_step(bs, 4) == [10, 30, 20, 5]
