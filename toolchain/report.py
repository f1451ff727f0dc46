"""report.json, report.md and plan.json of an output folder (every key: docs/output.md): what the build
measured, assembled as the stages finish (the compile stages first, then the export, the TFLM arena and the firmware
sizes; driver.build)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from . import __version__
from .budget import Schedule
from .c_text import printable
from .ir import Graph
from .kernels import kernel_of
from .memory import MemoryPlan
from .ops import REGISTRY


def compile_report(s: Schedule, model: Path, board: str) -> dict:
    """report.json's keys known once the compile stages ran: the model, its layers, the memory plan, the schedule."""
    report = make_report(s.graph, s.plan, model, board, __version__, file_sha256(model))
    report.update(schedule_report(s))
    report["attention"] = s.graph.meta.get("attention")  # row-wise attention: toolchain/attention.py
    report["optimize"] = s.graph.meta.get("kernels", {}).get("optimize", "speed")  # --optimize (toolchain/kernels.py)
    return report


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_report(g: Graph, plan: MemoryPlan, model: Path, board: str, version: str, model_sha: str) -> dict:
    layers = []
    for k, op in enumerate(g.ops):
        impl = REGISTRY[op.type]
        kernel, kernel_reason = kernel_of(op, g)
        layers.append(dict(name=op.name, op=op.attrs.get("tflite_op", op.type), macs=int(impl.macs(op, g)),
                           kernel=kernel, kernel_reason=kernel_reason,
                           weight_bytes=sum(g.t(i).nbytes for i in op.inputs if i is not None and g.t(i).is_const),
                           live_bytes=plan.live_bytes[k] if k < len(plan.live_bytes) else 0,
                           # a training graph's update of its lowest trained layer has no output
                           output_shape=list(g.t(op.outputs[0]).shape) if op.outputs else []))
    weights = sum(t.nbytes for t in g.tensors.values() if t.is_const)
    state = sum(t.nbytes for t in g.tensors.values() if t.state)  # outside the arena, kept between invocations
    return dict(edgec_version=version, model=str(model), model_sha256=model_sha, board=board,
                macs=sum(layer["macs"] for layer in layers), arena_bytes=plan.arena_bytes, strategy=plan.strategy,
                lower_bound_bytes=plan.lower_bound_bytes, state_bytes=state,
                # host: the arena and the state; `edgec test --board` measures the stack (docs/boards.md)
                peak_sram_bytes=plan.arena_bytes + state, io_in_arena=True,
                flash_bytes=None, weights_bytes=weights, patch=None, layers=layers)


def schedule_report(c: Schedule) -> dict:
    """report.json keys on the schedule: which one, why, both timelines for the plot, the budget."""
    timeline = {"layer_by_layer": list(c.layer_plan.live_bytes)}
    if c.patched_plan is not None:
        timeline["patched"] = list(c.patched_plan.live_bytes)
    return dict(schedule="patch-based" if c.plan.patch is not None else "layer by layer",
                schedule_reason=c.schedule_reason, layer_arena_bytes=c.layer_plan.arena_bytes,
                patched_arena_bytes=c.patched_plan.arena_bytes if c.patched_plan is not None else None,
                arena_budget_bytes=c.arena_budget, timeline=timeline,
                patch=c.plan.patch.as_dict() if c.plan.patch is not None else None)


def write_report(out: Path, report: dict, g: Graph, plan: MemoryPlan) -> None:
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "plan.json").write_text(json.dumps(dict(
        arena_bytes=plan.arena_bytes, lower_bound_bytes=plan.lower_bound_bytes, strategy=plan.strategy,
        buffers=[dict(name=b.name, offset=b.offset, size=b.size, first_use=b.first_use, last_use=b.last_use,
                      alignment=b.alignment) for b in plan.buffers],
        tensors={t: plan.owner[t] for t in plan.owner},
        patch=plan.patch.as_dict() if plan.patch is not None else None), indent=2) + "\n")
    (out / "report.md").write_text(markdown(report))


def _md(text: str) -> str:
    """Model text in report.md: one line of printable ASCII (c_text.printable), `|` escaped for the tables."""
    return printable(text, limit=200).replace("|", "\\|")


def markdown(r: dict) -> str:
    lines = [f"# edgec report: {_md(Path(r['model']).name)}", "",
             f"- board: `{r['board']}`, edgec {r['edgec_version']}",
             f"- MACs: {r['macs']:,}",
             f"- arena: {r['arena_bytes']:,} B (lower bound for this op order: {r['lower_bound_bytes']:,} B); "
             "inputs and outputs live in the arena",
             f"- schedule: {printable(r.get('schedule_reason', 'layer by layer'), limit=2000)}",
             *([f"- TFLM arena on the same model: total {r['tflm_arena_bytes']['total']:,} B, non-persistent head "
                f"{r['tflm_arena_bytes']['head']:,} B"] if r.get("tflm_arena_bytes") else []),
             *([f"- state (SRAM outside the arena, kept between invocations; `_reset()` restarts it): "
                f"{r['state_bytes']:,} B"] if r.get("state_bytes") else []),
             f"- weights (flash): {r['weights_bytes']:,} B", "",
             "| # | layer | op | MACs | weight B | live B | output shape | kernel |",
             "|---:|---|---|---:|---:|---:|---|---|"]
    for k, layer in enumerate(r["layers"]):
        lines.append(f"| {k} | {_md(layer['name'])} | {_md(layer['op'])} | {layer['macs']:,} | "
                     f"{layer['weight_bytes']:,} | {layer['live_bytes']:,} | {layer['output_shape']} | "
                     f"{layer.get('kernel') or '-'} |")
    return "\n".join(lines) + "\n"
