"""The one IR of edgec: tensors, ops and a graph, plus `verify()`.

Tensors are named; ops refer to tensors by name (None for an absent optional input such as a missing bias).
Shapes are static and NHWC for 4-D activations. A tensor with `data` is a constant (it goes to flash).
`Op.attrs` hold what the model file says (strides, padding, fused activation ...); `Op.params` hold what the
compiler derives from them in `prepare` (fixed-point multipliers, shifts, clamps): the C kernels only read params.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

DTYPES = {"int8": np.int8, "uint8": np.uint8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
          "float32": np.float32, "bool": np.bool_}
C_TYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t",
           "float32": "float", "bool": "uint8_t"}


@dataclass
class Quant:
    """Affine quantization: real = scale * (q - zero_point); per tensor (axis None) or per channel along `axis`."""

    scale: np.ndarray  # float32, one per channel (or one)
    zero_point: np.ndarray  # int64, same length as scale
    axis: int | None = None

    @property
    def per_channel(self) -> bool:
        return self.axis is not None and self.scale.size > 1


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quant | None = None
    data: np.ndarray | None = None  # constants only

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(DTYPES[self.dtype]).itemsize

    @property
    def scale(self) -> float:
        assert self.quant is not None, f"tensor {self.name} is not quantized"
        return float(self.quant.scale[0])

    @property
    def zero_point(self) -> int:
        return int(self.quant.zero_point[0]) if self.quant is not None else 0


@dataclass
class Op:
    type: str  # IR op type, a key of ops.REGISTRY
    name: str  # the node name from the model file (for messages)
    inputs: list[str | None]
    outputs: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    name: str
    tensors: dict[str, Tensor]
    ops: list[Op]
    inputs: list[str]
    outputs: list[str]
    #: facts about the source model the tools need later, e.g. {"format": "onnx",
    #: "input_layouts": {name: "NCHW"}} when the importer turned NCHW inputs into the NHWC the C uses
    meta: dict[str, Any] = field(default_factory=dict)

    def t(self, name: str | None) -> Tensor:
        assert name is not None
        return self.tensors[name]

    def producers(self) -> dict[str, Op]:
        return {o: op for op in self.ops for o in op.outputs}

    def consumers(self) -> dict[str, list[Op]]:
        users: dict[str, list[Op]] = {}
        for op in self.ops:
            for i in op.inputs:
                if i is not None:
                    users.setdefault(i, []).append(op)
        return users


class IRError(Exception):
    """The graph breaks an IR invariant: a bug in an importer or a pass, not a user error."""


def verify(g: Graph) -> Graph:
    """Check the invariants every stage relies on; returns the graph so stages can chain it."""
    from .ops import REGISTRY

    problems = []
    defined = set(g.inputs) | {n for n, t in g.tensors.items() if t.is_const}
    for name in g.inputs + g.outputs:
        if name not in g.tensors:
            problems.append(f"graph input/output {name} has no tensor")
    for name, t in g.tensors.items():
        if t.name != name:
            problems.append(f"tensor key {name} != name {t.name}")
        if t.dtype not in DTYPES:
            problems.append(f"tensor {name} has unknown dtype {t.dtype}")
        if any((not isinstance(d, int)) or d < 0 for d in t.shape):
            problems.append(f"tensor {name} has a non-static shape {t.shape}")
        if t.data is not None and tuple(t.data.shape) != tuple(t.shape):
            problems.append(f"constant {name}: data shape {t.data.shape} != {t.shape}")
        if t.quant is not None and t.quant.scale.shape != t.quant.zero_point.shape:
            problems.append(f"tensor {name}: scale and zero point lengths differ")
    for op in g.ops:
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
    from .errors import InputError

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
