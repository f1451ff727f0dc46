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

The facts: what the rest of the compiler asks about an op, declared by every op in its own module (the base class
holds `UNDECLARED` for each, and tests/host/test_op_facts.py fails for any registered op that leaves one so;
toolchain/ops/_template.py shows them all):

    fuses_activation: bool          # passes.fuse_activations may fold a following RELU/RELU6/RELU_N1_TO_1 into
                                    # the op's `activation` attribute (its kernel clamps its output)
    patch_kind: PatchKind           # how the op runs on one spatial patch in patch-based inference (patch.py):
                                    # "window", "unary", "binary", or None (never inside a patch stage)
    quantization: Quantization      # how quantizer.py quantizes its output and weights (see Quantization)
    not_exportable: str | None      # None: export_tflite(op, g, w, ins) writes the op into a .tflite
                                    # (exporters/tflite.py); a string: why it cannot be written
    backward(op, g, builder)        # the gradient rule of the training path (toolchain/train/graph.py): appends
                                    # the op's backward ops; None: no gradient rule yet
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from .int4_common import INT4_KERNELS, int4_weights

if TYPE_CHECKING:
    from ..c_emit import EmitContext
    from ..ir import Graph, Op

Constraint = Callable[["Op", "Graph"], bool]
#: a gradient rule, as a method: (self, op, training graph, train.graph.GradBuilder) -> None
GradientRule = Callable[..., None]

#: how an op runs on one spatial patch (patch.py's region_kind adds the shape conditions):
#: "window"  a sliding window over its first input (the kernel takes an edgec_region),
#: "unary"   elementwise on one activation of the output's shape (the kernel is a size and a flat loop),
#: "binary"  elementwise on activations of the output's shape and constants without spatial extent (the kernel
#:           walks numpy-broadcast loops, edgec_broadcast.h), None: the op never runs inside a patch stage
PatchKind = Literal["window", "unary", "binary"] | None

#: what an op's export_tflite returns: (builtin, tensor indices of its TFLite inputs, options table or None, the
#: options' fields)
TfliteOp = tuple[str, list[int], str | None, dict[str, Any]]


class _Undeclared:
    """The value of a fact an operator has not declared: tests/host/test_op_facts.py flags it, and using it as a
    truth value fails loudly (never a silent False)."""

    def __repr__(self) -> str:
        return "UNDECLARED"

    def __bool__(self) -> bool:
        raise TypeError("an operator fact is UNDECLARED: declare it in the op's module (see ops/_template.py)")


UNDECLARED: Any = _Undeclared()


@dataclass(frozen=True)
class Quantization:
    """How quantizer.py gives an op's tensors their int8 quantization (a float model quantized by edgec).

    output: "calibrated"      the output gets the range calibration observed on it
            "same_as_input"   the output shares input 0's quantization (the op moves or selects values without
                              rescaling them, as TFLite's converter quantizes it)
            "fixed"           TFLite fixes the output quantization: `fixed` = (scale, zero point)
            "shared_by_inputs" every input whose quantization is not fixed shares the output's; an input with a
                              fixed one is requantized to it (a QUANTIZE is inserted)
    weight_axis: None, or the op's input 1 is a constant weight tensor quantized per channel along this axis
            (symmetric int8), and its input 2, if any, the bias, becomes int32 at s_x * s_w; calibration does
            not see them as activations.
    """

    output: Literal["calibrated", "same_as_input", "fixed", "shared_by_inputs"] = "calibrated"
    fixed: tuple[float, int] | None = None
    weight_axis: int | None = None

    def __post_init__(self) -> None:
        if (self.output == "fixed") != (self.fixed is not None):
            raise ValueError("`fixed` (scale, zero point) goes with output='fixed', and only with it")


#: the facts every registered op declares in its own module (see the module doc)
FACTS = ("fuses_activation", "patch_kind", "quantization", "not_exportable", "backward")



@dataclass(frozen=True)
class KernelTarget:
    """What the kernel choice may assume of the core the C runs on (from the board file): a Cortex-M name, or
    "host" (dsp and mve False: the portable C, which any compiler vectorizes as it can)."""

    core: str
    dsp: bool  # the Armv7E-M / Armv8-M DSP extension: SMLAD, SXTB16, SSAT (Cortex-M4, M7, M33, M55)
    mve: bool = False  # the M-profile vector extension, Helium (Cortex-M55)
    flash_bytes: int | None = None  # the board's flash (None: the host): room for the DSP convs' int16 weights?


@dataclass(frozen=True)
class KernelChoice:
    """A faster kernel than the portable one for one layer: runtime/<kernel>.c and .h are copied beside the
    portable kernel, the layer calls `function`, and `reason` (one line) says why in report.json."""

    kernel: str
    function: str
    reason: str


class ExportWriter(Protocol):
    """What an op's export_tflite is given (exporters/tflite.py's TfliteWriter; declared here so that the ops,
    which the exporter imports, never import the exporter)."""

    @property
    def Unsupported(self) -> type[Exception]: ...  # raised with the reason an op instance cannot be written

    def int32(self, name: str, values: Any) -> int: ...

    def const_like(self, name: str, values: Any, like: str) -> int: ...

    def activation(self, op: Op) -> int: ...

    def padding(self, op: Op) -> int: ...


class Operator:
    type: str = ""
    kernel: str | None = None  # None: no C kernel (e.g. an alias such as reshape)
    constraints: list[Constraint] = []
    #: True when the output may share the input's memory (reshape-like ops: no data movement)
    alias_of_input: bool = False
    kernel_f32: str | None = None
    constraints_f32: list[Constraint] = []
    #: int16 activations with int8 weights (TFLite's 16x8 quantization, docs/numerics.md): the `_s16` twins
    #: (`constraints_s16`, `prepare_s16`, `reference_s16`, `emit_s16`, runtime/<kernel_s16>.c); None: no int16
    #: kernel, and check() says so naming the op. An op whose own int8 methods already handle int16 (QUANTIZE,
    #: DEQUANTIZE, RESHAPE) sets `s16_twin = False` instead.
    kernel_s16: str | None = None
    constraints_s16: list[Constraint] = []
    s16_twin: bool = True

    # ---- the facts (see the module doc): every op declares each one; UNDECLARED is the base's mark of a gap ----
    #: a RELU, RELU6 or RELU_N1_TO_1 reading this op's output may become its `activation` attribute
    fuses_activation: bool = UNDECLARED
    #: how the op runs on one spatial patch (PatchKind); a "window" op also defines window_size()
    patch_kind: PatchKind = UNDECLARED
    #: the quantizer's rule for the op (an op whose rule depends on its attrs also overrides quantization_for)
    quantization: Quantization = UNDECLARED
    #: None when export_tflite writes the op into a .tflite; else the reason it cannot be (the exporter's message)
    not_exportable: str | None = UNDECLARED
    #: the op's gradient rule for the training path: a method backward(op, g, builder) that appends the backward
    #: ops of this op to the training graph (toolchain/train/graph.py's GradBuilder); None: no gradient rule yet
    backward: GradientRule | None = UNDECLARED

    def quantization_for(self, op: Op) -> Quantization:
        """The quantization rule of this op instance (the class's `quantization`, unless the attrs change it)."""
        return self.quantization

    def min_output_scale(self, op: Op, g: Graph) -> float | None:
        """For the quantizer: the least int8 output scale the kernel takes, given the inputs' scales (a calibrated
        scale below it is raised to it); None: any scale."""
        return None

    def window_size(self, op: Op, g: Graph) -> tuple[int, int, int, int]:
        """(k_h, k_w, dilation_h, dilation_w) of a patch_kind "window" op."""
        raise NotImplementedError(f"{self.type}: not a sliding-window op")

    def export_tflite(self, op: Op, g: Graph, w: ExportWriter, ins: list[int]) -> TfliteOp:
        """The op as a TFLite builtin: `ins` are the file's tensor indices of the op's IR inputs (-1 for a missing
        optional one); `w` writes extra constant inputs (w.int32) and knows the options' codes (w.activation,
        w.padding). An op instance the file cannot hold raises w.Unsupported(reason)."""
        raise NotImplementedError(f"{self.type}: no .tflite writer")

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

    def reference_s16(self, op: Op, g: Graph, inputs: list[np.ndarray | None]) -> list[np.ndarray]:
        raise NotImplementedError(f"{self.type}: no int16 reference")

    def emit_s16(self, op: Op, g: Graph, ctx: EmitContext) -> str:
        raise NotImplementedError(f"{self.type}: no int16 C emitter")

    def prepare_s16(self, op: Op, g: Graph) -> None:
        return None

    def uses_s16(self, op: Op, g: Graph) -> bool:
        """The layer runs on the op's int16 twins (16x8 quantization)."""
        return self.s16_twin and is_int16(op, g)

    # the side (int8, int16 or float32) an op runs on: is_float(), uses_s16()
    def run_reference(self, op: Op, g: Graph, inputs: list[np.ndarray | None]) -> list[np.ndarray]:
        if is_float(op, g):
            return self.reference_f32(op, g, inputs)
        return self.reference_s16(op, g, inputs) if self.uses_s16(op, g) else self.reference(op, g, inputs)

    def run_prepare(self, op: Op, g: Graph) -> None:
        if is_float(op, g):
            return self.prepare_f32(op, g)
        return self.prepare_s16(op, g) if self.uses_s16(op, g) else self.prepare(op, g)

    def run_emit(self, op: Op, g: Graph, ctx: EmitContext) -> str:
        if is_float(op, g):
            return self.emit_f32(op, g, ctx)
        return self.emit_s16(op, g, ctx) if self.uses_s16(op, g) else self.emit(op, g, ctx)

    def kernel_for(self, op: Op, g: Graph) -> str | None:
        """The portable kernel of this layer (int8, int16 or float32 side)."""
        if is_float(op, g):
            return self.kernel_f32
        return self.kernel_s16 if self.uses_s16(op, g) else self.kernel

    def kernels_for(self, op: Op, g: Graph) -> list[str]:
        """Every runtime kernel the layer's C needs: the portable one, and the chosen one if any; a layer with int4
        weights also its int4 kernel (ops/int4_common.py), which takes the portable kernel's parameter struct."""
        chosen = op.attrs.get("kernel_choice") if "patch" not in op.attrs else None
        int4 = INT4_KERNELS[op.type] if int4_weights(op, g) else None
        return [k for k in (self.kernel_for(op, g), chosen["kernel"] if chosen else None, int4) if k is not None]

    # ---- kernel choice (toolchain/kernels.py asks, per layer, after canonicalize) ----------------------------------

    def choose_kernel(self, op: Op, g: Graph, target: KernelTarget) -> KernelChoice | None:
        """A faster kernel for this int8 layer on `target`, or None: the portable kernel. The op's emit,
        scratch_bytes and in_place_inputs read the choice back from op.attrs["kernel_choice"]; a patch-stage layer
        keeps the portable region kernel whatever was chosen."""
        return None

    def check(self, op: Op, g: Graph) -> list[str]:
        """All violated constraints of this op, as the rule texts."""
        if is_float(op, g):
            if not self.constraints_f32 and type(self).reference_f32 is Operator.reference_f32:
                return ["float32 is not supported for this operator yet (quantize the model: --calib)"]
            return [rule_text(c) for c in self.constraints_f32 if not _holds(c, op, g)]
        if self.uses_s16(op, g):
            if self.kernel_s16 is None:
                return [no_int16_kernel_message(op)]
            return [rule_text(c) for c in self.constraints_s16 if not _holds(c, op, g)]
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


def no_int16_kernel_message(op: Op) -> str:
    """An int16 (16x8) layer of an op edgec has no int16 kernel for: names the op and the type; never suggests
    --calib (the model is quantized already). The importer puts the node (index, op, output) before it."""
    name = op.attrs.get("tflite_op", op.type.upper())
    return (f"{name} has int16 activations (16x8 quantization) and edgec has no int16 kernel for {name} "
            "(`edgec ops` lists the int16 ones); the model is quantized already: requantize it to int8 with its "
            "converter, or keep this operator's activations int8")


REGISTRY: dict[str, Operator] = {}


def missing_facts(impl: Operator) -> list[str]:
    """The facts an operator leaves undeclared (or declares inconsistently), as messages; [] when complete."""
    cls = type(impl)
    gaps = [f"{cls.__name__} ({impl.type}): fact `{name}` is not declared" for name in FACTS
            if getattr(impl, name) is UNDECLARED]
    writes = cls.export_tflite is not Operator.export_tflite
    if impl.not_exportable is None and not writes:
        gaps.append(f"{cls.__name__} ({impl.type}): not_exportable is None but export_tflite is not defined")
    if isinstance(impl.not_exportable, str) and writes:
        gaps.append(f"{cls.__name__} ({impl.type}): defines export_tflite yet says not_exportable")
    if impl.patch_kind == "window" and cls.window_size is Operator.window_size:
        gaps.append(f"{cls.__name__} ({impl.type}): patch_kind 'window' needs window_size()")
    return gaps


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


def is_half(g: Graph, tensor: str | None) -> bool:
    """A training gradient stored in fp16 (edgec train --gradients fp16, docs/training.md): dtype float16, the
    IEEE binary16 bits in a uint16_t in C, computed in float32 by the kernels (edgec_train.h converts)."""
    return tensor is not None and g.t(tensor).dtype == "float16"


def to_half(v) -> np.ndarray:
    """A float32 array rounded through IEEE half (to nearest, ties to even: numpy's cast, which edgec_train.h's
    edgec_float_to_half matches bit for bit) and held as float32 again (exact): what an fp16 gradient stores."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(v, np.float32).astype(np.float16).astype(np.float32)


def is_int16(op: Op, g: Graph) -> bool:
    """The op computes on int16 activations (TFLite's 16x8 quantization): its first input or its first output is
    an int16 tensor (a constant int16 input, such as a state, does not count)."""
    first = op.inputs[0] if op.inputs else None
    outs = [op.outputs[0]] if op.outputs else []
    return any(g.t(t).dtype == "int16" and not g.t(t).is_const for t in [first, *outs] if t is not None)


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


def constant_bytes(g: Graph) -> int:
    """The bytes of all the model's constants as stored (what the flash rules of the fast kernels weigh)."""
    return sum(int(t.data.nbytes) for t in g.tensors.values() if t.data is not None)


def shape_of_first_input(self: Operator, op: Op, g: Graph) -> list[tuple[int, ...]]:
    """The shape rule of an elementwise op with one data input: y has x's shape (an op's `infer_shape =
    shape_of_first_input`), so a file that declares another output shape is refused (passes.infer_shapes)."""
    return [g.t(op.inputs[0]).shape]
