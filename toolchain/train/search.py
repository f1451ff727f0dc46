"""`--scheme auto`: the training scheme with the largest estimated gain that fits the SRAM budget
(docs/training.md, "--scheme auto").

    candidates   the biases of the last k weight layers (k = 0..K: one group), and for each weight layer its
                 weights over a fraction r in {0, 1/8, 1/4, 1/2, 1} of its input channels (rounded up to whole
                 channels: one group per layer)
    cost         measured: the training graph of head + that one choice, planned by the real planner
                 (plan_memory): arena + trained parameters (the bytes check_training_budget compares), minus the
                 head-only scheme's bytes = the choice's marginal bytes
    gain         measured: short runs of the numpy reference of the training step (run.py, the numerics of the
                 generated C) on a seeded slice of the training data, from a head warmed up on that slice;
                 gain = held-out cross-entropy of the head-only run minus that of the run with the choice
    knapsack     exact multiple-choice knapsack over the marginal costs (64-byte units): one choice per group,
                 summed gain maximal, summed cost within the budget; its best solutions in decreasing gain
    verification the arena is a maximum over time, so marginal costs do not add exactly: each solution, best
                 first, is built whole and planned; the first whose planned bytes fit is taken (at most
                 VERIFY_TRIES solutions, then the head alone)
"""

from __future__ import annotations

import copy
import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import host
from ..board import Board
from ..budget import arena_budget
from ..codegen import emit_c
from ..driver import Step, quiet
from ..errors import BudgetError, TrainingError, ValidationError
from ..ir import Graph, Op
from ..memory import plan_memory
from .graph import TrainingOptions, build_training_graph
from .memory import check_training_budget, memory_per_phase
from .run import TrainState, run_ops, split_training_outputs
from .scheme import LayerTraining, Scheme, in_channels, weight_layers

#: fractions of a layer's input channels whose weights a candidate trains (0: none, the group's empty choice)
RATIOS = (0.125, 0.25, 0.5, 1.0)
#: the knapsack's unit of memory: costs are rounded up to it, the budget down
UNIT_BYTES = 64
#: knapsack solutions planned whole, best first, before falling back to the head alone
VERIFY_TRIES = 16
#: knapsack rounds at a capacity raised by the over-count of the last kept solution (verify)
REFINE_ROUNDS = 4
#: a numpy run estimated longer than this (seconds) is compared with the generated C's cost
C_WORTH_S = 4.0


@dataclass
class SearchOptions:
    samples: int = 256  # the slice of the training data the gains are measured on: half trains, half is held back
    time_s: float = 120.0  # candidates not measured when the time is spent are left out (reported)
    warm_epochs: int = 1  # head-only passes over the training half before every measured run starts


@dataclass
class Candidate:
    group: str  # "bias" or the layer's node name
    label: str
    layers: dict[str, LayerTraining]  # what it trains besides the head
    k: int | None = None  # bias group: the last k weight layers
    ratio: float | None = None  # weight groups: the fraction asked for
    channels: int | None = None  # ... and the whole channels it rounds to
    total_bytes: int | None = None  # head + this choice, planned
    marginal_bytes: int | None = None  # minus the head-only scheme's bytes
    gain: float | None = None
    eval_loss: float | None = None
    eval_accuracy: float | None = None
    status: str = "pending"
    executor: str | None = None  # "numpy" or "c": what measured the gain
    seconds: float | None = None
    graph: Graph | None = field(default=None, repr=False)

    def as_dict(self) -> dict:
        return dict(group=self.group, choice=self.label, k=self.k, ratio=self.ratio, channels=self.channels,
                    total_bytes=self.total_bytes, marginal_bytes=self.marginal_bytes, gain=self.gain,
                    eval_loss=self.eval_loss, eval_accuracy=self.eval_accuracy, status=self.status,
                    executor=self.executor, seconds=None if self.seconds is None else round(self.seconds, 2))


# ---- the exact multiple-choice knapsack ---------------------------------------------------------------------------

def knapsack(groups: list[list[tuple[int, float]]], capacity: int, best: int = 1
             ) -> list[tuple[float, int, list[int]]]:
    """Exact multiple-choice knapsack: exactly one item (cost, gain) from each group, summed cost <= capacity,
    summed gain maximal. Returns the `best` best solutions (fewer when fewer exist), in decreasing gain, ties by
    increasing cost, each as (gain, cost, the chosen item index per group). Costs are whole units >= 0.

    Dynamic programming over the capacity: after g groups, cell c holds the `best` best distinct partial
    solutions of cost <= c (gains, costs, and per entry the item taken and the rank it extends in the previous
    group's cell c - cost). A cell's entries extend distinct entries of the previous cells with distinct items,
    so they are distinct solutions, and the top `best` of all extensions are the top `best` of the cell (an
    entry outside a previous cell's top `best` is beaten by `best` others with the same extension)."""
    if capacity < 0 or any(not items for items in groups):
        return []
    cap = capacity + 1
    gains = np.full((cap, best), -np.inf)
    costs = np.zeros((cap, best), np.int64)
    gains[:, 0] = 0.0  # no group yet: the one empty solution, in every cell
    backs: list[tuple[np.ndarray, np.ndarray]] = []
    for items in groups:
        cand_g, cand_c, cand_item, cand_rank = [], [], [], []
        for j, (w, v) in enumerate(items):
            assert w >= 0 and w == int(w), "costs are whole units >= 0"
            g_new = np.full((cap, best), -np.inf)
            c_new = np.zeros((cap, best), np.int64)
            if w < cap:
                g_new[w:] = gains[:cap - w] + v
                c_new[w:] = costs[:cap - w] + w
            cand_g.append(g_new)
            cand_c.append(c_new)
            cand_item.append(np.full((cap, best), j))
            cand_rank.append(np.broadcast_to(np.arange(best), (cap, best)))
        all_g, all_c = np.concatenate(cand_g, axis=1), np.concatenate(cand_c, axis=1)
        all_item, all_rank = np.concatenate(cand_item, axis=1), np.concatenate(cand_rank, axis=1)
        order = np.lexsort((all_c, -all_g), axis=-1)[:, :best]  # gain down, then cost up
        gains, costs = np.take_along_axis(all_g, order, 1), np.take_along_axis(all_c, order, 1)
        backs.append((np.take_along_axis(all_item, order, 1), np.take_along_axis(all_rank, order, 1)))
    out = []
    for m in range(best):
        if not np.isfinite(gains[capacity, m]):
            break
        picks, cell, rank = [], capacity, m
        for (item, prev), items in zip(reversed(backs), reversed(groups)):
            j = int(item[cell, rank])
            picks.append(j)
            rank = int(prev[cell, rank])
            cell -= int(items[j][0])
        out.append((float(gains[capacity, m]), int(costs[capacity, m]), picks[::-1]))
    return out


# ---- memory: the real planner ---------------------------------------------------------------------------------------

def planned_bytes(g: Graph, scheme: Scheme, options: TrainingOptions) -> tuple[int, Graph, dict]:
    """(arena + trained parameter bytes, the training graph, memory by phase) of a scheme, from plan_memory."""
    tg = build_training_graph(g, scheme, options)
    memory = memory_per_phase(tg, plan_memory(tg))
    return memory["total_bytes"], tg, memory


def candidates_of(g: Graph, head: Op) -> list[Candidate]:
    """The paper's space: biases of the last k weight layers (k = 1..K), and each layer's weights over a fraction
    of its input channels (rounded up; fractions giving the same whole channels are measured once). In the order
    the gains are measured: from the head down (the biases down to a layer, then that layer's weights), so that a
    short --search-time spends itself on the layers near the head, the cheap runs."""
    layers = weight_layers(g, head)
    out = []
    for k, op in enumerate(reversed(layers), start=1):
        out.append(Candidate("bias", f"biases of the last {k} weight layer{'s' * (k > 1)}",
                             {o.name: LayerTraining(train_bias=True) for o in layers[len(layers) - k:]}, k=k))
        c = in_channels(op, g)
        seen: set[int] = set()
        for r in RATIOS:
            n = max(1, math.ceil(r * c))
            if n in seen:
                continue
            seen.add(n)
            out.append(Candidate(op.name, f"{op.name} weights over {n} of {c} input channels",
                                 {op.name: LayerTraining(weight_channels=n)}, ratio=r, channels=n))
    return out


# ---- gain: short runs of the numpy reference -------------------------------------------------------------------

class GainRunner:
    """Short training runs on one slice of the data, all from the same warmed-up head, on the same samples in the
    same order (common random numbers: the difference between two runs is the effect of what they train, not of
    the samples). Two executors of the same numerics (bit for bit: tests/host/test_train.py), the cheaper per run:

    numpy   the reference (run.py). Forward tensors no trained parameter lies below are the same in every run:
            they are computed once per sample and cached by tensor name, so a run computes only what its trained
            layers change (cheap for layers near the head; slow for deep ones: the reference sums in the C's order)
    C       the generated training step, built with the host compiler and fed the records (a build, then the
            whole step per record: cheaper for deep layers)

    The numpy cost of a run is estimated from one timed step, the C's from the build and per-record times of the
    C runs so far (the first C run is the head-only baseline's, whose held-out logits must equal numpy's bit for
    bit)."""

    def __init__(self, base: Graph, xs: list[np.ndarray], labels: np.ndarray, train_idx: np.ndarray,
                 eval_idx: np.ndarray, warm_epochs: int):
        self.xs, self.labels = xs, labels
        self.train_idx, self.eval_idx = train_idx, eval_idx
        self.cache: list[dict[str, np.ndarray]] = [{} for _ in xs]
        self.base = base
        meta = base.meta["training"]
        self.head_params = list(meta["params"])  # the float32 head's weights and bias: the same names in every graph
        state = TrainState.of(base)
        for _ in range(warm_epochs):
            self._train(base, state, deadline=None)
        self.warm = {n: state.params[n].copy() for n in self.head_params}
        self.base_logits: np.ndarray | None = None
        self.c_build_s: float | None = None  # the last C build's seconds
        self.c_record_s: float | None = None  # seconds per record (step or evaluation) of the last C run
        self.c_check: bool | None = None  # the C baseline's held-out logits == numpy's, bit for bit

    def _split(self, tg: Graph) -> tuple[list[Op], list[Op], list[Op]]:
        """(frozen forward ops, forward ops to run, all ops to run for a step)."""
        meta = tg.meta["training"]
        n = meta["forward_ops"]
        params = set(meta["params"])
        moving: set[str] = set()
        frozen, live = [], []
        for k, op in enumerate(tg.ops):
            reads = [i for i in op.inputs if i is not None]
            if k < n and not any(i in params or i in moving for i in reads):
                frozen.append(op)
            else:
                live.append(op)
                moving.update(op.outputs)
        return frozen, live[:n - len(frozen)], live

    def _feeds(self, tg: Graph, frozen: list[Op], ops: list[Op], s: int) -> dict[str, np.ndarray]:
        """The frozen tensors `ops` read, for sample s (computed into the cache on first use)."""
        known = {tg.inputs[0]} | {o for op in frozen for o in op.outputs}
        need = {i for op in ops for i in op.inputs if i is not None and i in known} - {tg.inputs[0]}
        cache = self.cache[s]
        x = np.asarray(self.xs[s]).reshape(tg.t(tg.inputs[0]).shape)
        if need - cache.keys():
            todo = [op for op in frozen if not all(o in cache for o in op.outputs)]
            values = run_ops(tg, _NO_STATE, todo, {**cache, tg.inputs[0]: x})
            for op in todo:
                for o in op.outputs:
                    cache[o] = values[o]
        return {**{t: cache[t] for t in need}, tg.inputs[0]: x}

    def _state(self, tg: Graph) -> TrainState:
        state = TrainState.of(tg)
        for n in self.head_params:
            state.params[n] = self.warm[n].copy()
        return state

    def _train(self, tg: Graph, state: TrainState, deadline: float | None) -> bool:
        frozen, _, ops = self._split(tg)
        for s in self.train_idx:
            if deadline is not None and time.monotonic() > deadline:
                return False
            feeds = self._feeds(tg, frozen, ops, int(s))
            feeds[tg.inputs[1]] = np.array([self.labels[s]], np.int32)
            run_ops(tg, state, ops, feeds)
        return True

    def _score(self, logits: np.ndarray) -> tuple[float, float]:
        """(mean cross-entropy, accuracy) of held-out logits [n, K], in float64."""
        z = np.asarray(logits, np.float64).reshape(len(self.eval_idx), -1)
        y = np.asarray(self.labels, np.int64)[self.eval_idx]
        top = z.max(axis=1)
        ce = top + np.log(np.exp(z - top[:, None]).sum(axis=1)) - z[np.arange(len(y)), y]
        return float(ce.mean()), float(np.mean(np.argmax(z, axis=1) == y))

    def run_numpy(self, tg: Graph, deadline: float | None) -> np.ndarray | None:
        """Held-out logits after one pass over the training half (None: the deadline passed first)."""
        state = self._state(tg)
        if not self._train(tg, state, deadline):
            return None
        frozen, forward, _ = self._split(tg)
        logits = tg.meta["training"]["logits"]
        return np.stack([run_ops(tg, state, forward, self._feeds(tg, frozen, forward, int(s)))[logits].reshape(-1)
                         for s in self.eval_idx])

    def run_c(self, tg: Graph) -> np.ndarray:
        """The same run in the generated C on the host: held-out logits."""
        for n in self.head_params:  # the warm head is the trained parameters' initial value
            tg.t(n).data = self.warm[n].copy()
        records = [[self.xs[s], np.array([self.labels[s]], np.int32)] for s in self.train_idx]
        records += [[self.xs[s], np.array([-1], np.int32)] for s in self.eval_idx]
        with tempfile.TemporaryDirectory(prefix="edgec-search-") as tmp:
            out = Path(tmp)
            t0 = time.monotonic()
            exe = host.build(out, emit_c(tg, plan_memory(tg), out))
            t1 = time.monotonic()
            raw = host.run(exe, records)
            t2 = time.monotonic()
        self.c_build_s, self.c_record_s = t1 - t0, (t2 - t1) / len(records)
        _, logits, _ = split_training_outputs(raw, tg, len(records))
        return logits[len(self.train_idx):]

    def baseline(self) -> tuple[float, float]:
        self.base_logits = self.run_numpy(self.base, None)
        assert self.base_logits is not None
        return self._score(self.base_logits)

    def estimate_numpy(self, tg: Graph) -> float:
        """Seconds of a numpy run: one step timed (the cache filled first, its cost counted per sample when the
        run needs tensors no earlier run cached)."""
        frozen, _, ops = self._split(tg)
        s = int(self.train_idx[0])
        t0 = time.monotonic()
        filled = bool({i for op in ops for i in op.inputs if i is not None} & {o for op in frozen for o in op.outputs}
                      - self.cache[s].keys())
        feeds = self._feeds(tg, frozen, ops, s)
        t1 = time.monotonic()
        feeds[tg.inputs[1]] = np.array([self.labels[s]], np.int32)
        run_ops(tg, self._state(tg), ops, feeds)
        step_s = time.monotonic() - t1
        n = len(self.train_idx) + len(self.eval_idx)
        return n * step_s + (n * (t1 - t0) if filled else 0.0)

    def estimate_c(self) -> float:
        if self.c_record_s is None:  # calibrate: the baseline in C (and its logits checked against numpy's)
            logits = self.run_c(copy.deepcopy(self.base))
            assert self.base_logits is not None
            self.c_check = bool(np.array_equal(logits.view(np.uint32), self.base_logits.view(np.uint32)))
            if not self.c_check:
                raise ValidationError("--scheme auto: the generated C training step (head only) differs from the "
                                      "numpy reference on the search's held-out samples")
        assert self.c_build_s is not None and self.c_record_s is not None
        # a training step costs about a forward and a backward: twice a record of the head-only baseline
        return self.c_build_s + self.c_record_s * (2 * len(self.train_idx) + len(self.eval_idx))

    def measure(self, tg: Graph, deadline: float) -> tuple[float, float, str, float] | None:
        """(held-out mean cross-entropy, held-out accuracy, executor, seconds) of one run, on the cheaper executor;
        None when its estimated cost does not fit the time left (or the deadline passed during a numpy run)."""
        t0 = time.monotonic()
        cost, executor = self.estimate_numpy(tg), "numpy"
        if cost > C_WORTH_S:
            c_cost = self.estimate_c()
            if c_cost < cost:
                cost, executor = c_cost, "c"
        if time.monotonic() + cost > deadline:
            return None
        logits = self.run_c(tg) if executor == "c" else self.run_numpy(tg, deadline)
        if logits is None:
            return None
        loss, accuracy = self._score(logits)
        return loss, accuracy, executor, time.monotonic() - t0


#: the generator state of runs that draw nothing (the frozen forward ops)
_NO_STATE = TrainState(params={}, rng=np.array([1], np.uint32))


# ---- the search -------------------------------------------------------------------------------------------------

def combine(chosen: list[Candidate]) -> dict[str, LayerTraining]:
    """The per-layer training of a set of choices (at most one per group): biases from the bias group, weight
    channels from each layer's group."""
    layers: dict[str, LayerTraining] = {}
    for c in chosen:
        for name, lt in c.layers.items():
            old = layers.get(name, LayerTraining())
            layers[name] = LayerTraining(old.train_bias or lt.train_bias,
                                         max(old.weight_channels, lt.weight_channels))
    return layers


def auto_scheme(g: Graph, head: Op, xs: list[np.ndarray], labels: np.ndarray, options: TrainingOptions,
                target: Board, sram_budget: int | None, search: SearchOptions | None = None,
                step: Step = quiet) -> tuple[Scheme, dict]:
    """The scheme `--scheme auto` trains, and the search's record for report.json (training.search)."""
    search = search or SearchOptions()
    started = time.monotonic()
    budget, source = arena_budget(target, sram_budget)
    step("scheme search: plan the head-only training step")
    base_bytes, base_tg, base_memory = planned_bytes(g, Scheme("head"), options)
    if budget is not None and base_bytes > budget:
        try:
            check_training_budget(base_memory, target, sram_budget, base_tg, plan_memory(base_tg))
        except BudgetError as e:
            why = e.message.split("; train fewer")[0]  # no scheme trains less than the head
            raise BudgetError(f"--scheme auto: nothing fits, not even the head alone: {why}; give a larger "
                              "--sram-budget or a board with more SRAM") from None
    cands = candidates_of(g, head)
    for k, c in enumerate(cands):
        step(f"scheme search: plan candidate {k + 1}/{len(cands)} ({c.label})")
        try:
            c.total_bytes, c.graph, _ = planned_bytes(g, Scheme(c.label, c.layers), options)
        except TrainingError as e:
            c.status = f"not trainable: {e.message}"
            continue
        c.marginal_bytes = c.total_bytes - base_bytes
        c.status = "pending" if budget is None or c.total_bytes <= budget else "does not fit alone"

    # the gains: a seeded slice of the data, half to train on, half held back
    n = len(xs)
    rng = np.random.default_rng(options.seed)
    pick = rng.permutation(n)[:min(search.samples, n)]
    half = max(1, len(pick) // 2) if len(pick) > 1 else 0
    train_idx, eval_idx = pick[:half], pick[half:]
    todo = [c for c in cands if c.status == "pending"]
    measure = "held-out cross-entropy (head-only minus candidate)"
    if len(train_idx) == 0 or len(eval_idx) == 0:
        for c in todo:
            c.status = "not measured: fewer than 2 samples"
        base_loss = base_acc = None
        runner = None
    else:
        step(f"scheme search: warm up the head on {len(train_idx)} samples, then the head-only baseline")
        runner = GainRunner(base_tg, xs, labels, train_idx, eval_idx, search.warm_epochs)
        base_loss, base_acc = runner.baseline()
        deadline = started + search.time_s
        for k, c in enumerate(todo):
            spent = time.monotonic() - started
            step(f"scheme search: gain {k + 1}/{len(todo)}: {c.label} ({spent:.0f} s of {search.time_s:.0f} s)")
            assert c.graph is not None
            result = runner.measure(c.graph, deadline) if time.monotonic() < deadline else None
            if result is None:
                c.status = "not measured: search time spent"
                continue
            c.eval_loss, c.eval_accuracy, c.executor, c.seconds = result
            c.gain = base_loss - c.eval_loss
            c.status = "measured"

    # the knapsack over the marginal costs: one choice per group (the empty choice always there)
    names = ["bias"] + [op.name for op in reversed(weight_layers(g, head))]
    options_of: dict[str, list[Candidate]] = {name: [] for name in names}
    for c in cands:
        if c.status == "measured" and c.gain is not None and c.gain > 0:
            options_of[c.group].append(c)
    groups = [[(0, 0.0)] + [(_units(c.marginal_bytes), float(c.gain)) for c in options_of[name]]  # type: ignore
              for name in names]
    if budget is None:
        capacity = sum(max(w for w, _ in items) for items in groups)
    else:
        capacity = (budget - base_bytes) // UNIT_BYTES
    step("scheme search: knapsack, then plan its best solutions whole")
    tried, chosen = verify(groups, capacity, budget, base_bytes,
                           lambda picks: [options_of[name][j - 1] for name, j in zip(names, picks) if j > 0],
                           lambda layers: planned_bytes(g, Scheme("auto", layers), options)[0])
    chosen_layers, chosen_gain, chosen_bytes = chosen
    record = dict(
        budget_bytes=budget, budget_source=source, head_only_bytes=base_bytes, unit_bytes=UNIT_BYTES,
        train_samples=int(len(train_idx)), eval_samples=int(len(eval_idx)), warm_epochs=search.warm_epochs,
        gain_measure=measure, baseline_eval_loss=base_loss, baseline_eval_accuracy=base_acc,
        c_baseline_equals_numpy=runner.c_check if runner is not None else None,
        candidates=[c.as_dict() for c in cands], solutions_tried=tried,
        chosen=dict(layers={n: vars(lt) for n, lt in chosen_layers.items()}, estimated_gain=chosen_gain,
                    planned_bytes=chosen_bytes),
        seconds=round(time.monotonic() - started, 2), time_budget_s=search.time_s)
    return Scheme("auto", chosen_layers), record


def verify(groups: list[list[tuple[int, float]]], capacity: int, budget: int | None, base_bytes: int,
           parts_of, plan_bytes) -> tuple[list[dict], tuple[dict[str, LayerTraining], float, int]]:
    """The knapsack's best solutions, planned whole: (every solution planned, (layers, estimated gain, planned bytes)
    of the chosen one). The marginal costs do not add exactly (the arena is a maximum over time, and the choices
    share it), so a solution is kept only when its whole scheme, planned, fits the budget:

    1. the knapsack's VERIFY_TRIES best solutions at the capacity of the budget, best first: the first that fits
       is kept (none: the head alone, which fits);
    2. marginal costs mostly over-count (two choices' saved tensors and gradients share one arena), so while the
       kept solution's plan is smaller than its estimate, the knapsack is solved again at a capacity raised by that
       over-count, and any better solution it finds is planned and kept if it fits (at most REFINE_ROUNDS rounds).
    Every kept solution was planned whole and fits; the loop is bounded (REFINE_ROUNDS x VERIFY_TRIES plans)."""
    tried: list[dict] = []
    best: tuple[dict[str, LayerTraining], float, int] = ({}, 0.0, base_bytes)
    over = 0  # how much the kept solution's estimate over-counts its plan
    planned: dict[tuple[int, ...], int] = {}
    cap = capacity
    for _ in range(REFINE_ROUNDS):
        found = False
        for gain, _, picks in knapsack(groups, cap, VERIFY_TRIES):
            if gain <= best[1]:
                break  # nothing better at this capacity
            parts = parts_of(picks)
            layers = combine(parts)
            estimate = base_bytes + sum(p.marginal_bytes or 0 for p in parts)
            if tuple(picks) not in planned:
                planned[tuple(picks)] = plan_bytes(layers)
                total = planned[tuple(picks)]
                tried.append(dict(choices=[p.label for p in parts], estimated_gain=gain, estimated_bytes=estimate,
                                  planned_bytes=total, fits=budget is None or total <= budget, capacity_units=cap))
            total = planned[tuple(picks)]
            if budget is None or total <= budget:
                best, over, found = (layers, gain, total), estimate - total, True
                break
        if not found or budget is None or over < UNIT_BYTES:
            break
        cap = capacity + over // UNIT_BYTES
    return tried, best


def _units(nbytes: int | None) -> int:
    """Bytes -> knapsack units, rounded up (a negative marginal cost, a plan that packs better, counts as 0)."""
    return max(0, -(-int(nbytes or 0) // UNIT_BYTES))
