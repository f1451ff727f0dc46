"""What fits: the arena budget of a board, the choice between the layer-by-layer and the patch-based schedule
against it, and the SRAM and flash checks of a finished build. Every "does not fit" is a BudgetError (exit 3)
whose message names the numbers and the layer at the peak (docs/memory.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .board import Board
from .errors import BudgetError
from .ir import Graph
from .memory import MemoryPlan


@dataclass
class Schedule:
    """What the compile stages produce: the graph codegen emits, the chosen memory plan and why it was chosen."""

    graph: Graph
    plan: MemoryPlan
    layer_plan: MemoryPlan  # the layer-by-layer plan (== plan unless the patch-based schedule was chosen)
    patched_plan: MemoryPlan | None  # the best patch-based plan found (None: none, or --no-patch)
    schedule_reason: str
    arena_budget: int | None
    source_graph: Graph  # before patching: what an int8 .tflite export writes


def arena_budget(target: Board, sram_budget: int | None) -> tuple[int | None, str]:
    """Bytes the activation arena may take: the SRAM budget (--sram-budget, else the board's arena region) minus
    the stack the board reserves beside the arena. The host has no budget unless one is given. The linker makes
    the final check on a board (statics and the real stack layout included)."""
    reserve = target.stack_bytes if target.is_cortexm and target.data_region == target.arena_region else 0
    minus = f" minus the {reserve:,} B stack reserve" if reserve else ""
    if sram_budget is not None:
        return sram_budget - reserve, f"--sram-budget {sram_budget:,} B{minus}"
    if target.is_cortexm and target.arena_region:
        size = int(target.region(target.arena_region)["size"])
        return size - reserve, f"board {target.name}: region {target.arena_region} {size:,} B{minus}"
    return None, "no budget (host)"


def short_label(label: str) -> str:
    """'#3 DEPTHWISE_CONV_2D' of '#3 DEPTHWISE_CONV_2D (model/activation_3/Relu;...)': TFLite tensor names are long."""
    return label.split(" (")[0]


def peak_layer(g: Graph, plan: MemoryPlan) -> str:
    """The op at the peak of the live bytes, with its step and the bytes live there (for budget messages)."""
    if not plan.live_bytes or not g.ops:
        return "-"
    k = int(np.argmax(plan.live_bytes))
    op = g.ops[min(k, len(g.ops) - 1)]
    return f"{op.attrs.get('label', op.name)} (step {k}, {plan.live_bytes[k]:,} B live)"


def choose_schedule(g: Graph, layer: MemoryPlan, patched_graph: Graph | None, patched: MemoryPlan | None,
                    budget: int | None, patch: bool | None, budget_source: str = "") -> Schedule:
    """Layer by layer costs no extra MACs, so it is kept whenever it fits (patch=None) and patching is taken only
    to fit the budget; patch=True takes the smaller arena regardless. Nothing that fits: exit 3 with the numbers."""
    layer.layer_arena_bytes = layer.arena_bytes
    better = patched is not None and patched.arena_bytes < layer.arena_bytes
    p = patched.patch if patched is not None else None
    alt = (f"; the best patch-based schedule needs {patched.arena_bytes:,} B ({p.grid[0]}x{p.grid[1]} patches up to "
           f"{short_label(p.split_op[1])}, +{100 * p.mac_overhead:.1f} % MACs)") if better and patched and p else ""
    if better and patched is not None and patched_graph is not None and (
            patch is True or (patch is None and budget is not None and layer.arena_bytes > budget)):
        patched.layer_arena_bytes = layer.arena_bytes
        why = ("--patch: the smallest arena" if patch is True else
               f"layer by layer needs {layer.arena_bytes:,} B, over the {budget:,} B arena budget")
        reason = f"patch-based first stage: {patched.arena_bytes:,} B vs {layer.arena_bytes:,} B layer by layer ({why})"
        chosen = Schedule(patched_graph, patched, layer, patched, reason, budget, g)
    else:
        if patch is False:
            reason = "layer by layer (--no-patch)"
        elif budget is None:
            reason = "layer by layer: no SRAM budget to fit (host), so no patching overhead is taken" + alt
        else:
            reason = f"layer by layer: {layer.arena_bytes:,} B fits the {budget:,} B arena budget" + alt
        if not better:
            reason += "" if patch is False else "; no patch-based schedule beats it"
        elif patch is None:
            reason += "; --patch takes it"
        chosen = Schedule(g, layer, layer, patched if better else None, reason, budget, g)
    if budget is not None and chosen.plan.arena_bytes > budget:
        best = min([x for x in (layer, patched) if x is not None], key=lambda x: x.arena_bytes)
        raise BudgetError(
            f"the activation arena does not fit: need {chosen.plan.arena_bytes:,} B, budget {budget:,} B "
            f"({budget_source})\n  peak at layer {peak_layer(chosen.graph, chosen.plan)}\n"
            f"  best schedule found: {best.arena_bytes:,} B "
            + (f"with {best.patch.grid[0]}x{best.patch.grid[1]} patches" if best.patch else "layer by layer")
            + ("\n  drop --no-patch to let edgec search patch-based schedules" if patch is False
               else "\n  try a larger --max-mac-overhead, or a board with more SRAM"))
    return chosen


def flash_too(e: BudgetError, weights: int, flash: int | None, whose: str) -> BudgetError:
    """The arena's BudgetError, plus the flash when the weights alone overflow it too (a model too big for both is
    told both); `weights` is kept on the error (BudgetError.weights_bytes) so a caller knowing a --flash-budget can
    add it (cli)."""
    if flash and weights > flash and "flash does not fit" not in e.message:
        e = BudgetError(f"{e.message}\nthe flash does not fit either: the weights alone need {weights:,} B, {whose} "
                        f"{flash:,} B of flash")
    e.weights_bytes = weights
    return e


def check_budgets(report: dict, sram_budget: int | None, flash_budget: int | None, target: Board) -> None:
    """Explicit budgets below the board's own: the linker checked the board, this checks the user's numbers
    (on the host: the arena against --sram-budget, the weights against --flash-budget). A model over both budgets
    is told about both in one message (exit 3)."""
    problems = []
    if flash_budget is not None:
        need = report["flash_bytes"] if report.get("flash_bytes") else report["weights_bytes"]
        what = "firmware flash (code + weights)" if report.get("flash_bytes") else "weights (code not counted on host)"
        if need > flash_budget:
            problems.append(f"does not fit the flash budget: {what} need {need:,} B, budget {flash_budget:,} B; "
                            f"largest weights: {_largest_weights(report)}")
    if sram_budget is not None:
        need = report["static_sram_bytes"] + target.stack_bytes if report.get("static_sram_bytes") else \
            report["arena_bytes"]
        if need > sram_budget:
            problems.append(f"does not fit the SRAM budget: need {need:,} B (arena {report['arena_bytes']:,} B"
                            + (f" + statics + {target.stack_bytes:,} B stack" if target.is_cortexm else "")
                            + f"), budget {sram_budget:,} B")
    if problems:
        raise BudgetError("\n".join(problems))
    if flash_budget is not None:
        report["flash_budget_bytes"] = flash_budget
    if sram_budget is not None:
        report["sram_budget_bytes"] = sram_budget


def _largest_weights(report: dict) -> str:
    top = sorted(report["layers"], key=lambda layer: -layer["weight_bytes"])[:3]
    return ", ".join(f"{layer['name']} {layer['weight_bytes']:,} B" for layer in top)
