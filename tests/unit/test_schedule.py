"""Operator order search (toolchain/schedule.py): finds the order of least memory, never loses to the given order,
and its memory model agrees with the planner's records."""

from itertools import permutations

import numpy as np
import pytest

from edgec.importers import import_model
from edgec.ir import Graph, Op, Tensor
from edgec.memory import lifetimes, live_bytes_per_step, plan_memory
from edgec.passes import canonicalize
from edgec.schedule import best_order, order_peak, reorder_for_memory, reordered
from edgec.verifier import verify


def act(name, n):
    return Tensor(name, (1, n), "int8")


def conv(name, x, y):
    return Op("conv2d", name, [x, "w"], [y])


def graph(tensors, ops, inputs, outputs):
    ts = {t.name: t for t in tensors}
    ts["w"] = Tensor("w", (1, 1), "int8", data=np.zeros((1, 1), np.int8))
    return Graph("g", ts, ops, inputs, outputs)


def two_branches():
    """x -> a1 (big) -> a2 (small), x -> b1 (big) -> b2 (small), add(a2, b2). Given order: both big tensors first."""
    ts = [act("x", 10), act("a1", 1000), act("a2", 10), act("b1", 1000), act("b2", 10), act("y", 10)]
    ops = [conv("ca1", "x", "a1"), conv("cb1", "x", "b1"), conv("ca2", "a1", "a2"), conv("cb2", "b1", "b2"),
           Op("add", "add", ["a2", "b2"], ["y"])]
    return graph(ts, ops, ["x"], ["y"])


def test_branch_order_lowers_the_peak():
    g = two_branches()
    assert order_peak(g, [0, 1, 2, 3, 4]) == 10 + 1000 + 1000  # x, a1, b1 all live when b1 is made
    order, peak, exhaustive = best_order(g)
    assert exhaustive and order == [0, 2, 1, 3, 4] and peak == 10 + 1000 + 10  # finish branch a first
    better = verify(reorder_for_memory(g))
    assert [op.name for op in better.ops] == ["ca1", "ca2", "cb1", "cb2", "add"]
    assert plan_memory(better).arena_bytes < plan_memory(g).arena_bytes
    assert max(plan_memory(better).live_bytes) == peak


def test_already_best_order_is_returned_unchanged():
    g = two_branches()
    g.ops = [g.ops[k] for k in (0, 2, 1, 3, 4)]
    assert reorder_for_memory(g) is g


def random_dag(seed, n_ops, in_place_ops=True):
    """Ops on earlier tensors: conv (new size), relu and add (same size: in-place candidates)."""
    rng = np.random.default_rng(seed)
    sizes = [8, 16, 32, 64, 128]
    tensors = [act("x0", int(rng.choice(sizes)))]
    ops = []
    for k in range(n_ops):
        pick = tensors[int(rng.integers(max(0, len(tensors) - 4), len(tensors)))]
        kind = rng.integers(0, 3) if in_place_ops else 0
        same = [t for t in tensors if t.shape == pick.shape and t.name != pick.name]
        if kind == 1:
            y = act(f"t{k}", pick.shape[1])
            ops.append(Op("relu", f"op{k}", [pick.name], [y.name], attrs=dict(lo=0.0, hi=None)))
        elif kind == 2 and same:
            y = act(f"t{k}", pick.shape[1])
            ops.append(Op("add", f"op{k}", [pick.name, same[int(rng.integers(len(same)))].name], [y.name]))
        else:
            y = act(f"t{k}", int(rng.choice(sizes)))
            ops.append(conv(f"op{k}", pick.name, y.name))
        tensors.append(y)
    read = {i for op in ops for i in op.inputs}
    outputs = [t.name for t in tensors[1:] if t.name not in read] or [tensors[-1].name]
    return graph(tensors, ops, ["x0"], outputs)


def topological_orders(g):
    made_by = {o: k for k, op in enumerate(g.ops) for o in op.outputs}
    for perm in permutations(range(len(g.ops))):
        pos = {k: i for i, k in enumerate(perm)}
        if all(pos[made_by[t]] < pos[k] for k, op in enumerate(g.ops) for t in op.inputs if t in made_by):
            yield list(perm)


@pytest.mark.parametrize("seed", range(25))
def test_search_equals_brute_force(seed):
    g = random_dag(seed, 7)
    order, peak, exhaustive = best_order(g)
    assert exhaustive
    assert peak == min(order_peak(g, o) for o in topological_orders(g))
    assert peak == order_peak(g, order)


@pytest.mark.parametrize("seed", range(25))
def test_model_equals_the_planner_lower_bound(seed):
    """With equal-sized in-place chains (relu, unbroadcast add) the search's live bytes are the planner's."""
    g = random_dag(100 + seed, 10)
    order, peak, _ = best_order(g)
    r = reordered(g, order)
    p = plan_memory(r, in_place=True)
    assert p.lower_bound_bytes == peak


@pytest.mark.parametrize("seed", range(10))
def test_model_without_in_place_equals_plain_records(seed):
    g = random_dag(300 + seed, 10, in_place_ops=False)
    assert order_peak(g, list(range(len(g.ops)))) == max(live_bytes_per_step(lifetimes(g), len(g.ops)))


@pytest.mark.parametrize("seed", range(25))
def test_reordering_never_loses(seed):
    g = random_dag(200 + seed, 14)
    r = verify(reorder_for_memory(g))
    assert sorted(op.name for op in r.ops) == sorted(op.name for op in g.ops)
    assert plan_memory(r).arena_bytes <= plan_memory(g).arena_bytes


def test_beam_cap_still_returns_a_valid_order():
    g = random_dag(7, 16)
    order, peak, _ = best_order(g, max_states=3)
    assert sorted(order) == list(range(len(g.ops)))
    verify(reordered(g, order))
    assert peak == order_peak(g, order)


MLPERF = ["kws_ref_model.tflite", "vww_96_int8.tflite", "pretrainedResnet_quant.tflite", "ad01_int8.tflite"]


@pytest.mark.parametrize("name", MLPERF)
def test_mlperf_reordering_is_exhaustive_and_never_loses(shared_models, name):
    g = verify(canonicalize(verify(import_model(shared_models / name))))
    _, peak, exhaustive = best_order(g)
    assert exhaustive and peak <= order_peak(g, list(range(len(g.ops))))
    r = verify(reorder_for_memory(g))
    assert plan_memory(r).arena_bytes <= plan_memory(g).arena_bytes
