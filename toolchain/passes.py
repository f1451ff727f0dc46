"""Graph-to-graph passes run between import and codegen. Each is a small function Graph -> Graph."""

from __future__ import annotations

import numpy as np

from .errors import UnsupportedError
from .ir import Graph
from .ops import REGISTRY
from .ops.relu import relu_builtin


def infer_shapes(g: Graph) -> Graph:
    """Check every op's stored output shape against its shape rule (a model file can lie; we must not)."""
    problems = []
    for op in g.ops:
        expected = REGISTRY[op.type].infer_shape(op, g)
        for name, shape in zip(op.outputs, expected):
            if tuple(g.t(name).shape) != tuple(shape):
                problems.append(f"{op.attrs.get('label', op.name)}: output {name} has shape {g.t(name).shape} "
                                f"but the op computes {tuple(shape)}")
    if problems:
        raise UnsupportedError(problems)
    return g


def remove_dead_ops(g: Graph) -> Graph:
    """Drop ops whose outputs nobody reads (and that are not graph outputs)."""
    needed = set(g.outputs)
    kept = []
    for op in reversed(g.ops):
        if any(o in needed for o in op.outputs):
            kept.append(op)
            needed.update(i for i in op.inputs if i is not None)
    g.ops = list(reversed(kept))
    g.tensors = {n: t for n, t in g.tensors.items() if n in needed or n in g.inputs
                 or any(n in op.outputs for op in g.ops)}
    return g


def prepare(g: Graph) -> Graph:
    """Compile time 'Prepare': every op computes its integer constants (multipliers, shifts, clamps) into params.
    A rescale the fixed-point code cannot represent (scales far out of range) is reported per op, all at once."""
    from .fixedpoint import RescaleRangeError

    problems = []
    for op in g.ops:
        try:
            with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
                REGISTRY[op.type].run_prepare(op, g)  # an inf ratio is refused by quantize_multiplier
        except RescaleRangeError as e:
            problems.append(f"{op.attrs.get('label', op.name)}: {e.message}")
    if problems:
        raise UnsupportedError(problems)
    return g


def canonicalize(g: Graph) -> Graph:
    """Check shapes, fold transposes that cancel, fuse activations into their producer, drop dead ops, prepare."""
    return prepare(remove_dead_ops(fuse_activations(fold_transposes(infer_shapes(g)))))


# ---- canonicalization of imported graphs (ONNX mostly): small rules, each a Graph -> Graph ----------------------

def fuse_activations(g: Graph) -> Graph:
    """conv/fc/add/... -> relu (RELU, RELU6 or RELU_N1_TO_1), the relu its only reader, the producer an op that
    declares `fuses_activation` (its `activation` attribute clamps its output): the clamp becomes the
    producer's `activation` attribute and the relu op goes. In float the clamp is the same maths either way; in
    int8 only when the relu's input and output quantization are equal (then the producer's output clamp in those
    units is exactly what the relu computed)."""
    from .ops.base import is_float, same_quant

    readers = g.consumers()
    producers = g.producers()
    removed: set[int] = set()
    for relu in g.ops:
        kind = relu_builtin(relu) if relu.type == "relu" else None
        src = relu.inputs[0] if relu.inputs else None
        prev = producers.get(src) if src is not None and kind is not None else None
        if prev is None or not REGISTRY[prev.type].fuses_activation:
            continue
        if prev.attrs.get("activation", "NONE") != "NONE":
            continue
        if len(readers.get(src, [])) != 1 or src in g.outputs or len(prev.outputs) != 1:  # type: ignore[arg-type]
            continue
        x, y = g.t(src), g.t(relu.outputs[0])
        if not is_float(relu, g) and not same_quant(x.quant, y.quant):
            continue
        prev.attrs["activation"] = kind
        prev.outputs[0] = relu.outputs[0]
        del g.tensors[src]  # type: ignore[arg-type]
        removed.add(id(relu))
    g.ops = [op for op in g.ops if id(op) not in removed]
    return g


def fold_transposes(g: Graph) -> Graph:
    """Layout clean-up after import: a transpose that only moves size-1 dimensions becomes a reshape (no data
    moves), and a transpose whose only reader is another transpose merges with it (an identity result goes)."""
    producers = g.producers()
    readers = g.consumers()
    removed: set[int] = set()
    rename: dict[str, str] = {}
    for op in g.ops:
        op.inputs = [rename.get(i, i) if i is not None else None for i in op.inputs]
        if op.type != "transpose":
            continue
        perm = [int(p) for p in op.attrs["perm"]]
        prev = producers.get(op.inputs[0]) if op.inputs[0] is not None else None
        if (prev is not None and prev.type == "transpose" and id(prev) not in removed
                and len(readers.get(prev.outputs[0], [])) == 1 and prev.outputs[0] not in g.outputs):
            # x.transpose(p1).transpose(p2) == x.transpose(p1[p2])
            first = [int(p) for p in prev.attrs["perm"]]
            perm = [first[p] for p in perm]
            op.inputs[0] = prev.inputs[0]
            op.attrs["perm"] = perm
            del g.tensors[prev.outputs[0]]
            removed.add(id(prev))
        x = g.t(op.inputs[0])
        moved = [p for p in perm if x.shape[p] != 1]
        if perm == sorted(perm) and op.outputs[0] not in g.outputs:
            rename[op.outputs[0]] = op.inputs[0]  # type: ignore[assignment]
            del g.tensors[op.outputs[0]]
            removed.add(id(op))
        elif moved == sorted(moved):
            op.type = "reshape"
            op.attrs = {k: v for k, v in op.attrs.items() if k != "perm"}
    g.ops = [op for op in g.ops if id(op) not in removed]
    g.outputs = [rename.get(o, o) for o in g.outputs]
    return g


def fuse_hard_swish(g: Graph) -> Graph:
    """x * HardSigmoid(x) with alpha 1/6, beta 1/2 (how PyTorch exports nn.Hardswish at opset < 14) becomes one
    hard_swish op: the same function, one op that TFLite has (HARD_SWISH), one tensor fewer to quantize.
    Float graphs only (an int8 graph keeps the quantization its author chose)."""
    producers, readers = g.producers(), g.consumers()
    removed: set[int] = set()
    for mul in g.ops:
        if mul.type != "mul" or mul.attrs.get("activation", "NONE") != "NONE" or len(mul.inputs) != 2:
            continue
        for x, s in (mul.inputs, mul.inputs[::-1]):
            sig = producers.get(s) if s is not None else None
            if (sig is None or sig.type != "hard_sigmoid" or sig.inputs[0] != x or g.t(s).dtype != "float32"
                    or abs(float(sig.attrs.get("alpha", 0.2)) - 1 / 6) > 1e-6
                    or abs(float(sig.attrs.get("beta", 0.5)) - 0.5) > 1e-6
                    or len(readers.get(s, [])) != 1 or s in g.outputs  # type: ignore[arg-type]
                    or g.t(x).shape != g.t(mul.outputs[0]).shape):
                continue
            mul.type, mul.inputs, mul.attrs = "hard_swish", [x], {k: v for k, v in mul.attrs.items()
                                                                   if k in ("label", "onnx_op")}
            del g.tensors[s]  # type: ignore[arg-type]
            removed.add(id(sig))
            break
    g.ops = [op for op in g.ops if id(op) not in removed]
    return g


def simplify(g: Graph) -> Graph:
    """Before quantization: the shapes checked (calibration runs the ops' references on them), then the fusions
    that make a float graph look like what TFLite's converter emits (fewer tensors to calibrate, ops TFLite has),
    each safe on its own."""
    return fuse_activations(fuse_hard_swish(fold_transposes(infer_shapes(g))))
