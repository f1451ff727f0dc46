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

    Float32 graphs (`edgec build --dtype float32`, and the calibration runs of the quantizer) use the `_f32`
    twins: `constraints_f32`, `prepare_f32`, `reference_f32` (numpy float32 maths), `emit_f32` and `kernel_f32`
    (runtime/<kernel_f32>.c). `is_float(op, g)` picks the side; an op without float support keeps the defaults,
    which report it as unsupported in float.

Constraints are checked for every op before anything is generated, and all failures are reported together.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ..c_emit import EmitContext
    from ..ir import Graph, Op

Constraint = Callable[["Op", "Graph"], bool]


class Operator:
    type: str = ""
    kernel: str | None = None  # None: no C kernel (e.g. an alias such as reshape)
    constraints: list[Constraint] = []
    #: True when the output may share the input's memory (reshape-like ops: no data movement)
    alias_of_input: bool = False
    kernel_f32: str | None = None
    constraints_f32: list[Constraint] = []

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

    # ---- memory: in-place execution (toolchain/memory.py decides, docs/memory.md has the rules) ----------------

    def in_place_inputs(self, op: Op, g: Graph) -> tuple[int, ...]:
        """Indices of the inputs whose buffer the output may overwrite, in order of preference: the kernel is
        correct when the output starts at the same address as that input (it never writes a byte it has still
        to read, or it saved that byte first). The planner uses one only where that input dies at this op."""
        return ()

    def scratch_bytes(self, op: Op, g: Graph, *, in_place: bool) -> int:
        """Arena bytes the kernel needs as scratch during this op only (e.g. the channel plane an in-place
        depthwise convolution copies its input channel to)."""
        return 0

    def reference_f32(self, op: Op, g: Graph, inputs: list[np.ndarray | None]) -> list[np.ndarray]:
        raise NotImplementedError(f"{self.type}: no float32 reference")

    def emit_f32(self, op: Op, g: Graph, ctx: EmitContext) -> str:
        raise NotImplementedError(f"{self.type}: no float32 C emitter")

    def prepare_f32(self, op: Op, g: Graph) -> None:
        return None  # float kernels take their geometry from the attrs; nothing to derive by default

    # the side (int8 or float32) an op runs on: is_float()
    def run_reference(self, op: Op, g: Graph, inputs: list[np.ndarray | None]) -> list[np.ndarray]:
        return self.reference_f32(op, g, inputs) if is_float(op, g) else self.reference(op, g, inputs)

    def run_prepare(self, op: Op, g: Graph) -> None:
        return self.prepare_f32(op, g) if is_float(op, g) else self.prepare(op, g)

    def run_emit(self, op: Op, g: Graph, ctx: EmitContext) -> str:
        return self.emit_f32(op, g, ctx) if is_float(op, g) else self.emit(op, g, ctx)

    def kernel_for(self, op: Op, g: Graph) -> str | None:
        return self.kernel_f32 if is_float(op, g) else self.kernel

    def check(self, op: Op, g: Graph) -> list[str]:
        """All violated constraints of this op, as the rule texts."""
        if is_float(op, g):
            if not self.constraints_f32 and type(self).reference_f32 is Operator.reference_f32:
                return ["float32 is not supported for this operator yet (quantize the model: --calib)"]
            return [rule_text(c) for c in self.constraints_f32 if not _holds(c, op, g)]
        found = next((g.t(t).dtype for t in [op.inputs[0] if op.inputs else None, *op.outputs]
                      if t is not None and g.t(t).dtype not in ("int8", "float32")), None)
        # an already-quantized model of another integer type (16x8): name the type, never suggest --calib
        return [quantized_dtype_message(f"activations are {found}", found) if c is io_int8 and found else
                rule_text(c) for c in self.constraints if not _holds(c, op, g)]


def quantized_dtype_message(what: str, dtype: str) -> str:
    """'<what> (16x8 quantization); edgec runs int8 and float32 models': for a model quantized to a type edgec
    has no kernels for (int16 activations, ...); the model is quantized already, so --calib is no help."""
    kind = {"int16": "16x8 quantization", "uint8": "asymmetric uint8 quantization"}.get(dtype, "")
    return (f"{what}{f' ({kind})' if kind else ''}; edgec runs int8 and float32 models (this one is quantized to "
            f"{dtype} already: requantize it to int8 with its converter, or give edgec the float model)")


REGISTRY: dict[str, Operator] = {}


def register(cls: type[Operator]) -> type[Operator]:
    assert cls.type and cls.type not in REGISTRY, f"operator {cls.type!r} registered twice or unnamed"
    REGISTRY[cls.type] = cls()
    return cls


def is_float(op: Op, g: Graph) -> bool:
    """The op computes in float32: its first input and first output are float32. QUANTIZE (float -> int8) and
    DEQUANTIZE (int8 -> float) are conversions and stay on the int8 side."""
    first = op.inputs[0] if op.inputs else None
    return (bool(op.outputs) and g.t(op.outputs[0]).dtype == "float32"
            and (first is None or g.t(first).dtype == "float32"))


def _holds(constraint: Constraint, op: Op, g: Graph) -> bool:
    """A rule that computes a rescale the fixed-point code cannot represent (far-out scales) is broken, and its
    text says which bound; the ratios may overflow float on the way, which the rule's comparison handles."""
    from ..fixedpoint import RescaleRangeError

    try:
        with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
            return bool(constraint(op, g))
    except RescaleRangeError:
        return False


def rule_text(constraint: Constraint) -> str:
    return " ".join((constraint.__doc__ or constraint.__name__).split())


# ---- constraints shared by many ops ---------------------------------------------------------------------------

def io_int8(op: Op, g: Graph) -> bool:
    """activations are int8 (a float model is quantized with `edgec build --calib DATA`, or kept float with
    `--dtype float32`)"""
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
