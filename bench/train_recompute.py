"""Would recomputing forward segments instead of saving them lower the training step's arena? The search of
toolchain/train/recompute.py, run with the real planner on mcunet-5fps (TinyEngine's 49 kB scheme, --sram-budget
190k: the patch-based frozen layers, as bench/train_mcunet.py) with float32 and fp16 gradients, and on ResNet-8
(MLPerf Tiny, a new 10-class head) under `last:2` and `bias`, layer by layer.

Per case: the planned arena, the saved tensors (bytes; those live at the arena's peak step), the bound (the
largest live bytes of any step once every saved tensor's stretched lifetime is removed for free: what no
recomputation can beat), the candidates the search planned (each one's segment, MACs and planned arena), and the
arena it kept.

    .venv/bin/python bench/train_recompute.py        # writes bench/results/train_recompute.md (~3 min)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_mcunet  # noqa: E402
import zoo  # noqa: E402

from edgec.driver import compile_model  # noqa: E402
from edgec.memory import plan_memory  # noqa: E402
from edgec.patch import apply_patches, plan_patches  # noqa: E402
from edgec.train.command import plan_step  # noqa: E402
from edgec.train.graph import TrainingOptions, build_training_graph, find_head  # noqa: E402
from edgec.train.recompute import _last_forward_use, saved_tensors, search  # noqa: E402
from edgec.train.scheme import parse_scheme  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "train_recompute.md"
RESNET = ROOT.parent / "shared" / "models" / "mlperf-tiny" / "pretrainedResnet_quant.tflite"
BUDGET = 190 * 1024  # --sram-budget 190k


def bound(tg, plan) -> int:
    """The live bytes' maximum over the steps with every saved tensor's stretched part (after its last forward use,
    before its first backward reader) removed at no cost."""
    live = list(plan.live_bytes)
    for saved, readers in saved_tensors(tg).items():
        if saved not in plan.owner:
            continue
        for s in range(_last_forward_use(tg, saved) + 1, readers[0]):
            live[s] -= tg.t(saved).nbytes
    return max(live)


def plan_fixed(g, plan):
    """g (tg with a segment recomputed) planned with tg's schedule: layer by layer, or the same patch stage (split
    op and grid) as tg's plan, whose ops the rewrite leaves in place (a full patch search per candidate took
    minutes on a shared machine; a fixed stage can only overstate a candidate's arena)."""
    if plan.patch is None:
        return g, plan_memory(g)
    return apply_patches(g, plan_patches(g, plan.patch.split_op[0], plan.patch.grid))


def case(name: str, model: Path, scheme: str, gradients: str, budget: int | None) -> list[str]:
    g = compile_model(model, "host", patch=False).graph
    head, _ = find_head(g)
    tg = build_training_graph(g, parse_scheme(scheme, g, head), TrainingOptions(lr=0.01, classes=10,
                                                                                 gradients=gradients))
    tg, plan = plan_step(tg, budget)
    n = tg.meta["training"]["forward_ops"]
    peak = max(range(len(plan.live_bytes)), key=lambda s: plan.live_bytes[s])
    saved = saved_tensors(tg)
    at_peak = [s for s, r in saved.items() if s in plan.owner and _last_forward_use(tg, s) < peak < r[0]]
    started = time.time()
    tg2, plan2, log = search(tg, plan, lambda t: plan_fixed(t, plan))
    lines = [f"### {name}", "",
             f"- planned arena {plan.arena_bytes:,} B ({'patch-based' if plan.patch is not None else 'layer by layer'}"
             f"), peak at step {peak} of {len(tg.ops)} ({'forward' if peak < n else 'backward'}: "
             f"`{tg.ops[peak].name}`, {plan.live_bytes[peak]:,} B live)",
             f"- saved tensors: {len(saved)}, {sum(tg.t(s).nbytes for s in saved):,} B; stretched across the peak "
             f"step: {len(at_peak)}, {sum(tg.t(s).nbytes for s in at_peak):,} B",
             f"- bound with every saved tensor free: {bound(tg, plan):,} B of live bytes "
             f"({bound(tg, plan) - max(plan.live_bytes):+,} B)",
             f"- candidates planned: {len(log)} in {time.time() - started:.0f} s; kept arena {plan2.arena_bytes:,} B "
             f"({plan2.arena_bytes - plan.arena_bytes:+,} B)", ""]
    if log:
        lines += ["| saved tensor (of op) | bytes | recomputed by | MACs | arena planned |", "|---|---:|---|---:|---:|"]
        for r in log:
            kind = "mask" if r["saved"].endswith("/mask") else ("channel slice" if "/saved_" in r["saved"]
                                                                  else "output")
            lines.append(f"| {kind} of `{r['segment'][-1]}` | {r['bytes']:,} | "
                         f"{' + '.join(f'`{s}`' for s in r['segment'])} | "
                         f"{r['macs']:,} | {r['arena_after']:,} ({r['arena_after'] - r['arena_before']:+,}) |")
        lines.append("")
    print("\n".join(lines), flush=True)
    return lines


def main() -> None:
    started = time.time()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    mcunet = zoo.model_path("mcunet-5fps-r128")
    lines = ["# Recomputation instead of saving: what the real planner says", "",
             f"Generated by `bench/train_recompute.py` on {time.strftime('%Y-%m-%d')} at edgec commit `{commit}`. "
             "The search of `toolchain/train/recompute.py` (docs/training.md, \"Recomputation\"): per saved tensor "
             "live within its bytes of the arena, its producer (with the layer below, for a mask or a channel "
             "slice) re-run before its first backward reader, planned by the real planner (the step's patch stage "
             "held fixed).", ""]
    with tempfile.TemporaryDirectory(prefix="edgec-recompute-") as tmp_name:
        scheme = Path(tmp_name) / "49kb.toml"
        scheme.write_text(train_mcunet.scheme_49kb(mcunet))
        for gradients in ("float32", "fp16"):
            lines += case(f"mcunet-5fps, 49 kB scheme, --sram-budget 190k, {gradients} gradients", mcunet,
                          str(scheme), gradients, BUDGET)
    for scheme_name in ("last:2", "bias"):
        lines += case(f"ResNet-8, `{scheme_name}`, layer by layer, float32 gradients", RESNET, scheme_name,
                      "float32", None)
    lines.append(f"Total {time.time() - started:.0f} s.")
    RESULTS.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
