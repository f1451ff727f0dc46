"""The ONNX importer's transformer ops: MatMul of two activations (batched), LayerNormalization, Gelu, Gather by
constant indices, Slice and Split; and the two rewrites that turn what older exporters write into them:

    ReduceMean -> Sub -> Pow(2) -> ReduceMean -> Add(eps) -> Sqrt -> Div [-> Mul(gamma)] [-> Add(beta)]
                                                                       => LayerNormalization (opset < 17 exports)
    Div(x, sqrt 2) or Mul(x, 1/sqrt 2) -> Erf -> Add(1) -> the product with x and 0.5 in any of its three
    associations ((x * p) * 0.5, (x * 0.5) * p, (0.5 * p) * x)                                  => Gelu (exact)

The rewrites run on the ONNX graph after the ONNX-level passes (constants are folded, so epsilon, gamma, beta and
the 0.5, 1 and sqrt 2 are initializers); a chain whose intermediate values are read elsewhere, or whose constants
differ, is left as it is (and its Pow/Sqrt/Erf nodes are then reported unsupported).
These ops hold their values in ONNX order (the layout identity): the trailing axes they work on are the IR's
trailing axes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from . import onnx_passes
from .onnx_graph import Node, Unsupported
from .onnx_layout import identity

#: a Gather whose constant indices are no strided progression becomes a slice per run of consecutive indices and
#: one concat of them (concat takes 10 inputs at most)
MAX_GATHER_RUNS = 10

# ---- the mappings ----------------------------------------------------------------------------------------------


def batch_matmul(n: Node, a: int = 0, b: int = 1) -> None:
    """MatMul where B is an activation, or a constant of rank > 2: the IR's batch_matmul (numpy broadcasting of
    the batch dims)."""
    if n.quantized:
        raise Unsupported("a quantized (QDQ) MatMul whose B is an activation or a batched constant is not supported "
                          "yet (edgec's int8 BATCH_MATMUL is reached from TFLite models)")
    ra, rb = len(n.shape(a)), len(n.shape(b))
    if min(ra, rb) < 2 or max(ra, rb) > 5:
        raise Unsupported(f"A of rank {ra} and B of rank {rb} (supported: ranks 2 to 5; a 1-D operand is not)")
    ro = len(n.out_shape(0))
    n.emit("batch_matmul", [n.input_ir(a, identity(ra)), n.input_ir(b, identity(rb))], n.output(0, identity(ro)),
           dict(adj_x=False, adj_y=False))


def LayerNormalization(n: Node) -> None:
    shape = n.shape(0)
    rank = len(shape)
    axis = int(n.attr("axis", -1))
    if not -rank <= axis < rank:
        raise Unsupported(f"axis {axis} for an input of rank {rank}")
    axis %= rank
    eps = float(n.attr("epsilon", 1e-5))
    n.attr("stash_type", 1)  # float32 statistics: what edgec computes in
    norm = tuple(shape[axis:])
    params = []
    for k, what in ((1, "gamma"), (2, "beta")):
        if not n.has(k):
            continue
        v = np.asarray(n.const_input(k), dtype=np.float32)
        try:
            v = np.broadcast_to(v, norm)
        except ValueError:
            raise Unsupported(f"{what} of shape {list(v.shape)} for normalized dims {list(norm)}") from None
        params.append(n.const(np.ascontiguousarray(v.reshape(-1)), (0,), None, what))
    ins: list[str | None] = [n.input_ir(0, identity(rank)), *params]
    outs = n.output(0, identity(rank))
    stats = [k for k in (1, 2) if n.has_output(k)]
    if stats == [2]:
        raise Unsupported("the InvStdDev output without the Mean output")
    for k in stats:  # Mean, InvStdDev: [d_0, ..., d_{axis-1}, 1, ..., 1]
        outs += n.output(k, identity(rank))
    n.emit("layer_norm", ins, outs, dict(axis=axis, epsilon=eps))


def Gelu(n: Node) -> None:
    approximate = n.attr("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise Unsupported(f"approximate {approximate!r} (supported: none, tanh)")
    perm = n.layout(0, unit=True)
    n.emit("gelu", [n.input_ir(0, perm)], n.output(0, perm), dict(approximate=approximate == "tanh"))


def _slice_to(n: Node, k_out: int, begin: list[int], step: list[int], sliced: tuple[int, ...]) -> None:
    """A `slice` of input 0 (ONNX order) of shape `sliced`, then a `reshape` to output k_out where the ONNX op
    drops or adds dims (Gather by a scalar index)."""
    rank = len(n.shape(0))
    x = n.input_ir(0, identity(rank))
    out_shape = n.out_shape(k_out)
    attrs: dict[str, Any] = dict(begin=[int(v) for v in begin], step=[int(v) for v in step])
    if tuple(sliced) == tuple(out_shape):
        n.emit("slice", [x], n.output(k_out, identity(len(out_shape))), attrs)
        return
    t = n.imp.tensors[x]
    mid = n.imp.new_tensor(f"{n.node.output[k_out]}__slice", sliced, t.dtype, t.quant)
    n.emit("slice", [x], [mid], attrs)
    n.emit("reshape", [mid], n.output(k_out, identity(len(out_shape))), {})


def Gather(n: Node) -> None:
    shape = n.shape(0)
    rank = len(shape)
    axis = int(n.attr("axis", 0))
    if not -rank <= axis < rank:
        raise Unsupported(f"axis {axis} for data of rank {rank}")
    axis %= rank
    if n.is_const(0) and not n.is_const(1):
        raise Unsupported("an embedding lookup (a constant table read at indices the model computes): the indices "
                          "are integers, and edgec's generated C computes float32 and int8 values only (supported: "
                          "Gather of an activation at constant indices)")
    idx = np.asarray(n.const_input(1)).astype(np.int64)
    flat = idx.reshape(-1)
    if flat.size == 0 or flat.min() < -shape[axis] or flat.max() >= shape[axis]:
        raise Unsupported(f"indices {flat.tolist()[:8]} out of range for axis {axis} of size {shape[axis]}")
    flat = np.where(flat < 0, flat + shape[axis], flat)
    step = int(flat[1] - flat[0]) if flat.size > 1 else 1
    begin, steps = [0] * rank, [1] * rank
    if step != 0 and np.all(np.diff(flat) == step):  # one strided window
        begin[axis], steps[axis] = int(flat[0]), step
        sliced = tuple(flat.size if d == axis else s for d, s in enumerate(shape))
        _slice_to(n, 0, begin, steps, sliced)
        return
    # any other indices: one slice per run of consecutive indices, concatenated along the axis
    runs = np.split(flat, np.flatnonzero(np.diff(flat) != 1) + 1)
    if len(runs) > MAX_GATHER_RUNS:
        raise Unsupported(f"indices {flat.tolist()[:8]} make {len(runs)} runs of consecutive indices (supported: at "
                          f"most {MAX_GATHER_RUNS}; a strided progression of any length)")
    x = n.input_ir(0, identity(rank))
    t = n.imp.tensors[x]
    parts: list[str | None] = []
    for run in runs:
        begin[axis] = int(run[0])
        part = n.imp.new_tensor(f"{n.node.output[0]}__run", tuple(run.size if d == axis else s
                                                                  for d, s in enumerate(shape)), t.dtype, t.quant)
        n.emit("slice", [x], [part], dict(begin=list(begin), step=list(steps)))
        parts.append(part)
    joined_shape = tuple(flat.size if d == axis else s for d, s in enumerate(shape))
    out_shape = n.out_shape(0)
    if joined_shape == tuple(out_shape):
        n.emit("concat", parts, n.output(0, identity(rank)), dict(axis=axis, activation="NONE"))
        return
    joined = n.imp.new_tensor(f"{n.node.output[0]}__joined", joined_shape, t.dtype, t.quant)
    n.emit("concat", parts, [joined], dict(axis=axis, activation="NONE"))
    n.emit("reshape", [joined], n.output(0, identity(len(out_shape))), {})  # 2-D indices: their dims


def Slice(n: Node) -> None:
    shape = n.shape(0)
    rank = len(shape)
    starts = [int(v) for v in n.const_input(1).reshape(-1)]
    ends = [int(v) for v in n.const_input(2).reshape(-1)]
    axes = [int(v) for v in n.const_input(3).reshape(-1)] if n.has(3) else list(range(len(starts)))
    steps = [int(v) for v in n.const_input(4).reshape(-1)] if n.has(4) else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps) or any(not -rank <= a < rank for a in axes):
        raise Unsupported(f"starts {starts}, ends {ends}, axes {axes}, steps {steps} for an input of rank {rank}")
    begin, step, sliced = [0] * rank, [1] * rank, list(shape)
    for s, e, a, st in zip(starts, ends, axes, steps):
        if st == 0:
            raise Unsupported("a step of 0")
        r = range(*slice(s, e, st).indices(shape[a % rank]))
        if len(r) == 0:
            raise Unsupported(f"an empty slice of axis {a} (starts {s}, ends {e}, steps {st})")
        begin[a % rank], step[a % rank], sliced[a % rank] = r.start, r.step, len(r)
    _slice_to(n, 0, begin, step, tuple(sliced))


def Split(n: Node) -> None:
    shape = n.shape(0)
    rank = len(shape)
    axis = int(n.attr("axis", 0)) % max(rank, 1)
    n.attr("num_outputs")  # opset 18: the output shapes say it
    if n.has(1):
        n.const_input(1)  # the sizes: shape inference gave every output its own
    start = 0
    for k in range(len(n.node.output)):
        size = n.out_shape(k)[axis]
        begin = [start if d == axis else 0 for d in range(rank)]
        if n.node.output[k] and size > 0:
            _slice_to(n, k, begin, [1] * rank, tuple(size if d == axis else s for d, s in enumerate(shape)))
        start += size


# ---- the rewrites of older exports --------------------------------------------------------------------------


class _View:
    """Producers, readers and constants of one ONNX graph, for matching chains of nodes."""

    def __init__(self, model: onnx.ModelProto):
        self.consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        self.producer = {o: nd for nd in model.graph.node for o in nd.output}
        self.readers: dict[str, list[onnx.NodeProto]] = {}
        for nd in model.graph.node:
            for i in nd.input:
                self.readers.setdefault(i, []).append(nd)
        self.outputs = {o.name for o in model.graph.output}

    def node(self, value: str, op_type: str) -> onnx.NodeProto | None:
        nd = self.producer.get(value)
        return nd if nd is not None and nd.op_type == op_type and nd.domain in ("", "ai.onnx") else None

    def only_reader(self, value: str, op_type: str) -> onnx.NodeProto | None:
        rs = self.readers.get(value, [])
        if len(rs) != 1 or value in self.outputs or rs[0].op_type != op_type:
            return None
        return rs[0]

    def scalar(self, value: str) -> float | None:
        c = self.consts.get(value)
        return float(c.reshape(-1)[0]) if c is not None and c.size == 1 and c.dtype.kind == "f" else None

    def other(self, nd: onnx.NodeProto, value: str) -> str | None:
        """The other input of a two-input node one of whose inputs is `value`."""
        if len(nd.input) != 2 or value not in nd.input:
            return None
        return nd.input[1] if nd.input[0] == value else nd.input[0]


def _reduce_axes(v: _View, nd: onnx.NodeProto, rank: int) -> list[int] | None:
    """The axes of a ReduceMean that keeps its dims (attribute or, opset 18, constant input)."""
    if not onnx_passes._attr(nd, "keepdims", 1):
        return None
    axes = onnx_passes._attr(nd, "axes", None)
    if axes is None and len(nd.input) > 1 and nd.input[1] in v.consts:
        axes = v.consts[nd.input[1]].reshape(-1).tolist()
    return None if axes is None or rank == 0 else sorted(int(a) % rank for a in axes)


def _fuse_layer_norm(model: onnx.ModelProto, v: _View, shapes: dict) -> list[tuple[list, onnx.NodeProto, list]]:
    found: list[tuple[list, onnx.NodeProto, list]] = []
    for div in model.graph.node:
        if div.op_type != "Div" or len(div.input) != 2:
            continue
        d, s = div.input
        sub, sqrt = v.node(d, "Sub"), v.node(s, "Sqrt")
        if sub is None or sqrt is None:
            continue
        x, m = sub.input
        mean, add_eps = v.node(m, "ReduceMean"), v.node(sqrt.input[0], "Add")
        if mean is None or add_eps is None or mean.input[0] != x:
            continue
        rank = len(shapes.get(x, ()))
        axes = _reduce_axes(v, mean, rank)
        if not axes or axes != list(range(axes[0], rank)):
            continue
        var_name = next((i for i in add_eps.input if i not in v.consts), None)
        eps = v.scalar(v.other(add_eps, var_name) or "") if var_name else None
        var = v.node(var_name, "ReduceMean") if var_name else None
        if eps is None or var is None or _reduce_axes(v, var, rank) != axes:
            continue
        sq = v.node(var.input[0], "Pow")
        if sq is None or sq.input[0] != d or v.scalar(sq.input[1]) != 2.0:
            continue
        chain = [mean, sub, sq, var, add_eps, sqrt, div]
        inner = {m: [sub], var.input[0]: [var], var_name: [add_eps], sqrt.input[0]: [sqrt], s: [div]}
        if any([nd.output[0] for nd in v.readers.get(k, [])] != [nd.output[0] for nd in r] or k in v.outputs
               for k, r in inner.items()):
            continue
        if sorted(r.output[0] for r in v.readers.get(d, [])) != sorted([sq.output[0], div.output[0]]) or (
                d in v.outputs):
            continue
        out, gamma, beta = div.output[0], None, None
        mul = v.only_reader(out, "Mul")
        if mul is not None and v.other(mul, out) in v.consts:
            gamma, out = v.other(mul, out), mul.output[0]
            chain.append(mul)
            add = v.only_reader(out, "Add")
            if add is not None and v.other(add, out) in v.consts:
                beta, out = v.other(add, out), add.output[0]
                chain.append(add)
        norm = tuple(shapes[x][axes[0]:])
        inits = []
        for what, name, fill in (("gamma", gamma, 1.0), ("beta", beta, 0.0)):
            data = np.full(norm, fill, np.float32) if name is None else v.consts[name].astype(np.float32)
            try:
                data = np.ascontiguousarray(np.broadcast_to(data, norm))
            except ValueError:
                break
            inits.append(numpy_helper.from_array(data, f"{out}__ln_{what}"))
        else:
            node = helper.make_node("LayerNormalization", [x, inits[0].name, inits[1].name], [out],
                                    name=f"{div.name or out}_layer_norm", axis=axes[0], epsilon=eps)
            found.append((chain, node, inits))
    return found


def _fuse_gelu(model: onnx.ModelProto, v: _View) -> list[tuple[list, onnx.NodeProto, list]]:
    found: list[tuple[list, onnx.NodeProto, list]] = []
    for erf in model.graph.node:
        if erf.op_type != "Erf":
            continue
        scaled = erf.input[0]
        pre = v.producer.get(scaled)
        if pre is None or len(v.readers.get(scaled, [])) != 1 or pre.op_type not in ("Div", "Mul"):
            continue
        c = v.scalar(pre.input[1])
        want = math.sqrt(2.0) if pre.op_type == "Div" else 1.0 / math.sqrt(2.0)
        if c is None or abs(c - want) > 1e-6 * want:
            continue
        x = pre.input[0]
        add = v.only_reader(erf.output[0], "Add")
        if add is None or v.scalar(v.other(add, erf.output[0]) or "") != 1.0:
            continue
        mul = v.only_reader(add.output[0], "Mul")
        if mul is None:
            continue
        partner = v.other(mul, add.output[0])
        chain = [pre, erf, add, mul]
        if partner == x:  # (x * (1 + erf)) * 0.5
            half = v.only_reader(mul.output[0], "Mul")
            if half is None or v.scalar(v.other(half, mul.output[0]) or "") != 0.5:
                continue
            chain.append(half)
            out = half.output[0]
        elif v.scalar(partner or "") == 0.5:  # (0.5 * (1 + erf)) * x  (the dynamo exporter)
            last = v.only_reader(mul.output[0], "Mul")
            if last is None or v.other(last, mul.output[0]) != x:
                continue
            chain.append(last)
            out = last.output[0]
        else:  # (x * 0.5) * (1 + erf)
            half = v.node(partner or "", "Mul")
            if (half is None or len(v.readers.get(partner or "", [])) != 1 or x not in half.input
                    or v.scalar(v.other(half, x) or "") != 0.5):
                continue
            chain.append(half)
            out = mul.output[0]
        node = helper.make_node("Gelu", [x], [out], name=f"{erf.name or out}_gelu", approximate="none")
        found.append((chain, node, []))
    return found


def fuse_patterns(model: onnx.ModelProto) -> onnx.ModelProto:
    """Rewrite the layer-norm and erf-GELU chains (module doc) into LayerNormalization and Gelu nodes."""
    if not any(nd.op_type in ("Erf", "Sqrt") for nd in model.graph.node):
        return model
    model = onnx_passes._copy(model)
    v = _View(model)
    shapes = onnx_passes.value_shapes(model)
    found = _fuse_layer_norm(model, v, shapes) + _fuse_gelu(model, v)
    removed = {nd.output[0] for chain, _, _ in found for nd in chain}
    last = {chain[-1].output[0]: node for chain, node, _ in found}
    nodes = []
    for nd in model.graph.node:
        if nd.output and nd.output[0] in last:
            nodes.append(last[nd.output[0]])  # where the chain's last node was: its inputs are all defined before
        elif not nd.output or nd.output[0] not in removed:
            nodes.append(nd)
    for _, _, inits in found:
        model.graph.initializer.extend(inits)
    onnx_passes._set_nodes(model, nodes)
    onnx_passes._drop_unused_initializers(model)
    return model
