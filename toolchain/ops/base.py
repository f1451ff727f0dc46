"""What an operator module provides, and the registry that collects them.

One operator = one module in this package. It defines a subclass of `Operator`, decorated with `@register`:

    @register
    class Conv2D(Operator):
        type = "conv2d"                 # IR op type
        kernel = "conv2d_s8"            # runtime/<kernel>.c and .h, copied into the output folder
        constraints = [...]             # predicates (op, graph) -> bool; their docstring is the user-facing rule
        def infer_shape(op, g)          # output shapes from input shapes and attrs
        def prepare(op, g)              # compile time: fills op.params with every integer constant the C needs
        def reference(op, g, inputs)    # numpy, exact for int8: the same integer maths as the C kernel
        def emit(op, g, ctx)            # the C statement(s) of this layer
        def macs(op, g)                 # multiply-accumulates, for reports

Constraints are checked for every op before anything is generated, and all failures are reported together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..codegen import EmitContext
    from ..ir import Graph, Op

Constraint = Callable[["Op", "Graph"], bool]


class Operator:
    type: str = ""
    kernel: str | None = None  # None: no C kernel (e.g. an alias such as reshape)
    constraints: list[Constraint] = []
    #: True when the output may share the input's memory (reshape-like ops: no data movement)
    alias_of_input: bool = False

    def infer_shape(self, op: Op, g: Graph) -> list[tuple[int, ...]]:
        return [g.t(o).shape for o in op.outputs]

    def prepare(self, op: Op, g: Graph) -> None:
        return None

    def reference(self, op: Op, g: Graph, inputs: list[np.ndarray | None]) -> list[np.ndarray]:
        raise NotImplementedError(f"{self.type}: no numpy reference")

    def emit(self, op: Op, g: Graph, ctx: EmitContext) -> str:
        raise NotImplementedError(f"{self.type}: no C emitter")

    def macs(self, op: Op, g: Graph) -> int:
        return 0

    def check(self, op: Op, g: Graph) -> list[str]:
        """All violated constraints of this op, as the rule texts."""
        return [rule_text(c) for c in self.constraints if not c(op, g)]


REGISTRY: dict[str, Operator] = {}


def register(cls: type[Operator]) -> type[Operator]:
    assert cls.type and cls.type not in REGISTRY, f"operator {cls.type!r} registered twice or unnamed"
    REGISTRY[cls.type] = cls()
    return cls


def rule_text(constraint: Constraint) -> str:
    return " ".join((constraint.__doc__ or constraint.__name__).split())


# ---- constraints shared by many ops ---------------------------------------------------------------------------

def io_int8(op: Op, g: Graph) -> bool:
    """activations are int8 (float and hybrid models need the converter: `edgec build --calib`, not yet available)"""
    return all(g.t(t).dtype == "int8" for t in [op.inputs[0], *op.outputs] if t is not None)


def per_tensor_activations(op: Op, g: Graph) -> bool:
    """activations are quantized per tensor (one scale and zero point)"""
    acts = [t for t in [*op.inputs, *op.outputs] if t is not None and not g.t(t).is_const]
    return all(g.t(t).quant is not None and g.t(t).quant.scale.size == 1 for t in acts)  # type: ignore[union-attr]


def fused_activation_supported(op: Op, g: Graph) -> bool:
    """fused activation is NONE, RELU, RELU6 or RELU_N1_TO_1"""
    return op.attrs.get("activation", "NONE") in ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


def same_quant(a: Any, b: Any) -> bool:
    return a is not None and b is not None and np.array_equal(a.scale, b.scale) and np.array_equal(
        a.zero_point, b.zero_point)
