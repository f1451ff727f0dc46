"""The receptive-field maths of patch-based inference (toolchain/patch.py), checked against brute force, and the
search's promise: never worse than layer by layer, always within the MAC cap."""

from __future__ import annotations

import itertools
from dataclasses import replace

import numpy as np
import pytest

from edgec import memory, patch, patch_emit
from edgec.ir import Graph, Op, Quant, Tensor
from edgec.ops import REGISTRY
from edgec.ops.window import out_size, pad_before
from edgec.verifier import verify


def brute_force_rows(out_start, out_len, in_size, k, stride, pad, dilation):
    """Every input row some output row in the range reads (taps inside the input only)."""
    rows = {y * stride - pad + j * dilation for y in range(out_start, out_start + out_len) for j in range(k)}
    rows = sorted(r for r in rows if 0 <= r < in_size)
    return (rows[0], rows[-1] - rows[0] + 1) if rows else (0, 0)


@pytest.mark.parametrize("k,stride,dilation,padding", [
    (k, s, d, p) for k, s, d, p in itertools.product((1, 3, 5, 7), (1, 2), (1, 2), ("SAME", "VALID"))])
def test_input_span_matches_brute_force(k, stride, dilation, padding):
    for in_size in (7, 16, 23):
        out = out_size(padding, in_size, k, stride, dilation)
        if out <= 0:
            continue
        pad = pad_before(in_size, out, k, stride, dilation)
        for start in range(out):
            for length in range(1, out - start + 1):
                assert patch.input_span(start, length, in_size, k, stride, pad, dilation) == \
                    brute_force_rows(start, length, in_size, k, stride, pad, dilation), (in_size, start, length)


def test_split_1d_covers_evenly():
    for size in range(1, 30):
        for parts in range(1, min(size, 8) + 1):
            pieces = patch.split_1d(size, parts)
            assert sum(n for _, n in pieces) == size and pieces[0][0] == 0
            assert all(a + n == b for (a, n), (b, _) in zip(pieces, pieces[1:]))
            assert max(n for _, n in pieces) - min(n for _, n in pieces) <= 1


def test_union_and_contains():
    assert patch.union(None, (1, 2, 3, 4)) == (1, 2, 3, 4)
    assert patch.union((0, 0, 2, 2), (3, 1, 1, 4)) == (0, 0, 4, 5)
    assert patch.union((0, 0, 0, 0), (3, 1, 1, 4)) == (3, 1, 1, 4)
    assert patch.contains((0, 0, 5, 5), (1, 1, 4, 4)) and not patch.contains((0, 0, 5, 5), (1, 1, 5, 4))


# ---- a small graph built directly in the IR -------------------------------------------------------------------

def _q(scale=0.05, zp=0):
    return Quant(np.array([scale], np.float32), np.array([zp], np.int64))


def chain(h=32, w=32, layers=(("conv", 8, 3, 2), ("dw", 0, 3, 1), ("conv", 16, 1, 1), ("dw", 0, 3, 2),
                              ("conv", 16, 1, 1), ("pool", 0, 2, 2))) -> Graph:
    """A MobileNet-like int8 chain (SAME padding) with deterministic weights."""
    rng = np.random.default_rng(0)
    tensors = {"x": Tensor("x", (1, h, w, 3), "int8", _q())}
    ops, cur, shape = [], "x", (1, h, w, 3)
    for n, (kind, cout, k, s) in enumerate(layers):
        oh, ow = -(-shape[1] // s), -(-shape[2] // s)
        cin = shape[3]
        y = f"t{n}"
        if kind == "pool":
            tensors[y] = Tensor(y, (1, oh, ow, cin), "int8", _q())
            ops.append(Op("avg_pool2d", f"pool_{n}", [cur], [y], dict(padding="SAME", stride_h=s, stride_w=s,
                                                                         filter_h=k, filter_w=k)))
        else:
            cout = cin if kind == "dw" else cout
            wshape = (1, k, k, cout) if kind == "dw" else (cout, k, k, cin)
            wq = Quant(np.full(cout, 0.01, np.float32), np.zeros(cout, np.int64), 3 if kind == "dw" else 0)
            tensors[f"w{n}"] = Tensor(f"w{n}", wshape, "int8", wq, rng.integers(-127, 128, wshape, dtype=np.int8))
            tensors[y] = Tensor(y, (1, oh, ow, cout), "int8", _q(0.1))
            attrs = dict(padding="SAME", stride_h=s, stride_w=s, activation="RELU")
            if kind == "dw":
                attrs["depth_multiplier"] = 1
            ops.append(Op("depthwise_conv2d" if kind == "dw" else "conv2d", f"op_{n}", [cur, f"w{n}"], [y], attrs))
        cur, shape = y, tensors[y].shape
    g = verify(Graph("chain", tensors, ops, ["x"], [cur]))
    for op in g.ops:
        REGISTRY[op.type].prepare(op, g)
    return g


def test_windows_cover_receptive_fields_and_tiles():
    g = chain()
    for k in patch.legal_splits(g):
        for grid in (2, 3, (2, 4)):
            geo = patch._geometry(g, k, patch._grid(grid))
            split = g.t(geo.split_tensor)
            covered = np.zeros(split.shape[1:3], int)
            for r in geo.computed[k]:
                covered[r[0]:r[0] + r[2], r[1]:r[1] + r[3]] += 1
            assert (covered == 1).all(), "the tiles partition the split tensor"
            for step in range(k + 1):
                patch_emit.region_rows(g, geo, step)  # raises if a computed region reads outside its window
            assert geo.mac_overhead >= 0


def test_brute_force_dependencies_of_one_patch():
    """Mark the split tile, walk back pixel by pixel through every layer: the windows are exactly that."""
    g = chain()
    k = 3
    geo = patch._geometry(g, k, (3, 3))
    for p in range(9):
        need = {geo.split_tensor: set()}
        y0, x0, h, w = geo.computed[k][p]
        need[geo.split_tensor] = {(y, x) for y in range(y0, y0 + h) for x in range(x0, x0 + w)}
        for op in reversed(g.ops[:k + 1]):
            kh, kw, sh, sw, pt, pl, dh, dw = patch.window_geometry(op, g)
            xin = g.t(op.inputs[0])
            pixels = {(y * sh - pt + i * dh, x * sw - pl + j * dw) for y, x in need[op.outputs[0]]
                      for i in range(kh) for j in range(kw)}
            need[op.inputs[0]] = {(a, b) for a, b in pixels if 0 <= a < xin.shape[1] and 0 <= b < xin.shape[2]}
        for t, pix in need.items():
            if t in geo.buffer_shapes:
                ys, xs = [a for a, _ in pix], [b for _, b in pix]
                box = (min(ys), min(xs), max(ys) - min(ys) + 1, max(xs) - min(xs) + 1)
                assert geo.windows[t][p] == box, (t, p)


def test_records_extend_stage_inputs_and_split():
    g = chain()
    plan = patch.plan_patches(g, 3, 2)
    records, owner, _ = patch.patched_records(g, plan)
    by = {b.name: b for b in records}
    assert by["x"].first_use == 0 and by["x"].last_use >= 3  # read by every patch
    assert by[plan.split_tensor].first_use == 0  # written by every patch
    for t, shape in plan.buffer_shapes.items():
        assert by[owner[t]].size == int(np.prod(shape)) < g.t(t).nbytes


def test_search_never_worse_and_within_cap():
    g = chain(48, 48)
    layer = memory.plan_memory(g)
    for cap in (0.0, 0.05, 0.2, 1.0, 10.0):
        plan = patch.search_patches(g, max_mac_overhead=cap, layer_plan=layer)
        if plan is None:
            continue
        assert plan.arena_bytes < layer.arena_bytes and plan.mac_overhead <= cap
        assert plan.layer_arena_bytes == layer.arena_bytes
        _, mem = patch.apply_patches(g, plan)
        memory.check_plan(mem.buffers, mem.arena_bytes)
        assert mem.arena_bytes == plan.arena_bytes and mem.patch is plan
        # every candidate within the cap was considered: none has a smaller arena
        for k in patch.legal_splits(g):
            for n in range(2, 9):
                if n > g.t(g.ops[k].outputs[0]).shape[1]:
                    continue
                other = patch.plan_patches(g, k, n, layer_plan=layer)
                if other.mac_overhead <= cap:
                    assert other.arena_bytes >= plan.arena_bytes, (k, n)
    assert patch.search_patches(g, max_mac_overhead=0.0, layer_plan=layer) is None  # halos always cost MACs
    big = patch.search_patches(g, max_mac_overhead=10.0, layer_plan=layer)
    assert big is not None and big.arena_bytes < layer.arena_bytes


def test_illegal_splits_are_refused():
    g = chain()
    from edgec.errors import InputError
    with pytest.raises(InputError):
        patch.plan_patches(g, 0, 2)  # a one-op stage saves nothing
    with pytest.raises(InputError):
        patch.plan_patches(g, 3, 50)  # more patches than rows



# ---- the split tensor over the input bytes no later patch reads ------------------------------------------------

def _placed_at(g, plan, o):
    """A memory plan holding only the stage input and the split tensor, o bytes apart (for check_overlap)."""
    x, s = plan.stage_input, plan.split_tensor
    n_in, n_s = g.t(x).nbytes, g.t(s).nbytes
    bufs = [memory.Buffer(x, n_in, 0, 0, offset=max(0, -o)), memory.Buffer(s, n_s, 1, 1, offset=max(0, o))]
    return memory.MemoryPlan(buffers=bufs, arena_bytes=max(n_in - min(0, o), o + n_s), owner={x: x, s: s},
                             live_bytes=[])


@pytest.mark.parametrize("k,grid", [(1, 2), (2, 4), (3, 3), (3, (4, 2)), (4, (2, 3)), (3, (5, 1))])
def test_split_offset_is_the_tightest_safe_one(k, grid):
    """Every offset whose shared union would be smaller than split_offset's fails the byte-level simulation of
    the patch loop (check_overlap), and split_offset's own passes: the offset search and the checker agree."""
    g = chain(48, 40)
    geo = patch._geometry(g, k, patch._grid(grid))
    o = patch.split_offset(g, geo)
    n_in, n_s = g.t(geo.stage_input).nbytes, g.t(geo.split_tensor).nbytes
    assert o is not None and o % memory.ALIGNMENT == 0

    def union(off):
        return max(n_in, off + n_s) - min(0, off)

    assert union(o) < n_in + n_s
    patch.check_overlap(g, geo, _placed_at(g, geo, o), o)
    for other in range(-n_s, n_in + 1, memory.ALIGNMENT):
        if union(other) < union(o):
            with pytest.raises(memory.PlanError, match="after the split tensor overwrote it"):
                patch.check_overlap(g, geo, _placed_at(g, geo, other), other)


def test_overlapped_plans_are_checked_and_never_worse():
    """apply_patches uses the shared bytes only where the arena drops; the plan's records stay one tensor's
    buffer each (fillers for the rest of the shared span) and pass memory.check_plan; the input and the split
    tensor sit split_offset bytes apart, and the stage's live bytes count the union once."""
    g = chain(48, 40)
    layer = memory.plan_memory(g)
    used = 0
    for k in patch.legal_splits(g):
        for grid in (2, 3, (4, 2)):
            geo = patch._geometry(g, k, patch._grid(grid))
            separate = patch._plan_records(g, geo, {}).arena_bytes
            _, mem = patch.apply_patches(g, geo)
            memory.check_plan(mem.buffers, mem.arena_bytes)
            assert mem.arena_bytes <= separate
            if geo.split_offset is None:
                continue
            used += 1
            assert mem.offset(geo.split_tensor) - mem.offset(geo.stage_input) == geo.split_offset
            patch.check_overlap(g, geo, mem, geo.split_offset)
            n_in, n_s = g.t(geo.stage_input).nbytes, g.t(geo.split_tensor).nbytes
            union = max(n_in, geo.split_offset + n_s) - min(0, geo.split_offset)
            by = {b.name: b for b in mem.buffers}
            shared = [b for b in mem.buffers if b.name.startswith(f"{mem.owner[geo.split_tensor]}#stage")]
            assert by[mem.owner[geo.stage_input]].size + sum(b.size for b in shared) == union
            assert by[mem.owner[geo.split_tensor]].first_use == k + 1  # the union stands for it in the stage
            assert geo.as_dict()["split_offset"] == geo.split_offset
    assert used >= 3, "the overlap never lowered an arena: the test proves nothing"
    plan = patch.search_patches(g, max_mac_overhead=1.0, layer_plan=layer)
    assert plan is not None and plan.arena_bytes < layer.arena_bytes


def test_no_overlap_when_the_input_is_read_after_the_stage():
    """A stage input that a later op reads (here: a graph output too) keeps its bytes."""
    g = chain(32, 32)
    geo = patch._geometry(g, 3, (2, 2))
    assert patch.split_offset(g, geo) is not None
    g2 = Graph(name=g.name, tensors=g.tensors, ops=g.ops, inputs=g.inputs, outputs=[*g.outputs, "x"], meta=g.meta)
    assert patch.split_offset(g2, patch._geometry(g2, 3, (2, 2))) is None

# ---- an elementwise op ending the stage ---------------------------------------------------------------------------

def residual_chain(h=24, w=20) -> Graph:
    """A stride-2 stem block, then an inverted residual block (1x1 expand, 3x3 depthwise, 1x1 project) whose output
    is added to its input (t2 + t5), a relu, and a 3x3 conv: the MobileNetV2 pattern."""
    g = chain(h, w, (("conv", 16, 3, 1), ("dw", 0, 3, 2), ("conv", 8, 1, 1), ("conv", 16, 1, 1), ("dw", 0, 3, 1),
                     ("conv", 8, 1, 1), ("conv", 8, 3, 1)))
    last = g.ops[-1]
    tensors = dict(g.tensors)
    tensors["sum"] = Tensor("sum", tensors["t5"].shape, "int8", _q(0.15, 3))
    tensors["act"] = Tensor("act", tensors["t5"].shape, "int8", _q(0.1, -128))
    ops = [*g.ops[:6], Op("add", "add_6", ["t2", "t5"], ["sum"], dict(activation="NONE")),
           Op("relu", "relu_7", ["sum"], ["act"], {}), replace(last, inputs=["act", *last.inputs[1:]])]
    g = verify(Graph("residual", tensors, ops, ["x"], [last.outputs[0]]))
    for op in g.ops:
        REGISTRY[op.type].prepare(op, g)
    return g


def test_elementwise_ops_end_a_stage():
    g = residual_chain()
    # the skip tensor t2 is read by the ADD: the block's ops before it cannot end a stage
    assert patch.legal_splits(g) == [1, 2, 6, 7, 8]


@pytest.mark.parametrize("k", [6, 7])
@pytest.mark.parametrize("grid", [2, 3, (2, 3), (4, 1)])
def test_row_runs_assemble_the_split_tensor(k, grid):
    """Emulate the row-by-row C call in numpy: cut each input's window buffer out of the full tensor, read h rows
    of w*C elements at the run offsets, write them at the tile's offset + row * W*C. Every element of the split
    tensor must come from the same pixel of every input (an elementwise op), each written once."""
    g = residual_chain()
    geo = patch._geometry(g, k, patch._grid(grid))
    op = g.ops[k]
    y = g.t(op.outputs[0])
    n_, hh, ww, c = y.shape
    # a "full tensor" whose elements are their own flat indices: a copied element names the pixel it came from
    pixel = np.arange(hh * ww * c).reshape(hh, ww, c)
    written = np.full(hh * ww * c, -1)
    for p, (rows, width, ins, out) in enumerate(patch_emit.row_runs(g, geo, k)):
        assert (rows, width) == geo.computed[k][p][2:]
        for i, (start, stride) in zip(dict.fromkeys(patch.activation_inputs(op, g)), ins):
            y0, x0, h, w = geo.windows[i][p]
            buf = pixel[y0:y0 + h, x0:x0 + w].reshape(-1)  # the window buffer of input i
            for r in range(rows):
                got = buf[start + r * stride:start + r * stride + width * c]
                target = slice(out + r * ww * c, out + r * ww * c + width * c)
                assert np.array_equal(got, np.arange(hh * ww * c)[target]), (p, i, r)
                assert (written[target] == -1).all() or np.array_equal(written[target], got)
        for r in range(rows):
            written[out + r * ww * c:out + r * ww * c + width * c] = 1
    assert (written == 1).all(), "the tiles cover the split tensor"


def test_elementwise_end_counts_its_tile_only():
    """The last op computes exactly its tile: its MACs over all patches equal the whole layer's."""
    g = residual_chain()
    for k in (6, 7):
        geo = patch._geometry(g, k, (3, 3))
        assert sum(r[2] * r[3] for r in geo.computed[k]) == g.t(g.ops[k].outputs[0]).shape[1] * \
            g.t(g.ops[k].outputs[0]).shape[2]
        assert geo.split_tensor not in geo.buffer_shapes
        assert all(geo.windows[geo.split_tensor][p] == (0, 0, 12, 10) for p in range(9))
    # the relu ending the stage reads its tile of `sum`, not the whole tensor
    geo = patch._geometry(g, 7, (3, 3))
    assert geo.buffer_shapes["sum"][1] * geo.buffer_shapes["sum"][2] < 12 * 10


def test_search_with_elementwise_ends_never_worse():
    g = residual_chain(48, 40)
    layer = memory.plan_memory(g)
    for cap in (0.1, 0.3, 1.0):
        plan = patch.search_patches(g, max_mac_overhead=cap, layer_plan=layer)
        if plan is not None:
            assert plan.arena_bytes < layer.arena_bytes and plan.mac_overhead <= cap
            _, mem = patch.apply_patches(g, plan)
            memory.check_plan(mem.buffers, mem.arena_bytes)
    # a generous cap reaches past the residual block: the residual ADD ends the stage
    deep = patch.search_patches(g, max_mac_overhead=1.0, layer_plan=layer)
    assert deep is not None and g.ops[deep.split_op[0]].type == "add"
