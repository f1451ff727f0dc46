"""The SRAM of a training step by phase, from the planner's records, and the budget check (docs/training.md,
"Memory per phase"): what `edgec train` reports and what `--scheme auto` (search.py) costs its choices with."""

from __future__ import annotations

from ..board import Board
from ..errors import BudgetError
from ..ir import Graph


def memory_per_phase(tg: Graph, plan) -> dict:
    """SRAM of the training step by phase, from the planner's records (not a formula): the arena's live bytes
    at the peak of the forward pass (masks and saved tensors included) and of the backward pass (gradients,
    saved tensors still to be read), the arena they share, and the trained parameters (SRAM arrays beside it)."""
    n = tg.meta["training"]["forward_ops"]
    live = plan.live_bytes
    params = sum(tg.t(p).sram_nbytes for p in tg.meta["training"]["params"])
    saved = sorted({i for op in tg.ops[n + 1:] for i in op.inputs if i is not None and i in plan.owner
                    and any(i in f.outputs for f in tg.ops[:n])})
    return dict(forward_peak_bytes=max(live[:n], default=0), backward_peak_bytes=max(live[n:], default=0),
                arena_bytes=plan.arena_bytes, trained_parameter_bytes=params,
                saved_tensor_bytes=sum(tg.t(t).nbytes for t in saved),
                total_bytes=plan.arena_bytes + params)


def check_training_budget(memory: dict, target: Board, sram_budget: int | None, tg: Graph, plan) -> None:
    """Exit 3 when the training step's arena plus its trained parameters exceed the SRAM budget (--sram-budget,
    else the board's arena region minus its stack reserve): the phase at the peak, the bytes needed, the budget."""
    from ..budget import arena_budget, peak_layer

    budget, source = arena_budget(target, sram_budget)
    if budget is None or memory["total_bytes"] <= budget:
        return
    phase = "backward" if memory["backward_peak_bytes"] >= memory["forward_peak_bytes"] else "forward"
    raise BudgetError(f"the training step needs {memory['total_bytes']:,} B of SRAM (arena "
                      f"{memory['arena_bytes']:,} B, peak in the {phase} pass at {peak_layer(tg, plan)}; trained "
                      f"parameters {memory['trained_parameter_bytes']:,} B), the budget is {budget:,} B ({source}); "
                      "train fewer layers or channels (--scheme)")
