"""`verify()`: the invariants of the IR (ir.py) that every stage relies on, checked after each stage.

Among them, every op's type is a registered operator, so the verifier reads the registry of ops/ and sits above
it; ir.py, which the operators build on, imports no operator.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError
from .ir import DTYPES, Graph
from .ops import REGISTRY


class IRError(Exception):
    """The graph breaks an IR invariant: a bug in an importer or a pass, not a user error."""


def verify(g: Graph) -> Graph:
    """Check the invariants every stage relies on; returns the graph so stages can chain it."""
    problems = []
    defined = set(g.inputs) | {n for n, t in g.tensors.items() if t.is_const or t.state}
    for name in g.inputs + g.outputs:
        if name not in g.tensors:
            problems.append(f"graph input/output {name} has no tensor")
    for name, t in g.tensors.items():
        if t.name != name:
            problems.append(f"tensor key {name} != name {t.name}")
        if t.dtype not in DTYPES:
            problems.append(f"tensor {name} has unknown dtype {t.dtype}")
        elif t.dtype == "float16" and "training" not in g.meta:  # fp16 gradients of a training step only
            problems.append(f"tensor {name} has dtype float16, which edgec supports for training gradients only")
        if any((not isinstance(d, int)) or d < 0 for d in t.shape):
            problems.append(f"tensor {name} has a non-static shape {t.shape}")
        if t.data is not None and tuple(t.data.shape) != tuple(t.shape):
            problems.append(f"constant {name}: data shape {t.data.shape} != {t.shape}")
        if t.dtype == "int4" and (t.data is None or t.data.dtype != np.int8 or (t.data.size and not (
                -8 <= int(t.data.min()) and int(t.data.max()) <= 7))):
            problems.append(f"int4 tensor {name}: not a constant of int8-held values in [-8, 7] (ir.py)")
        if t.state and (t.data is not None or name in g.inputs or name in g.outputs):
            problems.append(f"state tensor {name}: holds data or is a graph input/output (ir.py)")
        if t.quant is not None and t.quant.scale.shape != t.quant.zero_point.shape:
            problems.append(f"tensor {name}: scale and zero point lengths differ")
    named: set[str] = set()
    for op in g.ops:
        if op.name in named:  # the C names an op's scratch and records after it: two ops would share them
            problems.append(f"op name {op.name} is used twice")
        named.add(op.name)
        if op.type not in REGISTRY:
            problems.append(f"op {op.name}: unknown IR op type {op.type}")
        for i in op.inputs:
            if i is None:
                continue
            if i not in g.tensors:
                problems.append(f"op {op.name}: input {i} has no tensor")
            elif i not in defined:
                problems.append(f"op {op.name}: input {i} is used before it is produced")
        for o in op.outputs:
            if o not in g.tensors:
                problems.append(f"op {op.name}: output {o} has no tensor")
            elif o in defined:
                problems.append(f"op {op.name}: output {o} is produced twice")
            defined.add(o)
    for o in g.outputs:
        if o not in defined:
            problems.append(f"graph output {o} is never produced")
    if problems:
        raise IRError(f"IR of {g.name} is invalid:\n  " + "\n  ".join(problems))
    check_finite_constants(g)
    return g


def check_finite_constants(g: Graph) -> None:
    """Every float constant is finite: a NaN or infinite weight or bias is bad input (exit 2), whichever importer
    read it. It would make the float model's outputs NaN/inf, and quantizing it gives garbage scales."""
    bad = []
    for name, t in g.tensors.items():
        if t.data is not None and np.issubdtype(t.data.dtype, np.floating):
            finite = np.isfinite(t.data)
            if not finite.all():
                first = t.data.reshape(-1)[int(np.argmin(finite.reshape(-1)))].item()
                bad.append(f"constant {name}: {int((~finite).sum())} of {t.data.size} values are not finite "
                           f"(e.g. {first!r}); every float constant must be finite")
    if bad:
        raise InputError(f"the model {g.name} holds non-finite constants:\n  " + "\n  ".join(bad))
