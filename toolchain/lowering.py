"""Float-graph rewrites the quantizer applies before calibration (docs/quantization.md, "Layer norm" and "Mixed
precision"): what has no int8 kernel of its own becomes TFLite ops that have one, and the ops a user keeps float
are fenced by DEQUANTIZE / QUANTIZE.

lower_layer_norms: a float32 LAYER_NORM over the trailing dims from `axis` (n values per row) becomes the chain the
TFLite converter writes for a Keras LayerNormalization, each op a TFLite builtin TFLite Micro runs in int8 and in
float32:
    m   = MEAN(x, axes, keep_dims)              per-row mean
    d   = SUB(x, m)                             x - mean (broadcast over the row)
    s   = SQUARED_DIFFERENCE(x, m)              (x - mean)^2
    v   = MEAN(s, axes, keep_dims)              the (biased) variance
    ve  = ADD(v, epsilon)                       a constant [1]
    r   = RSQRT(ve)                             1 / sqrt(var + eps)
    n   = MUL(d, r)                             normalized row
    g   = MUL(n, gamma)                         gamma [n] broadcast
    y   = ADD(g, beta)                          beta [n] (left out when the model has none)
In float32 this is the same maths as edgec's fused layer-norm kernel (two passes, no E[x^2] - mean^2
cancellation) up to rounding; quantized, every tensor of the chain gets its own calibrated int8 scale, so the
variance and its reciprocal square root are each carried on 256 levels. The optional mean and 1/stddev outputs
(ONNX's Mean, InvStdDev) are m and r.

narrow_slices: TFLite Micro's STRIDED_SLICE takes at most 4 dimensions (its Prepare fails on a 5-D input), and an
ONNX Gather on a ViT's [3, B, heads, tokens, d] QKV tensor is a 5-D slice. A slice of more than 4 dimensions is
rewritten as RESHAPE (the unit dimensions dropped) -> SLICE -> RESHAPE (back): the same bytes in the same order, a
reshape being an alias (no C, no copy), so only the exported .tflite changes shape.

keep_float: the ops of the given IR types (or names) stay float32 in a quantized model. Every integer tensor one
of them reads is converted by a DEQUANTIZE, and every tensor it writes that an integer op (or the graph output)
reads is converted back by a QUANTIZE carrying the tensor's calibrated range. An op made by a lowering counts as
its source op (`lowered_from`), so `layer_norm` keeps the whole chain float.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .errors import InputError
from .ir import Graph, Op, Tensor

#: op attribute: the IR type of the op a lowering made this op from
LOWERED_FROM = "lowered_from"
#: op attribute (quantizer-internal, removed once the model is quantized): the op stays float32
KEEP_FLOAT = "keep_float"


def lower_layer_norms(g: Graph) -> list[str]:
    """Rewrite every float32 layer_norm of `g` into TFLite's chain (module docstring); the names of the ops
    lowered."""
    lowered = []
    for op in list(g.ops):
        if op.type != "layer_norm" or g.t(op.inputs[0]).dtype != "float32":
            continue
        chain = _layer_norm_chain(g, op)
        at = g.ops.index(op)
        g.ops[at:at + 1] = chain
        lowered.append(op.name)
    return lowered


def _layer_norm_chain(g: Graph, op: Op) -> list[Op]:
    x = g.t(op.inputs[0])
    rank = len(x.shape)
    axis = int(op.attrs["axis"]) % max(rank, 1)
    axes = list(range(axis, rank))
    row = tuple(d if k < axis else 1 for k, d in enumerate(x.shape))
    label = op.attrs.get("label", op.name)
    extra = list(op.outputs[1:3]) + [None, None]
    name = op.name

    def tensor(suffix: str, shape: tuple[int, ...], given: str | None = None) -> str:
        if given is not None:
            return given
        t = f"{name}/{suffix}"
        g.tensors[t] = Tensor(name=t, shape=shape, dtype="float32")
        return t

    def const(suffix: str, data: np.ndarray) -> str:
        t = f"{name}/{suffix}"
        g.tensors[t] = Tensor(name=t, shape=tuple(data.shape), dtype="float32", data=data.astype(np.float32))
        return t

    def node(kind: str, suffix: str, inputs: list[str], output: str, **attrs) -> Op:
        return Op(type=kind, name=f"{name}/{suffix}", inputs=list(inputs), outputs=[output],
                  attrs=dict(label=f"{label} (lowered: {suffix})", **{LOWERED_FROM: "layer_norm"}, **attrs))

    n_shape = tuple(x.shape[axis:])
    gamma = g.t(op.inputs[1])
    beta = g.t(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] is not None else None
    assert gamma.data is not None
    gamma_c = const("gamma", gamma.data.reshape(n_shape))
    m = tensor("mean", row, extra[0])
    d = tensor("centered", tuple(x.shape))
    s = tensor("squared", tuple(x.shape))
    v = tensor("variance", row)
    ve = tensor("variance_eps", row)
    r = tensor("rsqrt", row, extra[1])
    nrm = tensor("normalized", tuple(x.shape))
    y = op.outputs[0]
    scaled = tensor("scaled", tuple(x.shape)) if beta is not None else y
    eps = const("epsilon", np.asarray([float(np.float32(op.attrs["epsilon"]))]))
    chain = [
        node("mean", "mean", [x.name], m, axes=axes, keep_dims=True),
        node("sub", "center", [x.name, m], d, activation="NONE"),
        node("squared_difference", "square", [x.name, m], s),
        node("mean", "variance", [s], v, axes=axes, keep_dims=True),
        node("add", "add_eps", [v, eps], ve, activation="NONE"),
        node("rsqrt", "rsqrt", [ve], r),
        node("mul", "normalize", [d, r], nrm, activation="NONE"),
        node("mul", "scale", [nrm, gamma_c], scaled, activation="NONE"),
    ]
    if beta is not None:
        assert beta.data is not None
        chain.append(node("add", "shift", [scaled, const("beta", beta.data.reshape(n_shape))], y, activation="NONE"))
    return chain


TFLM_SLICE_RANK = 4  # TFLite Micro's STRIDED_SLICE: at most 4 dimensions


def narrow_slices(g: Graph) -> list[str]:
    """Rewrite every slice of more than TFLM_SLICE_RANK dimensions whose unit dimensions, dropped, leave at most
    that many into RESHAPE -> SLICE -> RESHAPE (module docstring); the names of the slices rewritten."""
    done = []
    for op in list(g.ops):
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        if op.type != "slice" or len(x.shape) <= TFLM_SLICE_RANK:
            continue
        keep = [d for d, n in enumerate(x.shape) if n != 1]
        if len(keep) > TFLM_SLICE_RANK or not keep:
            continue
        inner_in, inner_out = f"{op.name}/narrow_in", f"{op.name}/narrow_out"
        g.tensors[inner_in] = Tensor(name=inner_in, shape=tuple(x.shape[d] for d in keep), dtype=x.dtype,
                                     quant=x.quant)
        g.tensors[inner_out] = Tensor(name=inner_out, shape=tuple(y.shape[d] for d in keep), dtype=y.dtype,
                                      quant=y.quant)
        label = op.attrs.get("label", op.name)
        before = Op(type="reshape", name=f"{op.name}/narrow", inputs=[x.name], outputs=[inner_in],
                    attrs=dict(label=f"{label} (to {len(keep)} dimensions)"))
        after = Op(type="reshape", name=f"{op.name}/widen", inputs=[inner_out], outputs=[y.name],
                   attrs=dict(label=f"{label} (back to {len(x.shape)} dimensions)"))
        op.inputs[0], op.outputs[0] = inner_in, inner_out
        op.attrs["begin"] = [op.attrs["begin"][d] for d in keep]
        op.attrs["step"] = [op.attrs["step"][d] for d in keep]
        at = g.ops.index(op)
        g.ops[at:at + 1] = [before, op, after]
        done.append(op.name)
    return done


def float_op_names(g: Graph, kinds: Iterable[str], names: Iterable[str]) -> set[str]:
    """The ops kept float: those of the IR types `kinds` (an op a lowering made counts as its source's type) and
    those named; an unknown type or name is an error listing what the model has."""
    kinds, names = {k.strip().lower() for k in kinds if k.strip()}, {n for n in names if n}
    have = {op.attrs.get(LOWERED_FROM, op.type) for op in g.ops} | {op.type for op in g.ops}
    unknown = sorted(kinds - have)
    if unknown:
        raise InputError(f"--float-ops: the model has no {', '.join(unknown)} op; its op types: "
                         f"{', '.join(sorted(have))}")
    missing = sorted(names - {op.name for op in g.ops})
    if missing:
        raise InputError(f"--float-layers: {', '.join(missing)} is no layer of the model (layer names as "
                         "`edgec build --dump` shows them)")
    return {op.name for op in g.ops
            if op.name in names or op.type in kinds or op.attrs.get(LOWERED_FROM) in kinds}


def fence_float_ops(g: Graph, keep: set[str]) -> None:
    """Mark the ops in `keep` float (KEEP_FLOAT) and insert a DEQUANTIZE before every activation they read from an
    integer op (or a graph input) and a QUANTIZE after every tensor they write that an integer op or the graph
    output reads. Runs on the float graph after calibration: the QUANTIZE's output keeps the original tensor's
    name (and so its calibrated range), the float producer writes `<name>/float`."""
    if not keep:
        return
    readers: dict[str, list[Op]] = {}
    for op in g.ops:
        for i in op.inputs:
            if i is not None:
                readers.setdefault(i, []).append(op)
    for op in [o for o in g.ops if o.name in keep]:
        op.attrs[KEEP_FLOAT] = True
    # outputs of float ops that leave the float island
    for op in [o for o in g.ops if o.name in keep]:
        for k, o in enumerate(op.outputs):
            if o is None:
                continue
            leaves = o in g.outputs or any(r.name not in keep for r in readers.get(o, []))
            if not leaves:
                continue
            src = g.t(o)
            inner = f"{o}/float"
            g.tensors[inner] = Tensor(name=inner, shape=tuple(src.shape), dtype="float32")
            op.outputs[k] = inner
            for r in readers.get(o, []):
                if r.name in keep:
                    r.inputs = [inner if i == o else i for i in r.inputs]
            q = Op(type="quantize", name=f"{op.name}_quantize_{k}", inputs=[inner], outputs=[o],
                   attrs=dict(label=f"quantize the float output of {op.attrs.get('label', op.name)}"))
            g.ops.insert(g.ops.index(op) + 1, q)
    # integer activations read by float ops
    converted: dict[str, str] = {}
    for op in [o for o in g.ops if o.name in keep]:
        for k, i in enumerate(op.inputs):
            if i is None or g.t(i).is_const or i in converted.values():
                continue
            producer = next((p for p in g.ops if i in p.outputs), None)
            if producer is not None and producer.name in keep:
                continue
            if i not in converted:
                src = g.t(i)
                name = f"{i}/dequantized"
                g.tensors[name] = Tensor(name=name, shape=tuple(src.shape), dtype="float32")
                first = min(g.ops.index(r) for r in readers[i] if r.name in keep)
                g.ops.insert(first, Op(type="dequantize", name=f"{i}_dequantize", inputs=[i], outputs=[name],
                                       attrs=dict(label=f"dequantize {i} for the float ops", **{KEEP_FLOAT: True})))
                converted[i] = name
            op.inputs[k] = converted[i]
