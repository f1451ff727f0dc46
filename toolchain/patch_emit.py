"""The C of the patch stage (patch.py): its per-patch tables and the call of each stage layer.

patch.py decides the stage (which layers, which grid, the windows and computed rectangles of every patch, the
memory plan); this module turns that plan into C for codegen.emit_c, which wraps the stage in
`for (patch = 0; ...)`: const tables in flash of each windowed layer's regions (`region_rows`), each binary
layer's broadcast loops and input offsets (`binary_loops`), and the rows an elementwise layer ending the stage
writes into the full split tensor (`row_runs`), each table checked against the windows it indexes.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

from .c_emit import EmitContext, c_list, designated
from .c_text import c_comment_text
from .ir import Graph, Op
from .ops import REGISTRY
from .patch import PatchPlan, Rect, activation_inputs, contains, receptive_field, region_kind

# ---- per-patch geometry of each stage layer, checked against its windows -----------------------------------------

def region_rows(g: Graph, plan: PatchPlan, step: int) -> list[tuple[Rect, Rect, Rect]]:
    """Per patch, (computed output, input window, output window) of stage op `step`, each (y0, x0, h, w).
    Checks the invariant the kernels rely on: every in-bounds tap of the computed outputs is in the window."""
    op = g.ops[step]
    x, y = activation_inputs(op, g)[0], op.outputs[0]
    rows = []
    for p in range(plan.patches):
        out, win, ob = plan.computed[step][p], plan.windows[x][p], plan.windows[y][p]
        if not contains(win, receptive_field(op, g, out)) or not contains(ob, out):
            raise AssertionError(f"patch {p} of {op.name}: region outside its buffer window")  # a bug, never input
        rows.append((out, win, ob))
    return rows


def binary_loops(g: Graph, plan: PatchPlan, step: int) -> list[tuple[list[int], list[list[int]], list[int]]]:
    """Per patch, the broadcast loops of binary stage op `step` (edgec_broadcast.h, 6 loops, outermost first):
    (loop extents over the computed rectangle, element strides of each input, start offset of each input in
    its buffer). An activation input walks its window: rows W.w * C apart, pixels C apart; a constant walks
    its channels only (stride 0 where it repeats). Loops are folded where every input stays contiguous."""
    op = g.ops[step]
    y = g.t(op.outputs[0])
    n, c = y.shape[0], y.shape[3]
    out = []
    for p in range(plan.patches):
        r = plan.computed[step][p]
        assert r == plan.windows[op.outputs[0]][p], "a binary op writes its output window densely"
        dims = [n, r[2], r[3], c]
        strides, offsets = [], []
        for i in op.inputs:
            t = g.t(i)
            if t.is_const:
                strides.append([0, 0, 0, 1 if t.size == c and c > 1 else 0])
                offsets.append(0)
                continue
            w = plan.windows[i][p]  # type: ignore[index]
            strides.append([w[2] * w[3] * c, w[3] * c, c, 1])
            offsets.append(((r[0] - w[0]) * w[3] + (r[1] - w[1])) * c)
        loops: list[list[int]] = []  # [extent, stride per input], innermost first while building
        for d in reversed(range(4)):
            if dims[d] == 1:
                continue
            if loops and all(strides[j][d] == loops[-1][1 + j] * loops[-1][0] for j in range(len(strides))):
                loops[-1][0] *= dims[d]  # contiguous across this dimension for every input: one longer loop
            else:
                loops.append([dims[d], *(s_[d] for s_ in strides)])
        loops += [[1] + [0] * len(strides)] * (6 - len(loops))
        loops.reverse()
        out.append(([lp[0] for lp in loops], [[lp[1 + j] for lp in loops] for j in range(len(strides))], offsets))
    return out


def row_runs(g: Graph, plan: PatchPlan, step: int) -> list[tuple[int, int, list[tuple[int, int]], int]]:
    """Per patch, how the last stage op, an elementwise one, writes its tile into the full split tensor: row by
    row, as (tile rows h, tile width w, per activation input (`activation_inputs` order) the element offset of the
    tile's first row in its window buffer and the row stride of that buffer, the element offset of the tile in
    the split tensor). Every window holds the tile's columns, so one tile row is w * C contiguous elements in
    each buffer: the op's own kernel runs once per row on (1, 1, w, C) views (`row_view`), unchanged."""
    op = g.ops[step]
    y = g.t(op.outputs[0])
    c, full_w = y.shape[3], y.shape[2]
    assert op.outputs[0] == plan.split_tensor and y.shape[0] == 1, "row runs serve the split op (batch 1)"
    out = []
    for p in range(plan.patches):
        tile = plan.computed[step][p]
        ins = []
        for i in dict.fromkeys(activation_inputs(op, g)):
            w = plan.windows[i][p]
            if not contains(w, tile):
                raise AssertionError(f"patch {p} of {op.name}: tile outside the window of {i}")  # a bug
            ins.append((((tile[0] - w[0]) * w[3] + (tile[1] - w[1])) * c, w[3] * c))
        out.append((tile[2], tile[3], ins, (tile[0] * full_w + tile[1]) * c))
    return out


def row_view(g: Graph, op: Op, width: int) -> Graph:
    """A shallow copy of the graph whose activation inputs and output of `op` have the shape of one tile row,
    (1, 1, width, C), for `row_runs`."""
    tensors = dict(g.tensors)
    for t in [*activation_inputs(op, g), *op.outputs]:
        tensors[t] = replace(g.tensors[t], shape=(1, 1, width, g.t(t).shape[3]))
    return Graph(name=g.name, tensors=tensors, ops=g.ops, inputs=g.inputs, outputs=g.outputs, meta=g.meta)


def buffer_view(g: Graph, plan: PatchPlan) -> Graph:
    """A shallow copy of the graph whose stage-internal tensors have their buffer shapes (for unary ops, which
    run their whole-tensor kernels on the buffers)."""
    tensors = dict(g.tensors)
    for t, shape in plan.buffer_shapes.items():
        tensors[t] = replace(g.tensors[t], shape=shape)
    return Graph(name=g.name, tensors=tensors, ops=g.ops, inputs=g.inputs, outputs=g.outputs, meta=g.meta)


def buffer_op(op: Op, view: Graph) -> Op:
    """The op with its compile-time constants prepared for the buffer shapes (element counts change)."""
    twin = copy.copy(op)
    twin.params = {}
    REGISTRY[op.type].prepare(twin, view)
    return twin


# ---- the C of each stage layer -----------------------------------------------------------------------------------

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
    """A broadcast kernel (add/sub/mul) over the windows: per patch, its loops and input offsets (`binary_loops`)."""
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
    """An elementwise op ending the stage (`row_runs`): its own kernel once per tile row, reading each input's
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


def stage_layer(k: int, op: Op, g: Graph, ctx: EmitContext, patch: PatchPlan) -> dict:
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
