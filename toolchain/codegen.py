"""IR + memory plan -> the output folder (docs/output.md: model.h, model.c, weights.c, runtime/, main.c, build files).

Each op module emits its own call through `EmitContext`, which hands out C expressions for tensors (an arena
offset for activations, a const array in weights.c for constants) and collects the const parameter structs.
Templates live in toolchain/templates (jinja2); the runtime kernels are copied from the package's runtime/.
"""

from __future__ import annotations

import functools
import re
import shutil
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import jinja2
import numpy as np

from .c_text import CNames, c_comment_text, identifier_part, sanitize
from .ir import C_TYPES, Graph, Op
from .memory import MemoryPlan
from .ops import REGISTRY
from .ops.add import c_list
from .patch import PatchPlan, binary_loops, buffer_op, buffer_view, region_kind, region_rows, row_runs, row_view

COMMON_RUNTIME = ["edgec_fixedpoint.h", "edgec_broadcast.h", "edgec_region.h", "edgec_float.h"]


def c_array_body(a: np.ndarray, per_line: int = 24) -> str:
    flat = np.asarray(a).reshape(-1)
    if flat.dtype.kind == "f":
        items = [_float_literal(float(v)) for v in flat.astype(np.float32)]
    elif flat.dtype == np.int32:
        # INT32_MIN has no literal form in C: write it as an expression
        items = ["(-2147483647 - 1)" if v == -(2**31) else str(v) for v in flat.tolist()]
    else:
        items = [str(v) for v in flat.tolist()]
    lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n    ".join(lines) if lines else "0"


def _float_literal(v: float) -> str:
    """A float32 constant as C: repr round-trips exactly; inf and NaN through <math.h> (weights.c includes it)."""
    if np.isnan(v):
        return "NAN"
    if np.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    return f"{v!r}f"


def designated(fields: dict, indent: str = "    ") -> str:
    """A C99 designated initializer `{ .a = 1, .b = 2 }`, one field per line at `indent`."""
    return "{\n" + ",\n".join(f"{indent}.{k} = {v}" for k, v in fields.items()) + "\n" + indent[4:] + "}"


@dataclass
class ConstArray:
    symbol: str
    ctype: str
    data: np.ndarray
    comment: str = ""


@dataclass
class EmitContext:
    """Model text never becomes C here: symbols come from `names` (generated identifiers, collision-free), and
    a name appears only in a comment through c_comment_text (c_text.py)."""

    g: Graph
    plan: MemoryPlan
    prefix: str
    consts: dict[str | tuple[str, str], ConstArray] = field(default_factory=dict)  # tensor or (op, field) -> array
    structs: list[str] = field(default_factory=list)
    names: CNames = field(default_factory=CNames)
    op_index: dict[str, int] = field(default_factory=dict)  # op name -> its index (the generated stem op_<k>)

    def stem(self, op: Op) -> str:
        return self.names.stem(op.name, self.op_index.get(op.name, len(self.op_index)))

    def ptr(self, tensor: str | None) -> str:
        """C expression for a tensor's first element, typed after its dtype."""
        if tensor is None:
            return "NULL"
        t = self.g.t(tensor)
        ctype = C_TYPES[t.dtype]
        if t.is_const:
            if tensor not in self.consts:
                symbol = self.names.claim(f"{self.prefix}_w{len(self.consts)}_{sanitize(t.name)[-40:]}")
                comment = f"{c_comment_text(t.name)} {list(t.shape)} {t.dtype}"
                self.consts[tensor] = ConstArray(symbol, ctype, t.data, comment)  # type: ignore[arg-type]
            return self.consts[tensor].symbol
        return f"(({ctype} *)(edgec_arena.bytes + {self.plan.offset(tensor)}))"

    def const_array(self, op: Op, field_name: str, data: np.ndarray, ctype: str = "int32_t") -> str:
        """A compile-time array (multipliers, shifts, tables) placed in flash; returns its symbol."""
        key = (op.name, field_name)  # the patch stage emits an op once per tile width: one array
        symbol = self.consts[key].symbol if key in self.consts else self.names.claim(
            f"{self.prefix}_{self.stem(op)}_{field_name}")
        self.consts[key] = ConstArray(symbol, ctype, np.asarray(data), f"{c_comment_text(op.name)} {field_name}")
        return symbol

    def params_struct(self, op: Op, ctype: str, fields: dict) -> str:
        """A `static const` parameter struct in model.c (flash), with designated initializers."""
        symbol = self.names.claim(f"{self.stem(op)}_params")
        self.structs.append(f"static const {ctype} {symbol} = {designated(fields)};")
        return symbol


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("edgec", "templates"), keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def _io(g: Graph, names: list[str], ctx: EmitContext) -> list[dict]:
    out = []
    for n in names:
        t = g.t(n)
        out.append(dict(name=c_comment_text(t.name), ctype=C_TYPES[t.dtype], size=t.size, nbytes=t.nbytes,
                        shape=list(t.shape),
                        offset=ctx.plan.offset(n), scale=float(t.scale) if t.quant is not None else 1.0,
                        zero_point=t.zero_point))
    return out


def _c_rect(r: tuple[int, int, int, int]) -> str:
    return ", ".join(str(int(v)) for v in r)


@dataclass
class _PatchEmitContext(EmitContext):
    """Emits a binary op of the patch stage once for all patches: its parameter struct becomes an array indexed
    by `patch` (the caller fills one element per patch) and its activation inputs get per-patch offsets."""

    offsets: dict[str, str] = field(default_factory=dict)  # tensor -> C expression added to its pointer
    captured: list[tuple[str, dict]] = field(default_factory=list)
    index: str = "patch"  # C expression selecting the element of the parameter struct array
    params: str = ""  # the symbol of the parameter struct array (claimed by the caller)

    def ptr(self, tensor: str | None) -> str:
        base = super().ptr(tensor)
        return f"({base} + {self.offsets[tensor]})" if tensor in self.offsets else base

    def params_struct(self, op: Op, ctype: str, fields: dict) -> str:
        self.captured.append((ctype, fields))
        return f"{self.params}[{self.index}]"


def _binary_call(k: int, op: Op, g: Graph, ctx: EmitContext, patch: PatchPlan) -> str:
    """A broadcast kernel (add/sub/mul) over the windows: per patch, its loops and input offsets (patch.py)."""
    loops = binary_loops(g, patch, k)
    acts = [i for i in op.inputs if i is not None and not g.t(i).is_const]
    j_of = {t: op.inputs.index(t) for t in acts}
    stem = ctx.stem(op)
    table, params = ctx.names.claim(f"{stem}_offsets"), ctx.names.claim(f"{stem}_params")
    sub = _PatchEmitContext(g=ctx.g, plan=ctx.plan, prefix=ctx.prefix, consts=ctx.consts, structs=ctx.structs,
                            names=ctx.names, op_index=ctx.op_index,
                            offsets={t: f"{table}[patch][{j}]" for t, j in j_of.items()}, params=params)
    call = REGISTRY[op.type].emit(op, g, sub)
    (ctype, fields), = sub.captured
    if not {"shape", "stride1", "stride2"} <= set(fields):
        raise AssertionError(f"{op.type}: a binary stage op must use the broadcast loops (edgec_broadcast.h)")
    elements = []
    for shape, strides, _ in loops:
        per_patch = {**fields, "shape": c_list(shape), "stride1": c_list(strides[0]), "stride2": c_list(strides[1])}
        elements.append(designated(per_patch, indent=" " * 8))
    ctx.structs.append(f"static const {ctype} {params}[{len(loops)}] = {{\n    "
                       + ",\n    ".join(elements) + "\n};")
    rows = ",\n    ".join("{" + ", ".join(str(o) for o in offsets) + "}" for _, _, offsets in loops)
    ctx.structs.append(f"/* per patch: where the computed rectangle starts in each input's window (elements) */\n"
                       f"static const int32_t {table}[{len(loops)}][{len(op.inputs)}] = {{\n    {rows}\n}};")
    return call


def _rows_call(k: int, op: Op, g: Graph, ctx: EmitContext, patch: PatchPlan) -> str:
    """An elementwise op ending the stage (patch.row_runs): its own kernel once per tile row, reading each input's
    window and writing the row in place in the full split tensor. One parameter struct per distinct tile width
    (at most two: split_1d's pieces differ by one) and a per-patch table of row counts and offsets."""
    runs = row_runs(g, patch, k)
    widths = sorted({w for _, w, _, _ in runs})
    acts = list(dict.fromkeys(i for i in op.inputs if i is not None and not g.t(i).is_const))
    stem = ctx.stem(op)
    table, params = ctx.names.claim(f"{stem}_rows"), ctx.names.claim(f"{stem}_params")
    y = g.t(op.outputs[0])
    offsets = {t: f"{table}[patch][{2 + 2 * j}] + row * {table}[patch][{3 + 2 * j}]" for j, t in enumerate(acts)}
    offsets[op.outputs[0]] = f"{table}[patch][{2 + 2 * len(acts)}] + row * {y.shape[2] * y.shape[3]}"
    sub = _PatchEmitContext(g=ctx.g, plan=ctx.plan, prefix=ctx.prefix, consts=ctx.consts, structs=ctx.structs,
                            names=ctx.names, op_index=ctx.op_index, offsets=offsets, index=f"{table}[patch][1]",
                            params=params)
    calls = set()
    for w in widths:
        view = row_view(g, op, w)
        calls.add(REGISTRY[op.type].emit(buffer_op(op, view), view, sub))
    (call,) = calls
    elements = [designated(fields, indent=" " * 8) for _, fields in sub.captured]
    ctx.structs.append(f"/* per tile width {widths}: one row of the tile */\n"
                       f"static const {sub.captured[0][0]} {params}[{len(widths)}] = {{\n    "
                       + ",\n    ".join(elements) + "\n};")
    rows = ",\n    ".join("{" + ", ".join(str(v) for v in [h, widths.index(w), *(x for pair in ins for x in pair), o])
                          + "}" for h, w, ins, o in runs)
    ctx.structs.append(f"/* per patch: tile rows, params index, per input (first row's offset in its window, row "
                       f"stride), the tile's offset in the split tensor (elements) */\n"
                       f"static const int32_t {table}[{len(runs)}][{3 + 2 * len(acts)}] = {{\n    {rows}\n}};")
    return f"for (int32_t row = 0; row < {table}[patch][0]; row++) {call}"


def _stage_layer(k: int, op: Op, g: Graph, ctx: EmitContext, patch: PatchPlan) -> dict:
    """One layer of the patch stage (patch.py): the template wraps the stage in `for (patch = 0; ...)`.
    Windowed ops call their kernel's _region twin with a const table of per-patch regions (flash); binary ops
    index per-patch parameter structs and input offsets; unary ops run their whole-tensor kernel on the buffers
    (identical windows), sized for the largest window; an elementwise op ending the stage runs row by row into
    the full split tensor (_rows_call). Only the split tensor is traced, once, after the loop:
    the internal tensors never exist whole."""
    impl = REGISTRY[op.type]
    kind = region_kind(op, g)
    if kind != "window" and k == patch.split_op[0]:
        call = _rows_call(k, op, g, ctx, patch)
    elif kind == "window":
        rows = region_rows(g, patch, k)
        table = ",\n    ".join(f"{{{_c_rect(out)}, {_c_rect(win)}, {_c_rect(ob)}}}" for out, win, ob in rows)
        symbol = ctx.names.claim(f"{ctx.stem(op)}_regions")
        ctx.structs.append(f"/* per patch: computed output (y0, x0, h, w), input window, output window */\n"
                           f"static const edgec_region {symbol}[{len(rows)}] = {{\n    {table}\n}};")
        call = impl.emit(op, g, ctx, region=f"&{symbol}[patch]")  # type: ignore[call-arg]
    elif kind == "binary":
        call = _binary_call(k, op, g, ctx, patch)
    else:
        view = buffer_view(g, patch)
        call = impl.emit(buffer_op(op, view), view, ctx)
    last = k == patch.split_op[0]
    traces = [dict(ptr=ctx.ptr(o), nbytes=g.t(o).nbytes) for o in op.outputs] if last else []
    return dict(index=k, op=op, label=c_comment_text(op.attrs.get("label", op.name)), call=call, traces=traces,
                stage_begin=k == 0, stage_end=last, patches=patch.patches,
                stage_note=f"patch stage: layers 0..{patch.split_op[0]} once per patch of "
                           f"{c_comment_text(patch.split_tensor)} "
                           f"({patch.grid[0]}x{patch.grid[1]} grid), receptive-field halos recomputed")


@functools.cache
def _runtime_identifiers() -> frozenset[str]:
    """Every `edgec_...` / `EDGEC_...` name of the runtime, the Cortex-M harness and the templates: names a
    model's symbols must never take."""
    names: set[str] = set()
    for folder in (resources.files("edgec.runtime"), resources.files("edgec.targets") / "cortexm",
                   resources.files("edgec") / "templates"):
        for entry in folder.iterdir():
            if entry.name.endswith((".c", ".h", ".j2")):
                names.update(re.findall(r"\b[Ee][Dd][Gg][Ee][Cc]_\w+", entry.read_text()))
    return frozenset(names)


def model_prefix(name: str) -> str:
    """The C prefix of a model's API and symbols, `edgec_<model name>` (lower case; the header guard is its upper
    case). A name whose prefix would meet a runtime name, e.g. a model file called `transpose.tflite` against
    the kernel header guard EDGEC_TRANSPOSE_H, becomes `edgec_model_<name>` instead."""
    stem = identifier_part(name).lower() or "model"
    taken = {n.lower() for n in _runtime_identifiers()}
    prefix, k = f"edgec_{stem}", 0
    while prefix in taken or any(n.startswith(prefix + "_") for n in taken):
        prefix, k = f"edgec_model{k or ''}_{stem}", k + 1
    return prefix


def emit_c(g: Graph, plan: MemoryPlan, out_dir: Path) -> list[str]:
    """Write model.h, model.c, weights.c, runtime/, main.c, Makefile, CMakeLists.txt. Returns the C sources."""
    prefix = model_prefix(g.name)
    ctx = EmitContext(g=g, plan=plan, prefix=prefix, names=CNames(_runtime_identifiers()),
                      op_index={op.name: k for k, op in reversed(list(enumerate(g.ops)))})
    layers = []
    stage = plan.patch.stage if plan.patch is not None else range(0)
    for k, op in enumerate(g.ops):
        impl = REGISTRY[op.type]
        if k in stage:
            layers.append(_stage_layer(k, op, g, ctx, plan.patch))
            continue
        call = impl.run_emit(op, g, ctx)
        traces = [dict(ptr=ctx.ptr(o), nbytes=g.t(o).nbytes) for o in op.outputs]
        layers.append(dict(index=k, op=op, label=c_comment_text(op.attrs.get("label", op.name)), call=call,
                           traces=traces))
    kernels = sorted({kern for op in g.ops if (kern := REGISTRY[op.type].kernel_for(op, g)) is not None})
    env = _env()
    guard = prefix.upper()
    common = dict(g=g, model_name=c_comment_text(g.name), prefix=prefix, guard=guard, arena_bytes=plan.arena_bytes,
                  layers=layers, kernels=kernels,
                  inputs=_io(g, g.inputs, ctx), outputs=_io(g, g.outputs, ctx), structs=ctx.structs,
                  consts=list(ctx.consts.values()), c_array_body=c_array_body,
                  nonfinite_consts=any(c.data.dtype.kind == "f" and not np.all(np.isfinite(c.data))
                                       for c in ctx.consts.values()))
    out_dir.mkdir(parents=True, exist_ok=True)
    for template, target in [("model.h.j2", "model.h"), ("model.c.j2", "model.c"), ("weights.c.j2", "weights.c"),
                             ("weights.h.j2", "weights.h"), ("main_host.c.j2", "main.c"), ("Makefile.j2", "Makefile"),
                             ("CMakeLists.txt.j2", "CMakeLists.txt")]:
        (out_dir / target).write_text(env.get_template(template).render(**common))
    runtime_dir = out_dir / "runtime"
    runtime_dir.mkdir(exist_ok=True)
    src = resources.files("edgec.runtime")
    needed = COMMON_RUNTIME + [f"{k}.{ext}" for k in kernels for ext in ("h", "c")]
    for fname in needed:
        with resources.as_file(src / fname) as p:
            shutil.copyfile(p, runtime_dir / fname)
    return ["model.c", "weights.c", "main.c"] + [f"runtime/{k}.c" for k in kernels]
