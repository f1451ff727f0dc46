"""The exact multiple-choice knapsack of `--scheme auto` (toolchain/train/search.py) against brute force: on random
small instances, its best solutions are exactly the best of all feasible combinations (gain down, cost up), each
one feasible and scored as it says."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edgec.train.search import knapsack


def brute_force(groups, capacity):
    out = []
    for picks in itertools.product(*[range(len(items)) for items in groups]):
        cost = sum(groups[g][j][0] for g, j in enumerate(picks))
        if cost <= capacity:
            out.append((sum(groups[g][j][1] for g, j in enumerate(picks)), cost, list(picks)))
    return sorted(out, key=lambda s: (-s[0], s[1]))


@pytest.mark.parametrize("seed", range(60))
def test_knapsack_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    n_groups = int(rng.integers(1, 5))
    # integer gains: sums are exact, so the order of ties is the same in both
    groups = [[(int(rng.integers(0, 12)), float(rng.integers(-3, 10))) for _ in range(int(rng.integers(1, 5)))]
              for _ in range(n_groups)]
    if seed % 2:
        for items in groups:
            items.insert(0, (0, 0.0))  # the search's groups: the empty choice first
    capacity = int(rng.integers(0, 30))
    best = int(rng.integers(1, 8))
    expected = brute_force(groups, capacity)
    got = knapsack(groups, capacity, best)
    assert [(g, c) for g, c, _ in got] == [(g, c) for g, c, _ in expected[:best]]
    seen = set()
    for gain, cost, picks in got:
        assert len(picks) == n_groups
        assert sum(groups[g][j][0] for g, j in enumerate(picks)) == cost <= capacity
        assert sum(groups[g][j][1] for g, j in enumerate(picks)) == gain
        seen.add(tuple(picks))
    assert len(seen) == len(got), "a solution was returned twice"


def test_knapsack_nothing_fits():
    assert knapsack([[(5, 1.0)], [(0, 0.0), (1, 2.0)]], 4, 3) == []
    assert knapsack([[(0, 0.0)]], -1) == []


def test_knapsack_picks_the_better_combination_not_the_greedy_one():
    # greedy by gain per unit would take item 1 of group 0 (3 per unit) and then have no room
    groups = [[(0, 0.0), (2, 6.0), (5, 10.0)], [(0, 0.0), (4, 7.0)]]
    assert knapsack(groups, 6)[0] == (13.0, 6, [1, 1])
    assert knapsack(groups, 5)[0] == (10.0, 5, [2, 0])
