"""The memory planner on hand-made lifetimes, and its independent checker (which must reject bad plans); in-place
ops on hand-made graphs."""

import numpy as np
import pytest

from edgec.ir import Graph, Op, Tensor
from edgec.memory import (
    ALIGNMENT,
    STRATEGIES,
    Buffer,
    PlanError,
    align_up,
    arena_size,
    check_in_place,
    check_plan,
    in_place_candidates,
    in_place_ops,
    lifetimes,
    live_bytes_per_step,
    plan_buffers,
    plan_exact,
    plan_greedy_by_conflicts,
    plan_greedy_by_size,
    plan_hill_climb,
    plan_memory,
    scratch_name,
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


def fresh(buffers):
    return [buf(b.name, b.size, b.first_use, b.last_use, alignment=b.alignment) for b in buffers]


def lower_bound(buffers):
    steps = max(b.last_use for b in buffers) + 1
    return max(live_bytes_per_step(buffers, steps))


def exact(buffers):
    return plan_exact(buffers, max_nodes=2_000).arena_bytes


STRATEGY_FNS = {"greedy_by_size": plan_greedy_by_size, "greedy_by_conflicts": plan_greedy_by_conflicts,
                "hill_climb": plan_hill_climb, "exact": exact}


def random_buffers(seed, n_max=40):
    rng = np.random.default_rng(seed)
    steps = int(rng.integers(1, 25))
    buffers = []
    for i in range(int(rng.integers(1, n_max))):
        first = int(rng.integers(0, steps))
        last = int(rng.integers(first, steps))
        size = int(rng.choice([rng.integers(1, 64), rng.integers(64, 5000)]))
        buffers.append(buf(f"t{i}", size, first, last, alignment=int(rng.choice([1, 4, 8, 16]))))
    return buffers


# ---- greedy by size is not optimal; the other strategies find the optimum -----------------------------------

def greedy_trap():
    """Largest first puts the two 40-byte buffers at 0, the 24-byte one above the first (at 40), and the long-lived
    8-byte one then has to clear both: 72 bytes. Putting the 24-byte one at 0 and stacking the rest on it reaches
    the lower bound (64 bytes live at step 2)."""
    return [buf("t0", 40, 5, 5), buf("t1", 40, 2, 2), buf("t2", 8, 3, 6), buf("t3", 24, 1, 3)]


def test_greedy_by_size_is_not_optimal_and_the_search_finds_the_optimum():
    bs = greedy_trap()
    assert lower_bound(bs) == 64
    g = fresh(bs)
    assert plan_greedy_by_size(g) == 72
    check_plan(g, 72)
    h = fresh(bs)
    assert plan_hill_climb(h) == 64
    check_plan(h, 64)
    e = fresh(bs)
    result = plan_exact(e)
    assert result.arena_bytes == 64 and result.optimal
    check_plan(e, 64)
    # plan_buffers keeps the smallest, records the winner, and writes its offsets
    p = fresh(bs)
    winner, arenas, optimal = plan_buffers(p)
    assert arenas["greedy_by_size"] == 72 and winner in ("greedy_by_conflicts", "hill_climb", "exact")
    assert arena_size(p) == arenas[winner] == 64 and optimal
    check_plan(p, 64)


def test_greedy_by_conflicts_beats_greedy_by_size():
    # the 24-byte buffer conflicts with the most bytes: placing it first avoids the trap
    bs = [buf("t0", 40, 0, 1), buf("t1", 24, 6, 6, alignment=1), buf("t2", 8, 3, 5), buf("t3", 16, 4, 5, alignment=1),
          buf("t4", 16, 0, 3, alignment=1), buf("t5", 24, 3, 4)]
    a, b = fresh(bs), fresh(bs)
    assert plan_greedy_by_size(a) == 64
    assert plan_greedy_by_conflicts(b) == 56 == align_up(lower_bound(bs), ALIGNMENT)
    check_plan(b, 56)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_equal_lifetimes_every_strategy(strategy):
    """TinyEngine's first-fit bug: identical [first, last] are live together, whatever the strategy."""
    bs = [buf("a", 64, 0, 2), buf("b", 64, 0, 2), buf("c", 64, 0, 2), buf("d", 32, 3, 3)]
    arena = STRATEGY_FNS[strategy](bs)
    check_plan(bs, arena)
    assert sorted(b.offset for b in bs[:3]) == [0, 64, 128] and arena == 192


def test_exact_proves_optimality_on_tiny_cases():
    # a chain (each op reads the previous output): the lower bound is reachable, and the search proves it
    chain = [buf(f"x{i}", s, i, i + 1) for i, s in enumerate([96, 200, 48, 200, 16])]
    r = plan_exact(chain)
    check_plan(chain, r.arena_bytes)
    assert r.optimal and r.arena_bytes == align_up(lower_bound(chain), ALIGNMENT) == 296
    # equal sizes on a chain of overlaps: the lower bound is reached too
    pairs = [buf("a", 8, 0, 1), buf("b", 8, 1, 2), buf("c", 8, 2, 3), buf("d", 8, 0, 0)]
    r = plan_exact(pairs)
    check_plan(pairs, r.arena_bytes)
    assert r.optimal and r.arena_bytes == 16 == lower_bound(pairs)


def test_exact_matches_brute_force():
    """On small random cases the search equals the best placement order found by trying every permutation."""
    from itertools import permutations

    for seed in range(60):
        bs = random_buffers(1000 + seed, n_max=7)
        best = None
        for perm in permutations(range(len(bs))):
            trial = fresh(bs)
            placed: list[Buffer] = []
            for i in perm:
                b = trial[i]
                obstacles = sorted((p.offset, p.offset + p.size) for p in placed if p.size and b.size and
                                   p.overlaps_in_time(b))
                o = 0
                for lo, hi in obstacles:
                    if o + b.size <= lo:
                        break
                    o = max(o, align_up(hi, b.alignment))
                b.offset = o
                placed.append(b)
            best = arena_size(trial) if best is None else min(best, arena_size(trial))
        e = fresh(bs)
        r = plan_exact(e)
        check_plan(e, r.arena_bytes)
        assert r.optimal and r.arena_bytes == best, seed


def test_exact_respects_its_node_cap_and_keeps_the_incumbent():
    bs = random_buffers(7, n_max=40)
    g = fresh(bs)
    greedy = plan_greedy_by_size(g)
    e = fresh(bs)
    r = plan_exact(e, incumbent=[b.offset for b in g], max_nodes=5)
    check_plan(e, r.arena_bytes)
    assert r.nodes <= 6 and r.arena_bytes <= greedy


@pytest.mark.parametrize("seed", range(40))
def test_all_strategies_on_random_lifetimes(seed):
    """Every strategy's plan passes the checker and respects the lower bound; the kept plan is no larger than any
    strategy's; the whole thing is deterministic."""
    bs = random_buffers(seed)
    lb = lower_bound(bs)
    arenas = {}
    for name, fn in STRATEGY_FNS.items():
        trial = fresh(bs)
        arenas[name] = fn(trial)
        check_plan(trial, arenas[name])
        assert arenas[name] >= lb
    chosen = fresh(bs)
    winner, recorded, optimal = plan_buffers(chosen)
    arena = arena_size(chosen)
    check_plan(chosen, arena)
    heuristics = ("greedy_by_size", "greedy_by_conflicts", "hill_climb")
    assert {k: recorded[k] for k in heuristics} == {k: arenas[k] for k in heuristics}
    assert recorded["exact"] <= min(recorded[k] for k in heuristics)  # it starts from the best heuristic plan
    assert arena == recorded[winner] >= lb
    assert all(arena <= a for a in recorded.values())
    assert winner == next(s for s in STRATEGIES if recorded[s] == arena)  # ties: the first strategy
    if optimal:
        assert arena <= recorded["greedy_by_size"]
    again = fresh(bs)
    assert plan_buffers(again) == (winner, recorded, optimal)
    assert [b.offset for b in again] == [b.offset for b in chosen]


def test_live_bytes_per_step():
    bs = [buf("a", 10, 0, 1), buf("b", 20, 1, 2), buf("c", 5, 3, 3)]
    assert live_bytes_per_step(bs, 4) == [10, 30, 20, 5]


# ---- in-place ops: hand-made graphs ------------------------------------------------------------------------------

def act(name, shape):
    return Tensor(name, tuple(shape), "int8")


def weight(name, shape):
    return Tensor(name, tuple(shape), "int8", data=np.zeros(shape, np.int8))


def graph(tensors, ops, inputs, outputs):
    return Graph("g", {t.name: t for t in tensors}, ops, inputs, outputs)


def relu(name, x, y, **attrs):
    return Op("relu", name, [x], [y], attrs=dict(lo=0.0, hi=None, **attrs))


def conv(name, x, y):
    return Op("conv2d", name, [x, "w"], [y])


def depthwise(name, x, y, stride):
    return Op("depthwise_conv2d", name, [x, "dw"], [y], attrs=dict(depth_multiplier=1, stride_h=stride,
                                                                     stride_w=stride))


def test_in_place_chain_is_one_record():
    g = graph([act("x", (1, 64)), act("a", (1, 64)), act("b", (1, 64))],
              [relu("r1", "x", "a"), relu("r2", "a", "b")], ["x"], ["b"])
    assert in_place_ops(g) == {"r1": 0, "r2": 0}
    records = lifetimes(g, in_place=in_place_ops(g))
    assert [(b.name, b.size, b.first_use, b.last_use) for b in records] == [("x", 64, 0, 1)]
    assert plan_memory(g, in_place=True).arena_bytes == 64
    assert plan_memory(g, in_place=False).arena_bytes == 128
    assert plan_memory(g).in_place == {"r1": 0, "r2": 0}  # default: in place because it is smaller


def test_input_read_later_is_not_overwritten():
    g = graph([act("x", (1, 64)), act("a", (1, 64)), act("y", (1, 64))],
              [relu("r", "x", "a"), Op("add", "add", ["x", "a"], ["y"])], ["x"], ["y"])
    assert in_place_ops(g) == {"add": 0}  # relu must keep x for the add; the add may take x (both die there)
    check_in_place(g, {"add": 0})
    with pytest.raises(PlanError, match="reads later"):
        check_in_place(g, {"r": 0})


def test_graph_output_is_never_overwritten():
    g = graph([act("x", (1, 64)), act("a", (1, 64)), act("b", (1, 64))],
              [relu("r1", "x", "a"), relu("r2", "a", "b")], ["x"], ["a", "b"])
    assert in_place_ops(g) == {"r1": 0}
    with pytest.raises(PlanError, match="graph output"):
        check_in_place(g, {"r1": 0, "r2": 0})


def test_graph_input_overwrite_is_optional():
    g = graph([act("x", (1, 64)), act("y", (1, 64))], [relu("r", "x", "y")], ["x"], ["y"])
    assert in_place_ops(g) == {"r": 0}
    assert in_place_ops(g, overwrite_graph_inputs=False) == {}


def test_broadcast_input_is_never_overwritten():
    ts = [act("s", (1, 1, 1, 8)), act("x", (1, 4, 4, 8)), act("y", (1, 4, 4, 8)), act("z", (1, 4, 4, 8))]
    g = graph(ts, [Op("add", "add", ["s", "x"], ["y"])], ["s", "x"], ["y"])
    assert in_place_ops(g) == {"add": 1}
    # x read again later: the broadcast s is the only other candidate, and it is not one
    g = graph(ts, [Op("add", "add", ["s", "x"], ["y"]), Op("mul", "mul", ["y", "x"], ["z"])], ["s", "x"], ["z"])
    assert in_place_ops(g) == {"mul": 0}


def test_same_buffer_twice_and_patch_ops_are_not_in_place():
    g = graph([act("x", (1, 64)), act("y", (1, 64))], [Op("add", "add", ["x", "x"], ["y"])], ["x"], ["y"])
    assert in_place_ops(g) == {}
    g = graph([act("x", (1, 64)), act("y", (1, 64))], [relu("r", "x", "y", patch=True)], ["x"], ["y"])
    assert in_place_ops(g) == {}
    with pytest.raises(PlanError, match="cannot write over"):
        check_in_place(g, {"r": 0})


def test_in_place_depthwise_has_a_scratch_record_live_at_its_step_only():
    g = graph([act("x", (1, 8, 8, 8)), weight("dw", (1, 3, 3, 8)), act("y", (1, 8, 8, 8)), act("z", (1, 8, 8, 8))],
              [depthwise("d", "x", "y", 1), relu("r", "y", "z")], ["x"], ["z"])
    assert in_place_ops(g) == {"d": 0, "r": 0}
    p = plan_memory(g, in_place=True)
    records = {b.name: b for b in p.buffers}
    assert set(records) == {"x", scratch_name("d")}
    s = records[scratch_name("d")]
    assert (s.size, s.first_use, s.last_use) == (64, 0, 0) and p.scratch_offset("d") == s.offset
    assert p.live_bytes == [512 + 64, 512]  # the lower bound counts the aliasing and the scratch
    assert p.arena_bytes == p.lower_bound_bytes == 576
    assert p.offset("x") == p.offset("y") == p.offset("z")
    check_plan(p.buffers, p.arena_bytes)
    assert plan_memory(g, in_place=False).arena_bytes == 1024


def test_shrinking_in_place_is_kept_only_where_it_lowers_the_live_bytes():
    """A stride-2 in-place depthwise keeps its input's 512 bytes alive for as long as its 128-byte output lives."""
    base = [act("x", (1, 8, 8, 8)), weight("dw", (1, 3, 3, 8)), weight("w", (32, 1, 1, 8)), act("y", (1, 4, 4, 8))]
    # followed by a relu that runs in place too: 512 + 64 then 512, instead of 640 then 128: kept
    g = graph([*base, act("z", (1, 4, 4, 8))], [depthwise("d", "x", "y", 2), relu("r", "y", "z")], ["x"], ["z"])
    assert in_place_candidates(g) == in_place_ops(g) == {"d": 0, "r": 0}
    # followed by a conv with a large output: 512 + 512 at the conv, instead of 640 and 640: dropped
    g = graph([*base, act("z", (1, 4, 4, 32))], [depthwise("d", "x", "y", 2), conv("c", "y", "z")], ["x"], ["z"])
    assert in_place_candidates(g) == {"d": 0} and in_place_ops(g) == {}
    assert plan_memory(g, in_place=True).arena_bytes == 640


def test_default_plan_keeps_kernels_plain_when_in_place_does_not_shrink_the_arena():
    g = graph([act("x", (1, 64)), act("a", (1, 64)), weight("w", (256, 64)), act("b", (1, 256))],
              [relu("r", "x", "a"), conv("c", "a", "b")], ["x"], ["b"])
    assert plan_memory(g, in_place=True).in_place == {"r": 0}
    assert plan_memory(g, in_place=True).arena_bytes == plan_memory(g, in_place=False).arena_bytes == 320
    assert plan_memory(g).in_place == {}
