"""Patch-based inference (MCUNetV2): run the first stage of the network once per spatial patch.

The peak of a CNN's activation memory is usually in its first layers, where the tensors are large. Patch-based
inference runs a prefix of the op order (the *stage*, ops 0..k) once per patch of the split tensor (the output
of op k), recomputing the receptive-field halo of each patch, so that the stage's internal tensors only ever hold
one patch's window. The stage input (the graph input) and the split tensor stay full size: the stage reads the
whole input over all patches and assembles the whole split tensor, which the rest of the network reads layer by
layer. Patching changes only the schedule, never the numbers: each output element is computed from the same
inputs with the same integer arithmetic as the whole-layer call (see runtime/edgec_region.h).

API (called by the driver after the layer-by-layer plan):

    plan = search_patches(g, max_mac_overhead=0.20, grids=range(2, 9), layer_plan=None) -> PatchPlan | None
        every legal split k and grid n x n; the arena comes from the real planner (memory.plan_buffers) on the
        patched records, the MAC overhead is sum over patches of stage MACs / layer-by-layer stage MACs - 1.
        Keeps the smallest arena within the cap (ties: less overhead, fewer patches); None when no candidate
        beats the layer-by-layer arena (never worse than layer by layer).
    plan = plan_patches(g, split_op, grid, layer_plan=None) -> PatchPlan
        one forced choice (tests, experiments), no cap and no comparison; InputError if the split is
        not legal.
    g, mem = apply_patches(g, plan) -> (Graph, MemoryPlan)
        the memory plan of the patched schedule (mem.patch = plan, mem.layer_arena_bytes set). The graph is
        returned unchanged: tensors keep their true (full) shapes, so the numpy reference, the report and
        TFLM's layer dump keep their meaning; the stage's internal buffers are smaller than their tensors, and
        the plan says so (`PatchPlan.buffer_shapes`). codegen.emit_c reads mem.patch and emits the stage as one
        loop over the patches with const region tables in flash (patch_emit.py writes the stage's C).
    traced_tensors(g, mem) -> list[str]
        the tensors the EDGEC_TRACE build dumps, in order: every op output except the stage's internal
        tensors (they never exist in full; the split tensor is dumped once, after the loop).

Design decisions, and why:
- The graph is not rewritten to patch shapes (see apply_patches); buffer sizes are replaced in the planner's
  records instead, which is all the planner sees.
- Stage ops: those whose operator declares a `patch_kind` (ops/base.py), today conv2d, depthwise_conv2d,
  avg/max pool2d ('window': their kernels take an edgec_region), the binary ops add/sub/mul ('binary':
  activation inputs of the output's shape, constants without spatial extent) and the unary ops relu, logistic,
  tanh, int8 quantize ('unary'). PAD is not folded: a stage stops before it.
- Binary ops keep their kernels: those walk numpy-broadcast loops (edgec_broadcast.h) with per-input strides,
  so a window of an input is just other strides and a start offset. Each patch gets its own parameter struct
  (loops over the computed rectangle, row strides of each input's window) and pointer offsets; the output
  window is exactly the computed rectangle, written densely. This is what lets a residual ADD sit inside the
  stage: its skip input's window (wider, for the other branch's halo) differs from the output's.
- Unary ops (a size and a flat loop) run their unchanged kernels on the buffers: the input's and the output's
  windows are made identical (grown to their bounding box, to a fixed point), so element i of both buffers is
  the same pixel. The kernel is sized for the largest window and also runs over the unused tail of smaller
  windows; that work is counted in the MAC overhead, and the tail is never read.
- The stage may end with any of these ops. A windowed kernel writes its tile into the full split tensor (its
  region's output window). An elementwise op (binary or unary) ending the stage runs its unchanged kernel once
  per row of the tile (patch_emit.row_runs): one tile row is w * C contiguous elements in the split tensor and
  in each input window, so each call gets pointers at that row and a parameter struct sized for one row
  ((1, 1, w, C); at most two distinct widths). This is what lets a residual ADD end the stage, the natural
  split of a MobileNetV2 block. The alternative, computing the tile densely into a per-patch buffer and copying
  it into place with a row stride, costs a tile-sized buffer in the arena (live together with the full split
  tensor), a copy of every element and a copy kernel in flash; the row calls cost a call per tile row and a
  per-patch table of 3 + 2 x inputs int32 in flash. The last op computes exactly its tile (no halo, no unused
  tail), and its inputs' windows need to hold only the tile (a unary op's windows are not made identical).
- Memory: records from memory.lifetimes(g), internal buffers shrunk to their largest window, and every buffer
  the stage touches that is defined before it or used after it (the graph input, the split tensor) extended
  over the whole stage span, since the loop revisits every stage step once per patch. Internal tensors are
  recomputed within each patch before they are read, so their in-patch lifetimes are exact.
- The split tensor over the input (`split_offset`): patches run in a fixed (row-major) order, so once patch p is
  done the input bytes that no later patch reads are dead, and the tiles of later patches may land there. The
  split tensor is put o bytes from the stage input (the smallest union of the two that no write reaches before
  its last read), one record of the union covers the stage, the split tensor's own record starts after it, and
  the two records are glued at a fixed distance (memory.plan_buffers with `glue`: its greedy orders and
  hill-climb with the pair placed together; the record model cannot say it). Every such plan is re-checked by
  memory.check_plan and by `check_overlap`, a byte-level run of the patch loop. Used only where the arena
  drops; the search ranks every candidate with and without it. vww_96_int8: 43,800 B -> 35,912 B. Column-major
  patches save almost nothing on NHWC tensors (a few hundred bytes on vww_96): not offered.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from . import memory
from .errors import InputError
from .ir import Graph, Op, Tensor
from .memory import ALIGNMENT, Buffer, MemoryPlan, align_up
from .ops import REGISTRY
from .ops.base import is_float
from .ops.int4_common import int4_weights

Rect = tuple[int, int, int, int]  # (y0, x0, h, w) in the full tensor's rows and columns

DEFAULT_GRIDS = range(2, 9)


# ---- rectangles and receptive fields -----------------------------------------------------------------------------

def union(a: Rect | None, b: Rect) -> Rect:
    """Bounding box of two rectangles (an empty one adds nothing)."""
    if a is None or a[2] <= 0 or a[3] <= 0:
        return b
    if b[2] <= 0 or b[3] <= 0:
        return a
    y0, x0 = min(a[0], b[0]), min(a[1], b[1])
    return (y0, x0, max(a[0] + a[2], b[0] + b[2]) - y0, max(a[1] + a[3], b[1] + b[3]) - x0)


def contains(outer: Rect, inner: Rect) -> bool:
    if inner[2] <= 0 or inner[3] <= 0:
        return True
    return (outer[0] <= inner[0] and inner[0] + inner[2] <= outer[0] + outer[2]
            and outer[1] <= inner[1] and inner[1] + inner[3] <= outer[1] + outer[3])


def split_1d(size: int, parts: int) -> list[tuple[int, int]]:
    """(start, length) of `parts` near-equal pieces of [0, size): the first size % parts are one longer."""
    base, extra = divmod(size, parts)
    out, start = [], 0
    for i in range(parts):
        n = base + (1 if i < extra else 0)
        out.append((start, n))
        start += n
    return out


def input_span(out_start: int, out_len: int, in_size: int, k: int, stride: int, pad: int,
               dilation: int = 1) -> tuple[int, int]:
    """Input rows read by output rows [out_start, out_start + out_len) of a sliding window, as (start, length).

    Output row y reads rows y*stride - pad + j*dilation, j = 0..k-1; rows outside [0, in_size) are padding and
    read nothing (length 0 when every tap is padding). Without dilation that is [out_start*stride - pad,
    (out_end-1)*stride - pad + k) clipped to the input. With dilation the taps nearest a border may skip over
    it, so the first and last rows read are found per output row, for the few rows whose window crosses a
    border (a row whose window lies inside the input reads its first / last tap)."""
    if out_len <= 0:
        return (0, 0)
    end = out_start + out_len  # exclusive

    def taps(y: int) -> list[int]:
        base = y * stride - pad
        return [base + j * dilation for j in range(k) if 0 <= base + j * dilation < in_size]

    # first taps grow with y once a window starts inside the input (y >= first_inside): only the rows before it
    # and first_inside itself can hold the smallest; last taps grow with y while a window ends inside the input
    # (y <= last_inside): only last_inside and the rows after it can hold the largest
    first_inside = max(out_start, -(-pad // stride))
    last_inside = min(end - 1, (in_size - 1 + pad - (k - 1) * dilation) // stride)
    firsts = [t[0] for y in range(out_start, min(end, first_inside + 1)) if (t := taps(y))]
    lasts = [t[-1] for y in range(max(out_start, last_inside), end) if (t := taps(y))]
    if not firsts or not lasts:
        return (0, 0)
    lo, hi = min(firsts), max(lasts)
    return (lo, hi - lo + 1) if hi >= lo else (0, 0)


def window_geometry(op: Op, g: Graph) -> tuple[int, int, int, int, int, int, int, int]:
    """(k_h, k_w, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w) of a windowed op."""
    a, p = op.attrs, op.params
    kh, kw, dh, dw = REGISTRY[op.type].window_size(op, g)
    return kh, kw, a["stride_h"], a["stride_w"], p["pad_top"], p["pad_left"], dh, dw


def receptive_field(op: Op, g: Graph, out: Rect) -> Rect:
    """The input rectangle that the outputs `out` of a windowed op read (clipped to the input)."""
    x = g.t(op.inputs[0])
    kh, kw, sh, sw, pt, pl, dh, dw = window_geometry(op, g)
    y0, h = input_span(out[0], out[2], x.shape[1], kh, sh, pt, dh)
    x0, w = input_span(out[1], out[3], x.shape[2], kw, sw, pl, dw)
    return (y0, x0, h, w) if h and w else (0, 0, 0, 0)


# ---- which ops and splits can run per patch -----------------------------------------------------------------------

def _spatial(t: Tensor) -> bool:
    return len(t.shape) == 4 and not t.is_const and t.dtype == "int8"


def activation_inputs(op: Op, g: Graph) -> list[str]:
    return [i for i in op.inputs if i is not None and not g.t(i).is_const]


def region_kind(op: Op, g: Graph) -> str | None:
    """'window', 'binary' or 'unary' (see the module doc) when the op can run on a patch, else None: the op's
    declared `patch_kind`, when its tensors fit that kind here (int8 activations with a spatial extent)."""
    declared = REGISTRY[op.type].patch_kind
    if declared is None or is_float(op, g) or len(op.outputs) != 1 or not _spatial(g.t(op.outputs[0])):
        return None
    if int4_weights(op, g):  # the int4 kernels have no region form (ops/int4_common.py)
        return None
    y = g.t(op.outputs[0])
    acts = activation_inputs(op, g)
    if not acts or not all(_spatial(g.t(i)) for i in acts):
        return None
    if declared == "window":
        return "window" if len(acts) == 1 and acts[0] == op.inputs[0] else None
    if declared == "unary":
        return "unary" if g.t(acts[0]).shape == y.shape else None
    if declared == "binary":
        for i in op.inputs:
            if i is None:
                return None
            t = g.t(i)
            if t.is_const:
                # a constant broadcast over space (per channel or scalar) is the same for every patch
                padded = (1,) * (4 - len(t.shape)) + tuple(t.shape)
                if len(t.shape) > 4 or padded[0] != 1 or padded[1] != 1 or padded[2] != 1 \
                        or padded[3] not in (1, y.shape[3]):
                    return None
            elif t.shape != y.shape:
                return None
        return "binary"
    return None


def legal_splits(g: Graph) -> list[int]:
    """Every k such that ops 0..k can form the patch stage: each op runs on patches, no tensor made before op k
    is read after it or is a graph output, and op k's output has a spatial extent above 1. An elementwise op k
    (binary or unary) writes its tile row by row into the full split tensor (see patch_emit.row_runs), batch 1 only."""
    last_read: dict[str, int] = {}
    for step, op in enumerate(g.ops):
        for i in op.inputs:
            if i is not None:
                last_read[i] = step
    outputs = set(g.outputs)
    out: list[int] = []
    escaping: set[str] = set()  # tensors made in ops 0..k-1 that are read after k or are graph outputs
    for k, op in enumerate(g.ops):
        if region_kind(op, g) is None:
            break
        escaping = {t for t in escaping if last_read.get(t, -1) > k or t in outputs}
        s = g.t(op.outputs[0])
        if k >= 1 and not escaping and s.shape[1] * s.shape[2] > 1 and (region_kind(op, g) == "window"
                                                                           or s.shape[0] == 1):
            out.append(k)
        escaping.add(op.outputs[0])
    return out


# ---- the plan -----------------------------------------------------------------------------------------------------

@dataclass
class PatchPlan:
    split_op: tuple[int, str]  # (index, label) of the last stage op; its output is the split tensor
    grid: tuple[int, int]  # patches along rows, along columns of the split tensor
    stage_ops: list[str]  # labels of ops 0..k
    mac_overhead: float  # stage MACs over all patches / layer-by-layer stage MACs - 1
    arena_bytes: int
    layer_arena_bytes: int
    patch_input_regions: list[Rect]  # per patch: the rectangle of the stage input the patch reads
    live_bytes: list[int]  # per step of the patched schedule (stage steps: within one patch)
    split_tensor: str = ""
    stage_input: str = ""
    #: per stage tensor (inputs and outputs of stage ops), per patch: the window its buffer holds
    windows: dict[str, list[Rect]] = field(default_factory=dict)
    #: per stage op index, per patch: the output rectangle that op computes
    computed: list[list[Rect]] = field(default_factory=list)
    #: stage-internal tensors -> the shape of their buffer (the largest window)
    buffer_shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    stage_macs: int = 0
    layer_stage_macs: int = 0
    strategy: str = ""
    #: where the split tensor starts relative to the stage input's first byte when the two share arena bytes
    #: (see `split_offset`), None when they are separate buffers
    split_offset: int | None = None

    @property
    def patches(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def stage(self) -> range:
        return range(self.split_op[0] + 1)

    def as_dict(self) -> dict[str, Any]:
        """The `patch` section of report.json and plan.json."""
        return dict(split_layer=self.split_op[1], split_op=self.split_op[0], split_tensor=self.split_tensor,
                    grid=list(self.grid), patches=self.patches, stage_layers=list(self.stage_ops),
                    mac_overhead=round(self.mac_overhead, 6), overhead_macs=self.stage_macs - self.layer_stage_macs,
                    stage_macs=self.stage_macs, layer_stage_macs=self.layer_stage_macs,
                    arena_bytes=self.arena_bytes, layer_arena_bytes=self.layer_arena_bytes,
                    patch_input_regions=[list(r) for r in self.patch_input_regions],
                    split_offset=self.split_offset,
                    buffer_shapes={t: list(s) for t, s in sorted(self.buffer_shapes.items())},  # sets: any order
                    live_bytes=list(self.live_bytes))


def _per_pixel_macs(op: Op, g: Graph) -> float:
    y = g.t(op.outputs[0])
    return REGISTRY[op.type].macs(op, g) / max(y.shape[1] * y.shape[2], 1)


def _geometry(g: Graph, k: int, grid: tuple[int, int]) -> PatchPlan:
    """Windows, computed rectangles, buffer shapes and MACs of stage 0..k on a grid (no memory plan yet)."""
    ops = g.ops[:k + 1]
    split = ops[-1].outputs[0]
    s = g.t(split)
    kinds = [region_kind(op, g) for op in ops]
    made = {op.outputs[0] for op in ops}
    full: dict[str, Rect] = {}  # tensors whose buffer is full size: stage inputs and the split tensor
    for op in ops:
        for t in [*activation_inputs(op, g), *op.outputs]:
            if t not in made or t == split:
                shape = g.t(t).shape
                full[t] = (0, 0, shape[1], shape[2])
    rows, cols = split_1d(s.shape[1], grid[0]), split_1d(s.shape[2], grid[1])
    tiles = [(r0, c0, rh, cw) for r0, rh in rows for c0, cw in cols]
    windows: dict[str, list[Rect]] = {t: [] for t in [*full, *made]}
    computed: list[list[Rect]] = [[] for _ in ops]
    stage_input = next((t for t in activation_inputs(ops[0], g)), "")
    reads: list[Rect] = []  # per patch: the part of the (full) stage input the patch reads, for the report
    for tile in tiles:
        need: dict[str, Rect | None] = {split: tile}
        # grow the needs to a fixed point: backward receptive fields, then equal windows around unary ops
        while True:
            for op, kind in zip(reversed(ops), reversed(kinds)):
                r = need.get(op.outputs[0])
                if r is None:
                    continue
                for i in activation_inputs(op, g):
                    need[i] = union(need.get(i), receptive_field(op, g, r) if kind == "window" else r)
            changed = False
            for op, kind in zip(ops, kinds):
                if kind != "unary" or op.outputs[0] == split:
                    continue  # the last op reads its tile from any input window (row by row, see patch_emit.row_runs)
                members = [*activation_inputs(op, g), op.outputs[0]]
                box: Rect | None = None
                for t in members:
                    box = union(box, full[t] if t in full else need.get(t) or (0, 0, 0, 0))
                for t in members:
                    if need.get(t) != box:
                        need[t] = box
                        changed = True
            if not changed:
                break
        for t in windows:
            windows[t].append(full[t] if t in full else (need.get(t) or (0, 0, 0, 0)))
        reads.append(need.get(stage_input) or (0, 0, 0, 0))
        for j, op in enumerate(ops):
            o = op.outputs[0]
            computed[j].append(tile if o == split else windows[o][-1])
    buffer_shapes: dict[str, tuple[int, ...]] = {}
    for t in made:
        if t == split:
            continue
        shape = g.t(t).shape
        buffer_shapes[t] = (shape[0], max(r[2] for r in windows[t]), max(r[3] for r in windows[t]), shape[3])
    layer_macs = sum(REGISTRY[op.type].macs(op, g) for op in ops)
    macs = 0.0
    for j, (op, kind) in enumerate(zip(ops, kinds)):
        per_pixel = _per_pixel_macs(op, g)
        o = op.outputs[0]
        for r in computed[j]:
            # unary kernels inside the stage run over their whole (largest-window) buffer
            area = buffer_shapes[o][1] * buffer_shapes[o][2] if kind == "unary" and o != split else r[2] * r[3]
            macs += per_pixel * area
    label = ops[-1].attrs.get("label", ops[-1].name)
    return PatchPlan(split_op=(k, label), grid=grid, stage_ops=[op.attrs.get("label", op.name) for op in ops],
                     mac_overhead=(macs / layer_macs - 1.0) if layer_macs else 0.0, arena_bytes=0,
                     layer_arena_bytes=0, patch_input_regions=reads,
                     live_bytes=[], split_tensor=split, stage_input=stage_input, windows=windows,
                     computed=computed, buffer_shapes=buffer_shapes, stage_macs=int(round(macs)),
                     layer_stage_macs=int(layer_macs))


def marked(g: Graph, k: int, grid: tuple[int, int] | None = None) -> Graph:
    """A shallow copy of the graph whose ops 0..k carry attrs["patch"] (memory.in_place_candidates never puts a
    patch-stage op in place: its tensors are windows)."""
    ops = [replace(op, attrs={**op.attrs, "patch": {"stage": [0, k], "grid": list(grid or (0, 0))}})
           if j <= k else op for j, op in enumerate(g.ops)]
    return Graph(name=g.name, tensors=g.tensors, ops=ops, inputs=g.inputs, outputs=g.outputs, meta=g.meta)


def _in_place(g: Graph, k: int, cache: dict[int, dict[str, int]] | None = None) -> dict[str, int]:
    """memory.in_place_ops for the ops after the stage (depends on k only, not on the grid)."""
    if cache is not None and k in cache:
        return cache[k]
    gm = marked(g, k)
    chosen = memory.in_place_ops(gm)
    memory.check_in_place(gm, chosen)
    if cache is not None:
        cache[k] = chosen
    return chosen


def patched_records(g: Graph, plan: PatchPlan, in_place: dict[str, int] | None = None
                    ) -> tuple[list[Buffer], dict[str, str], dict[str, int]]:
    """The planner's records for the patched schedule (see the module doc), tensor -> buffer, in-place ops."""
    k = plan.split_op[0]
    chosen = in_place if in_place is not None else _in_place(g, k)
    owner = memory.buffer_of(g, in_place=chosen)
    records = memory.lifetimes(g, in_place=chosen)
    internal = {owner[t]: shape for t, shape in plan.buffer_shapes.items()}
    touched = {owner[t] for op in g.ops[:k + 1] for t in [*activation_inputs(op, g), *op.outputs]}
    for b in records:
        if b.name in internal:
            shape = internal[b.name]
            b.size = shape[0] * shape[1] * shape[2] * shape[3]  # stage tensors are int8
        elif b.name in touched:
            b.first_use, b.last_use = min(b.first_use, 0), max(b.last_use, k)
    return records, owner, chosen


def _plan_records(g: Graph, plan: PatchPlan, in_place: dict[str, int]) -> MemoryPlan:
    return memory.plan_records(g, *patched_records(g, plan, in_place))


# ---- the split tensor over the input bytes no later patch reads ---------------------------------------------------

#: the largest stage input + 2 x split tensor (bytes) split_offset searches: it holds masks and prefix sums of
#: that many bytes (8 x as many for the prefix sums), and 64 MiB is far beyond the SRAM patching is for
SPLIT_SEARCH_MAX_BYTES = 64 << 20


def _rect_bytes(rect: Rect, shape: tuple[int, ...]) -> np.ndarray:
    """Flat byte indices of the pixels of `rect` (all channels) in an int8 NHWC tensor of batch 1."""
    y0, x0, h, w = rect
    if h <= 0 or w <= 0:
        return np.zeros(0, np.int64)
    _, _, width, c = shape
    pixels = (np.arange(y0, y0 + h)[:, None] * width + np.arange(x0, x0 + w)[None, :]).reshape(-1)
    return (pixels[:, None] * c + np.arange(c)[None, :]).reshape(-1)


def _overlap_ok(g: Graph, plan: PatchPlan) -> bool:
    """The split tensor may share bytes with the stage input when the input is an int8 batch-1 tensor that nothing
    after the stage reads (nor a graph output), and the split tensor is read after the stage (it escapes)."""
    k, x, s = plan.split_op[0], plan.stage_input, plan.split_tensor
    if not x or x == s or x in g.outputs or g.t(x).shape[0] != 1 or g.t(s).shape[0] != 1:
        return False
    return not any(x in op.inputs for op in g.ops[k + 1:]) and any(s in op.inputs for op in g.ops[k + 1:])


def split_offset(g: Graph, plan: PatchPlan) -> int | None:
    """Where to put the split tensor relative to the stage input (o, in bytes, a multiple of ALIGNMENT) so that the
    two share the arena bytes the patch loop no longer needs; None when no o saves a byte.

    Patches run in index order (row-major tiles). Patch p writes its tile, one run of w*C bytes per tile row at its
    place in the split tensor, in its last op. Input bytes that only patches < p read are dead by then, and so are
    those patch p itself reads before its last op (the ops of a patch run in order). So o is safe when, for every
    p, no byte patch p writes lands at input + i for an i that a patch > p reads, or that patch p's last op reads
    (when the last op reads the stage input itself). For a write run [wl, wh) and a read byte i that excludes
    o in (i - wh, i - wl]: all o are tested at once with prefix sums of the read mask. Of the safe o, the one with
    the smallest union (max(in, o + split) - min(0, o) bytes) is kept. Row-major patches over a row-major tensor
    favour o < 0: the split tensor starts before the input and trails the rows still to be read."""
    if not _overlap_ok(g, plan):
        return None
    k = plan.split_op[0]
    x, s = g.t(plan.stage_input), g.t(plan.split_tensor)
    n_in, n_s = x.nbytes, s.nbytes
    if n_in + 2 * n_s > SPLIT_SEARCH_MAX_BYTES:
        return None  # the search works per byte: beyond any microcontroller's SRAM, the plain layout is kept
    last_reads = plan.stage_input in activation_inputs(g.ops[k], g)
    offsets = np.arange(-align_up(n_s, ALIGNMENT), n_in + 1, ALIGNMENT)  # beyond these ends nothing is shared
    safe = np.ones(len(offsets), bool)
    later = np.zeros(n_s + n_in + n_s, bool)  # input bytes read by patches > p, at index i + n_s (0 outside)
    tiles = plan.computed[k]
    for p in reversed(range(len(tiles))):
        own = _rect_bytes(plan.patch_input_regions[p], x.shape) + n_s
        reads = later.copy()
        if last_reads:
            reads[own] = True
        prefix = np.concatenate([[0], np.cumsum(reads)])
        y0, x0, h, w = tiles[p]
        run = w * s.shape[3]
        for row in range(y0, y0 + h):
            wl = (row * s.shape[2] + x0) * s.shape[3]
            # reads among input bytes [o + wl, o + wl + run) (clipped: outside the input nothing is read)
            lo = np.clip(offsets + wl + n_s, 0, len(reads))
            hi = np.clip(offsets + wl + run + n_s, 0, len(reads))
            safe &= prefix[hi] == prefix[lo]
        later[own] = True
    if not safe.any():
        return None
    union = np.maximum(n_in, offsets + n_s) - np.minimum(0, offsets)
    best = int(np.argmin(np.where(safe, union, np.iinfo(np.int64).max)))
    return int(offsets[best]) if union[best] < n_in + n_s else None


def overlap_records(g: Graph, plan: PatchPlan, o: int, in_place: dict[str, int]
                    ) -> tuple[list[Buffer], dict[str, str], dict[str, int], int, int, int, Buffer]:
    """The patched records with the stage input and the split tensor sharing bytes at offset o: one record for
    the stage (steps 0..k) holding both, `union` = max(in, o + split) - min(0, o) bytes, and the split tensor's
    own record from step k + 1. Returns (records, owner, in-place ops, index of the stage record, index of the
    split record, distance from the stage record's start to the split record's: the two to glue; and the stage
    input's own record, which the stage record stands for)."""
    records, owner, chosen = patched_records(g, plan, in_place)
    k = plan.split_op[0]
    x, s = owner[plan.stage_input], owner[plan.split_tensor]
    n_in, n_s = g.t(plan.stage_input).nbytes, g.t(plan.split_tensor).nbytes
    by = {b.name: b for b in records}
    if x == s or by[x].size != n_in or by[x].last_use > k or by[s].last_use <= k:
        raise AssertionError("overlap_records needs split_offset's conditions")  # a bug, never input
    stage = Buffer(name=f"{s}#stage", size=max(n_in, o + n_s) - min(0, o), first_use=0, last_use=k)
    split = replace(by[s], first_use=k + 1)
    out = [b for b in records if b.name not in (x, s)] + [stage, split]
    return out, owner, chosen, len(out) - 2, len(out) - 1, max(0, o), by[x]


def _plan_overlap(g: Graph, plan: PatchPlan, in_place: dict[str, int], o: int) -> MemoryPlan:
    """The memory plan with the split tensor at o bytes from the stage input (split_offset). The stage record is
    then replaced by the stage input's own record and fillers for the rest of the shared bytes (live over the stage
    only), so every record is one tensor's buffer again; checked by memory.check_plan and `check_overlap`."""
    records, owner, chosen, a, b, d, x = overlap_records(g, plan, o, in_place)
    strategy, arenas, optimal = memory.plan_buffers(records, glue=(a, b, d))
    stage, split = records[a], records[b]
    x.offset = stage.offset + max(0, -o)
    fillers = [Buffer(name=f"{split.name}#stage{n}", size=hi - lo, first_use=0, last_use=stage.last_use,
                      alignment=1, offset=lo)
               for n, (lo, hi) in enumerate([(stage.offset, x.offset),
                                             (x.offset + x.size, stage.offset + stage.size)]) if hi > lo]
    final = [r for i, r in enumerate(records) if i != a] + [x, *fillers]
    arena = memory.arena_size(final)
    memory.check_plan(final, arena)
    mem = MemoryPlan(buffers=final, arena_bytes=arena, owner=owner,
                     live_bytes=memory.live_bytes_per_step(final, max(len(g.ops), 1)),
                     strategy=f"{strategy} (split tensor over the input)", strategy_arenas=arenas, optimal=optimal,
                     in_place=chosen)
    check_overlap(g, plan, mem, o)
    return mem


def _stage_reads(g: Graph, plan: PatchPlan, step: int, p: int) -> np.ndarray:
    """Byte indices of the stage input that stage op `step` reads in patch p, by brute force over the kernel taps
    (independent of input_span / receptive_field): a windowed op reads every in-bounds tap row x tap column of its
    computed outputs, a binary op its computed rectangle, the elementwise last op its tile, and any other unary op
    its whole input window."""
    op = g.ops[step]
    x = g.t(plan.stage_input)
    _, h_in, w_in, _ = x.shape
    out = plan.computed[step][p]
    kind = region_kind(op, g)
    if kind == "window":
        kh, kw, sh, sw, pt, pl, dh, dw = window_geometry(op, g)
        rows = sorted({y * sh - pt + i * dh for y in range(out[0], out[0] + out[2]) for i in range(kh)}
                      & set(range(h_in)))
        cols = sorted({c * sw - pl + j * dw for c in range(out[1], out[1] + out[3]) for j in range(kw)}
                      & set(range(w_in)))
        mask = np.zeros(x.shape[1:], bool)
        mask[np.ix_(rows, cols)] = True
        return np.flatnonzero(mask)
    if kind == "binary" or step == plan.split_op[0]:
        return _rect_bytes(out, x.shape)
    return _rect_bytes(plan.windows[plan.stage_input][p], x.shape)


def check_overlap(g: Graph, plan: PatchPlan, mem: MemoryPlan, o: int) -> None:
    """Independent check of a split tensor placed over the stage input: run the patch loop over the arena bytes,
    op by op in each patch, and fail if any op reads an input byte that an earlier write of the split tensor
    overwrote (the last op's reads are checked against its own writes in that patch too, conservatively: an
    elementwise last op reads and writes row by row). Raises memory.PlanError."""
    k = plan.split_op[0]
    s = g.t(plan.split_tensor)
    xa, sa = mem.offset(plan.stage_input), mem.offset(plan.split_tensor)
    if sa - xa != o:
        raise memory.PlanError(f"split tensor at {sa}, stage input at {xa}: expected {o} bytes apart")
    clobbered = np.zeros(mem.arena_bytes, bool)  # arena bytes the split tensor has overwritten so far
    for p in range(plan.patches):
        for step in range(k + 1):
            written = sa + _rect_bytes(plan.computed[k][p], s.shape) if step == k else np.zeros(0, np.int64)
            if plan.stage_input in activation_inputs(g.ops[step], g):
                reads = xa + _stage_reads(g, plan, step, p)
                hit = clobbered[reads] | np.isin(reads, written)
                if hit.any():
                    byte = int(reads[np.argmax(hit)]) - xa
                    raise memory.PlanError(f"patch {p}, op {step}: reads input byte {byte} after the split tensor "
                                           "overwrote it")
            clobbered[written] = True


def _finish(g: Graph, plan: PatchPlan, layer_arena: int, in_place: dict[str, int] | None = None) -> MemoryPlan:
    """Plan the memory of a geometry with the real planner (every strategy, verified). As memory.plan_memory
    does, the ops after the stage go in place only where that makes the arena strictly smaller (in-place kernels
    cost time), and the split tensor goes over the stage input (split_offset) only where that makes it smaller."""
    chosen = in_place if in_place is not None else _in_place(g, plan.split_op[0])
    o = split_offset(g, plan)
    mem = _plan_records(g, plan, {})
    variants: list[tuple[dict[str, int], int | None]] = [(chosen, None)] if chosen else []
    if o is not None:
        variants += [({}, o)] + ([(chosen, o)] if chosen else [])
    best_o = None
    for ops, offset in variants:
        other = _plan_records(g, plan, ops) if offset is None else _plan_overlap(g, plan, ops, offset)
        if other.arena_bytes < mem.arena_bytes:
            mem, best_o = other, offset
    plan.split_offset = best_o
    plan.arena_bytes, plan.layer_arena_bytes, plan.strategy = mem.arena_bytes, layer_arena, mem.strategy
    plan.live_bytes = list(mem.live_bytes)
    mem.patch, mem.layer_arena_bytes = plan, layer_arena
    return mem


def _grid(n: int | tuple[int, int]) -> tuple[int, int]:
    return (n, n) if isinstance(n, int) else (int(n[0]), int(n[1]))


def _layer_arena(g: Graph, layer_plan: MemoryPlan | None) -> int:
    return (layer_plan if layer_plan is not None else memory.plan_memory(g)).arena_bytes


def plan_patches(g: Graph, split_op: int, grid: int | tuple[int, int],
                 layer_plan: MemoryPlan | None = None) -> PatchPlan:
    """One forced choice of split op and grid (no overhead cap, no comparison with layer by layer)."""
    if split_op not in legal_splits(g):
        raise InputError(f"op {split_op} cannot end a patch stage in {g.name} (legal: {legal_splits(g)})")
    rows, cols = _grid(grid)
    s = g.t(g.ops[split_op].outputs[0])
    if not (1 <= rows <= s.shape[1] and 1 <= cols <= s.shape[2]):
        raise InputError(f"a {rows}x{cols} grid does not fit the {s.shape[1]}x{s.shape[2]} split tensor")
    plan = _geometry(g, split_op, (rows, cols))
    _finish(g, plan, _layer_arena(g, layer_plan))
    return plan


def search_patches(g: Graph, max_mac_overhead: float = 0.20, grids=DEFAULT_GRIDS,
                   layer_plan: MemoryPlan | None = None) -> PatchPlan | None:
    """The split op and grid with the smallest arena whose MAC overhead is within the cap, or None when nothing
    beats layer by layer. Candidates are ranked by their live-bytes lower bound (cheap) and planned in that
    order until the bound alone cannot beat the best plan found."""
    layer_arena = _layer_arena(g, layer_plan)
    in_place: dict[int, dict[str, int]] = {}
    candidates = []
    for k in legal_splits(g):
        s = g.t(g.ops[k].outputs[0])
        for n in grids:
            rows, cols = _grid(n)
            if rows > s.shape[1] or cols > s.shape[2] or rows * cols < 2:
                continue
            geo = _geometry(g, k, (rows, cols))
            if geo.mac_overhead > max_mac_overhead + 1e-12:
                continue
            o = split_offset(g, geo)
            bound = min(memory.lower_bound(records) for chosen in ({}, _in_place(g, k, in_place))
                        for records in [patched_records(g, geo, chosen)[0],
                                        *([overlap_records(g, geo, o, chosen)[0]] if o is not None else [])])
            if bound < layer_arena:
                candidates.append((bound, geo.mac_overhead, rows * cols, k, geo))
    candidates.sort(key=lambda c: c[:4])
    best: PatchPlan | None = None
    for bound, overhead, _, _, geo in candidates:
        if best is not None and (bound > best.arena_bytes
                                 or (bound == best.arena_bytes and overhead >= best.mac_overhead)):
            continue
        _finish(g, geo, layer_arena, in_place[geo.split_op[0]])
        plan = geo
        if plan.arena_bytes >= layer_arena:
            continue
        if best is None or (plan.arena_bytes, plan.mac_overhead) < (best.arena_bytes, best.mac_overhead):
            best = plan
    return best


def apply_patches(g: Graph, plan: PatchPlan) -> tuple[Graph, MemoryPlan]:
    """The memory plan of the patched schedule, and the graph with its stage ops marked attrs["patch"] (tensors
    keep their full shapes; see the module doc)."""
    mem = _finish(g, plan, plan.layer_arena_bytes)
    return marked(g, plan.split_op[0], plan.grid), mem


def traced_tensors(g: Graph, plan: MemoryPlan) -> list[str]:
    """The tensors the EDGEC_TRACE build dumps, in order (stage-internal tensors are never whole)."""
    patch: PatchPlan | None = plan.patch
    internal = set(patch.buffer_shapes) if patch is not None else set()
    return [o for op in g.ops for o in op.outputs if o not in internal]
