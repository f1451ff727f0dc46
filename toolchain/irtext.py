"""The IR as readable text: what `edgec build --dump STAGE` writes after a stage (docs/cli.md, "--dump").

One line per graph input and output, then the ops in execution order: each op's type and name, its input and
output tensors (shape, dtype, quantization abbreviated as `s=` scale and `zp=` zero point, constants summarized by
their size and value range, never dumped), its attributes (what the model file says) and its params (what
`prepare` computed; after canonicalize). The schedule adds the memory plan: every arena buffer with its offset,
size, lifetime and the tensors it holds, the ops that run in place and the patch-based stage when there is one.

Every name and string from the model file goes through c_text.display_text (control characters as \\xNN), so a
dump is one tensor or op per line whatever the model holds. Long arrays are summarized (`int32[64] -5..12`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from .budget import Schedule
from .c_text import display_text
from .ir import Graph, Op, Tensor
from .memory import MemoryPlan

DUMP_FOLDER = "dump"  # in the output folder: dump/<NN>-<stage>.txt
SHORT = 8  # arrays, lists and dicts up to this many items are printed whole, longer ones summarized


class Dumps:
    """The IR after each of `stages`, as text: kept for the output folder (`write`: dump/<NN>-<stage>.txt, NN the
    stage's position in the run) or, with a `stream`, written there as each stage finishes, so that a build which
    fails later still shows the stages it passed. With no stages it only passes the graphs through."""

    def __init__(self, stages: Iterable[str] = (), stream: TextIO | None = None):
        self.stages = set(stages)
        self.stream = stream
        self.texts: dict[str, str] = {}  # file name -> text
        self.seen = 0  # stages run so far

    def __call__(self, stage: str, g: Graph) -> Graph:
        self.seen += 1
        if stage in self.stages:
            self._keep(stage, graph_text(g, stage))
        return g

    def schedule(self, s: Schedule) -> Schedule:
        self.seen += 1
        if "schedule" in self.stages:
            self._keep("schedule", schedule_text(s))
        return s

    def _keep(self, stage: str, text: str) -> None:
        if self.stream is not None:
            self.stream.write(text + "\n")
            self.stream.flush()
        else:
            self.texts[f"{self.seen:02d}-{stage}.txt"] = text

    def write(self, folder: Path) -> None:
        """The dumps kept, as files in `folder`/dump (nothing when they went to a stream)."""
        if not self.texts:
            return
        (folder / DUMP_FOLDER).mkdir()
        for name, text in self.texts.items():
            (folder / DUMP_FOLDER / name).write_text(text, encoding="utf-8")


def graph_text(g: Graph, stage: str) -> str:
    consts = [t for t in g.tensors.values() if t.is_const]
    lines = [f"; edgec IR after {stage}: graph {_quoted(g.name)}, {len(g.ops)} ops, {len(g.tensors)} tensors "
             f"({len(consts)} constants, {sum(t.nbytes for t in consts):,} B)"]
    lines += [f"meta   {display_text(k)}={_value(v)}" for k, v in g.meta.items()]
    lines += [f"input  {_tensor(g.t(n))}" for n in g.inputs]
    lines += [f"output {_tensor(g.t(n))}" for n in g.outputs]
    for k, op in enumerate(g.ops):
        lines += ["", *_op_lines(k, op, g)]
    return "\n".join(lines) + "\n"


def _op_lines(k: int, op: Op, g: Graph) -> list[str]:
    lines = [f"#{k} {op.type} {_quoted(op.name)}"]
    lines += [f"    in  {_tensor(g.t(i)) if i is not None else '(absent)'}" for i in op.inputs]
    lines += [f"    out {_tensor(g.t(o))}" for o in op.outputs]
    attrs = {a: v for a, v in op.attrs.items() if a != "label"}  # the label repeats the type and name
    if attrs:
        lines.append("    attrs  " + " ".join(f"{display_text(a)}={_value(v)}" for a, v in attrs.items()))
    if op.params:
        lines.append("    params " + " ".join(f"{display_text(p)}={_value(v)}" for p, v in op.params.items()))
    return lines


def _tensor(t: Tensor) -> str:
    text = f"{_quoted(t.name)} [{','.join(str(d) for d in t.shape)}] {t.dtype}"
    if t.quant is not None:
        text += " " + _quant(t.quant.scale, t.quant.zero_point, t.quant.axis)
    if t.state:
        text += f" state {t.nbytes:,} B"
    if t.data is not None:
        text += f" const {t.nbytes:,} B"
        if t.data.size and t.data.dtype.kind in "iuf":
            text += f" {_number(t.data.min())}..{_number(t.data.max())}"
    return text


def _quant(scale: np.ndarray, zero_point: np.ndarray, axis: int | None) -> str:
    def field(name: str, values: np.ndarray) -> str:
        values = np.asarray(values).reshape(-1)
        if values.size == 1 or (values.size and np.all(values == values[0])):
            return f"{name}={_number(values[0])}"
        return f"{name}[{values.size}]={_number(values.min())}..{_number(values.max())}"

    per_axis = f" axis={axis}" if axis is not None and np.asarray(scale).size > 1 else ""
    return f"{field('s', scale)} {field('zp', zero_point)}{per_axis}"


def _number(x: Any) -> str:
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x)).lower()
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return f"{float(x):.6g}"


def _quoted(text: object) -> str:
    return f"'{display_text(text)}'"


def _value(v: Any) -> str:
    """An attribute, param or meta value on one line: short containers whole, long ones summarized."""
    if v is None:
        return "none"
    if isinstance(v, str):
        return _quoted(v)
    if isinstance(v, (bool, int, float, np.number, np.bool_)):
        return _number(v)
    if isinstance(v, np.ndarray):
        if v.ndim <= 1 and v.size <= SHORT:
            return "[" + ",".join(_value(x) for x in v.reshape(-1).tolist()) + "]"
        summary = f"{v.dtype}[{','.join(str(d) for d in v.shape)}]"
        if v.size and v.dtype.kind in "iuf":
            summary += f" {_number(v.min())}..{_number(v.max())}"
        return summary
    if isinstance(v, (list, tuple)):
        if len(v) <= SHORT:
            return "[" + ",".join(_value(x) for x in v) + "]"
        if all(isinstance(x, (int, float, np.number)) and not isinstance(x, bool) for x in v):
            return f"list[{len(v)}] {_number(min(v))}..{_number(max(v))}"
        return f"list[{len(v)}]"
    if isinstance(v, dict):
        if len(v) <= SHORT:
            return "{" + ", ".join(f"{display_text(k)}: {_value(x)}" for k, x in v.items()) + "}"
        return f"dict[{len(v)}]"
    return f"<{type(v).__name__}>"


def schedule_text(s: Schedule) -> str:
    """The graph codegen emits, then the schedule chosen and its memory plan."""
    lines = [graph_text(s.graph, "schedule").rstrip("\n"), "", f"schedule: {display_text(s.schedule_reason)}"]
    lines += plan_lines(s.plan, s.graph)
    if s.plan is not s.layer_plan:
        lines.append(f"layer by layer (not chosen): arena {s.layer_plan.arena_bytes:,} B")
    budget = f"{s.arena_budget:,} B" if s.arena_budget is not None else "none (host)"
    lines.append(f"arena budget: {budget}")
    return "\n".join(lines) + "\n"


def plan_lines(plan: MemoryPlan, g: Graph) -> list[str]:
    lines = [f"arena {plan.arena_bytes:,} B (lower bound {plan.lower_bound_bytes:,} B for this order), planner "
             f"{plan.strategy}{', proven smallest' if plan.optimal else ''}"]
    for op_name, k in plan.in_place.items():
        lines.append(f"in place: {_quoted(op_name)} writes over its input {k}")
    held: dict[str, list[str]] = {}
    for tensor, buffer in plan.owner.items():
        held.setdefault(buffer, []).append(tensor)
    width = len(f"{plan.arena_bytes:,}")
    lines.append("buffers by arena offset (steps: the ops from the first writer to the last reader):")
    for b in sorted(plan.buffers, key=lambda b: (b.offset, b.first_use, b.name)):
        tensors = held.get(b.name, [])
        holds = f" holds {', '.join(_quoted(t) for t in tensors)}" if tensors and tensors != [b.name] else ""
        lines.append(f"  offset {b.offset:>{width},}  size {b.size:>{width},} B  steps {b.first_use}..{b.last_use}  "
                     f"{_quoted(b.name)}{holds}")
    if plan.patch is not None:
        lines += _patch_lines(plan.patch)
    return lines


def _patch_lines(p: Any) -> list[str]:
    """The patch-based first stage (a patch.PatchPlan)."""
    lines = [f"patch stage: ops #0..#{p.split_op[0]} run per patch (the last: {display_text(p.split_op[1])}), grid "
             f"{p.grid[0]}x{p.grid[1]} ({p.patches} patches), +{100 * p.mac_overhead:.1f} % MACs "
             f"({p.stage_macs:,} vs {p.layer_stage_macs:,}), stage input {_quoted(p.stage_input)}, split tensor "
             f"{_quoted(p.split_tensor)}" + (f", split offset {p.split_offset}" if p.split_offset is not None else "")]
    for k, (y0, x0, h, w) in enumerate(p.patch_input_regions):
        lines.append(f"  patch {k} reads rows {y0}..{y0 + h - 1}, columns {x0}..{x0 + w - 1} of the stage input")
    for tensor, shape in sorted(p.buffer_shapes.items()):
        lines.append(f"  stage buffer {_quoted(tensor)} [{','.join(str(d) for d in shape)}]")
    return lines
