"""Graph-to-graph passes run between import and codegen. Each is a small function Graph -> Graph."""

from __future__ import annotations

from .errors import UnsupportedError
from .ir import Graph
from .ops import REGISTRY


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
    """Compile time 'Prepare': every op computes its integer constants (multipliers, shifts, clamps) into params."""
    for op in g.ops:
        REGISTRY[op.type].run_prepare(op, g)
    return g


def canonicalize(g: Graph) -> Graph:
    return prepare(remove_dead_ops(infer_shapes(g)))
