"""ADD and SUB on int8 with numpy broadcasting (TFLite Micro: add_common.cc / sub_common.cc, AddFunc,
BroadcastQuantSubSlow).

Both inputs are brought to a common fixed-point scale before they are combined. With s = 2 * max(s1, s2):
    v_k     = MBQM((q_k - zp_k) * 2^20, M_k, shift_k)        M_k, shift_k  = QuantizeMultiplier(s_k / s)     (<= 1/2)
    raw     = v_1 + v_2   (ADD)   or   v_1 - v_2   (SUB)
    y       = clamp(zp_y + MBQM(raw, M_y, shift_y), act_min, act_max)
                                                              M_y, shift_y  = QuantizeMultiplier(s / (2^20 * s_y))
The 2^20 head room keeps the 1/2-scaled inputs exact enough (|q - zp| <= 255, so |v_k| < 2^28: no overflow).
Every multiplier is < 1, so every MBQM here is a plain rounding high-mul followed by a rounding right shift.

The real multipliers are derived in double precision from the float32 scales, for ADD and SUB alike.
(tflite-micro's sub_common.cc source divides in float32 before widening; the tflite-micro wheel edgec is
checked against computes SUB's multipliers in double, and float32 ratios measurably differ from it by 1 LSB:
edgec follows the wheel, see tests/host/test_op_add_sub.py::test_add_sub_all_pairs.)

On a microcontroller the layer runs runtime/add_s8_lut.c instead (choose_kernel): v_1 and +-v_2 depend on one
int8 value each, so the compiler tabulates them for all 256 values (exactly the reference's integers) and the
kernel does one rescale per element instead of three (ResNet-8's adds on the emulated M4: 128 -> 56 instructions
per element). On a core with DSP that rescale is the compile-time output stage of runtime/edgec_dsp_out.h when it is
exact for every sum of the two tables (dsp_stage): runtime/add_s8_lut_dsp.c, 13 instructions per element.
The tables cost 1 KB of flash each: identical ones are emitted once for all their layers, and a layer takes them
only where its new tables save at least an instruction per inference per byte and fit half the flash (table_pays).

Broadcasting follows numpy: shapes are right-aligned and a dimension of 1 repeats. At compile time the
output's dimensions are folded into at most 6 loops where each input walks with a fixed element stride
(0 along a dimension it repeats), so the C kernel is a fixed 6-deep loop nest with integer work only.
"""

from __future__ import annotations

import numpy as np

from ..c_emit import c_list
from ..fixedpoint import activation_range, multiply_by_quantized_multiplier, quantize_multiplier
from .base import (
    GradientRule,
    KernelChoice,
    Operator,
    Quantization,
    constant_bytes,
    fused_activation_supported,
    is_float,
    register,
)
from .float_common import activate, activation_fields, all_float32

MAX_RANK = 6
LEFT_SHIFT = 20  # int8 head room of TFLite's ADD/SUB
LEFT_SHIFT_S16 = 15  # int16 (16x8) ADD's head room


# ---- constraints shared with MUL -------------------------------------------------------------------------------

def operands_int8(op, g) -> bool:
    """both inputs and the output are int8 (or all float32, see the float32 constraints)"""
    return len(op.inputs) == 2 and all(t is not None and g.t(t).dtype == "int8" for t in [*op.inputs, *op.outputs])


def operands_per_tensor(op, g) -> bool:
    """both inputs (constant ones included) and the output are quantized per tensor with a positive scale"""
    tensors = [g.t(t) for t in [*op.inputs, *op.outputs] if t is not None]
    return all(t.quant is not None and t.quant.scale.size == 1 and float(t.quant.scale[0]) > 0 for t in tensors)


def _padded(shape: tuple[int, ...], rank: int) -> tuple[int, ...]:
    return (1,) * (rank - len(shape)) + tuple(shape)


def broadcast_shape(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...] | None:
    """numpy's broadcast of two shapes, or None when they do not broadcast."""
    try:
        return tuple(int(d) for d in np.broadcast_shapes(tuple(a), tuple(b)))
    except ValueError:
        return None


def shapes_broadcast(op, g) -> bool:
    """the two input shapes broadcast to the output shape by numpy rules, with at most 6 dimensions"""
    a, b, y = (tuple(g.t(t).shape) for t in (op.inputs[0], op.inputs[1], op.outputs[0]))
    if max(len(a), len(b), len(y)) > MAX_RANK:
        return False
    both = broadcast_shape(a, b)
    return both is not None and len(y) >= len(both) and _padded(both, len(y)) == y


def broadcast_out_shape(op, g) -> tuple[int, ...]:
    """The broadcast shape, written with the output tensor's rank when that only adds leading 1s."""
    a, b, y = (tuple(g.t(t).shape) for t in (op.inputs[0], op.inputs[1], op.outputs[0]))
    both = broadcast_shape(a, b)
    assert both is not None
    return y if len(y) >= len(both) and _padded(both, len(y)) == y else both


def broadcast_loops(a: tuple[int, ...], b: tuple[int, ...], out: tuple[int, ...],
                    rank: int = MAX_RANK) -> tuple[list[int], list[int], list[int]]:
    """Loop extents over the output and the element strides of each input, outermost first, `rank` loops.

    A stride is 0 along a dimension the input repeats. Dimensions of extent 1 are dropped, and a dimension is
    folded into the next inner loop when both inputs keep walking contiguously across it (stride_outer ==
    stride_inner * extent_inner for each input), so e.g. (1,4,4,3) + (1,1,1,3) becomes two loops [16, 3].
    """
    r = len(out)
    a, b = _padded(a, r), _padded(b, r)
    loops: list[list[int]] = []  # [extent, stride_a, stride_b], innermost first while building
    acc_a = acc_b = 1
    for i in reversed(range(r)):
        n = out[i]
        sa = 0 if a[i] == 1 else acc_a
        sb = 0 if b[i] == 1 else acc_b
        acc_a *= a[i]
        acc_b *= b[i]
        if n == 1:
            continue
        if loops and sa == loops[-1][1] * loops[-1][0] and sb == loops[-1][2] * loops[-1][0]:
            loops[-1][0] *= n  # contiguous with the inner loop for both inputs: one longer loop
        else:
            loops.append([n, sa, sb])
    assert len(loops) <= rank, f"broadcast of {a} and {b} needs {len(loops)} loops"
    loops += [[1, 0, 0]] * (rank - len(loops))
    loops.reverse()
    return [lp[0] for lp in loops], [lp[1] for lp in loops], [lp[2] for lp in loops]


def broadcast_fields(op, g) -> dict:
    """The loop-nest fields of a broadcasting binary kernel's parameter struct."""
    a, b = tuple(g.t(op.inputs[0]).shape), tuple(g.t(op.inputs[1]).shape)
    shape, stride1, stride2 = broadcast_loops(a, b, tuple(g.t(op.outputs[0]).shape))
    return dict(shape=c_list(shape), stride1=c_list(stride1), stride2=c_list(stride2))


def unbroadcast_inputs(op, g) -> tuple[int, ...]:
    """In place: the inputs the output may overwrite. The kernels write output element i after reading both
    inputs' element for i; an input that is not broadcast sits at offset i of its buffer, so overwriting it there
    destroys nothing still to be read (a broadcast input is re-read, and may be smaller than the output)."""
    if is_float(op, g):
        return ()
    y = tuple(g.t(op.outputs[0]).shape)
    return tuple(k for k in (0, 1) if _padded(tuple(g.t(op.inputs[k]).shape), len(y)) == y)


def broadcast_inputs(op, g, inputs) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as int64, broadcast to the output shape."""
    x1, x2 = inputs[0], inputs[1]
    assert x1 is not None and x2 is not None
    shape = tuple(g.t(op.outputs[0]).shape)
    return (np.broadcast_to(x1.astype(np.int64), shape), np.broadcast_to(x2.astype(np.int64), shape))


# ---- ADD / SUB -------------------------------------------------------------------------------------------------

def real_multipliers(s1: float, s2: float, s_out: float, left_shift: int = LEFT_SHIFT) -> tuple[float, float, float]:
    """(s1 / 2m, s2 / 2m, 2m / (2^left_shift s_out)) with m = max(s1, s2), in double precision (add_common.cc);
    left_shift 20 for int8, 15 for int16."""
    twice_max = 2.0 * max(s1, s2)
    return s1 / twice_max, s2 / twice_max, twice_max / ((1 << left_shift) * s_out)


def smaller_than_one(real: float) -> tuple[int, int] | None:
    """QuantizeMultiplierSmallerThanOneExp: (M, shift <= 0), or None where TFLite's Prepare would abort."""
    if not 0.0 < real < 1.0:
        return None
    m, shift = quantize_multiplier(real)
    return (m, shift) if shift <= 0 else None


def _scales(op, g) -> tuple[float, float, float]:
    return g.t(op.inputs[0]).scale, g.t(op.inputs[1]).scale, g.t(op.outputs[0]).scale


# ---- the table kernel's flash rule -----------------------------------------------------------------------------

# Instructions per element the table kernel saves against the portable kernel (runtime/add_s8.c), measured with
# `edgec test --json` (test.instructions_per_inference) on a one-op ADD of 1,024 elements, table kernel against
# `--kernels portable`: Cortex-M4 with the DSP stage 108,587 -> 13,561 (NUCLEO-L4R5ZI), Cortex-M3 plain C 108,589 ->
# 54,324 (MPS2-AN385), Cortex-M55 Helium 112,683 -> 6,938 (MPS3-AN547); per element, rounded down.
TABLE_SAVES_PER_ELEMENT = {"add_s8_lut_dsp": 92, "add_s8_lut": 52, "add_s8_mve": 103}
TABLE_BYTES = 256 * 4  # one int32 table: an input's rescale for its 256 int8 values
# The rate the rule trades flash for speed at: a table is worth its bytes when the layer saves at least this many
# instructions per inference for each byte of flash it adds (1: a 1 KB table must save 1,024 instructions, i.e.
# 12 elements for the DSP kernel with one new table, 23 with two).
INSTRUCTIONS_PER_TABLE_BYTE = 1
TABLES_META = "add_s8_tables"  # g.meta scratch of kernels.select_kernels: the tables chosen so far


def table_pays(op, g, target, kernel: str, tables: tuple[np.ndarray, np.ndarray]) -> tuple[bool, str]:
    """(whether the layer takes the table kernel, why). On the host always (no flash at stake). On a board the
    tables another layer already has cost nothing (emitted once, shared: CEmitContext.shared_const_array); the new
    ones must (1) save at least INSTRUCTIONS_PER_TABLE_BYTE instructions per inference per byte: elements x the
    kernel's saving per element (TABLE_SAVES_PER_ELEMENT) >= new bytes, and (2) fit the flash rule of the int16
    weight copies (kernels.conv_weights16_fit): all the model's constants plus every table chosen so far within
    half the flash (the board's, or --flash-budget when smaller). Records the chosen tables in g.meta (select_kernels
    resets it)."""
    state = g.meta.setdefault(TABLES_META, {"digests": [], "bytes": 0})
    digests = [t.astype(np.int32).tobytes().hex() for t in tables]
    new = [d for i, d in enumerate(digests) if d not in state["digests"] and d not in digests[:i]]
    new_bytes = TABLE_BYTES * len(new)
    n = int(g.t(op.outputs[0]).size)
    if not target.flash_bytes:
        state["digests"] += new
        return True, "2 KB of tables (host: no flash rule)"
    saved = n * TABLE_SAVES_PER_ELEMENT[kernel]
    shared = 2 - len(new)
    what = (f"{len(new)} new table{'s' if len(new) != 1 else ''} ({new_bytes:,} B of flash"
            + (f", {shared} shared with an earlier layer)" if shared else ")"))
    if saved < INSTRUCTIONS_PER_TABLE_BYTE * new_bytes:
        return False, (f"the portable kernel: {what} would save {n:,} elements x {TABLE_SAVES_PER_ELEMENT[kernel]} = "
                       f"{saved:,} instructions per inference, fewer than its bytes")
    total = constant_bytes(g) + state["bytes"] + new_bytes
    half = target.flash_bytes // 2
    if total > half:
        return False, (f"the portable kernel: {what}: constants + tables would be {total:,} B, over half the flash "
                       f"({half:,} B)")
    state["digests"] += new
    state["bytes"] += new_bytes
    return True, (f"{what}, {saved:,} instructions saved per inference ({n:,} elements x "
                  f"{TABLE_SAVES_PER_ELEMENT[kernel]})")


class _AddSub(Operator):
    kernel = "add_s8"
    c_function = ""

    fuses_activation = True
    patch_kind = "binary"
    quantization = Quantization(output="calibrated")
    not_exportable = None
    backward: GradientRule | None = None  # ADD defines its rule; SUB has none yet
    builtin = ""  # the TFLite builtin ADD or SUB, whose options table is <Builtin>Options

    def min_output_scale(self, op, g):
        # output_scale_in_range: s_y > max(s_1, s_2) / 2^19; a quantized output is kept 1 % above the bound
        return max(g.t(i).scale for i in op.inputs if i is not None) / 2.0**19 * 1.01

    def export_tflite(self, op, g, w, ins):
        return self.builtin, ins, f"{self.builtin.title()}Options", dict(fusedActivationFunction=w.activation(op))

    def infer_shape(self, op, g):
        return [broadcast_out_shape(op, g)]

    def prepare(self, op, g):
        x1, x2, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
        pairs = [smaller_than_one(r) for r in real_multipliers(*_scales(op, g))]
        assert all(p is not None for p in pairs), "checked by the output_scale_in_range constraint"
        (m1, s1), (m2, s2), (mo, so) = pairs  # type: ignore[misc]
        act_min, act_max = activation_range(op.attrs.get("activation", "NONE"), y.scale, y.zero_point)
        op.params.update(input1_offset=-x1.zero_point, input2_offset=-x2.zero_point, output_offset=y.zero_point,
                         left_shift=LEFT_SHIFT, input1_multiplier=m1, input1_shift=s1, input2_multiplier=m2,
                         input2_shift=s2, output_multiplier=mo, output_shift=so, act_min=act_min, act_max=act_max)

    def combine(self, v1: np.ndarray, v2: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # ---- int16 (16x8): the int8 maths with 2^15 head room, zero points 0, int16 clamp (runtime/add_s16.c) ----
    c_function_s16 = ""

    def _prepare_s16(self, op, g, reals: tuple[float, float, float]) -> None:
        y = g.t(op.outputs[0])
        pairs = [smaller_than_one(r) for r in reals]
        assert all(p is not None for p in pairs), "checked by the output scale constraint"
        (m1, s1), (m2, s2), (mo, so) = pairs  # type: ignore[misc]
        act_min, act_max = activation_range(op.attrs.get("activation", "NONE"), y.scale, y.zero_point, "int16")
        op.params.update(input1_multiplier=m1, input1_shift=s1, input2_multiplier=m2, input2_shift=s2,
                         output_multiplier=mo, output_shift=so, act_min=act_min, act_max=act_max)

    def reference_s16(self, op, g, inputs):
        p = op.params
        x1, x2 = broadcast_inputs(op, g, inputs)
        v1 = multiply_by_quantized_multiplier(x1 << LEFT_SHIFT_S16, p["input1_multiplier"], p["input1_shift"])
        v2 = multiply_by_quantized_multiplier(x2 << LEFT_SHIFT_S16, p["input2_multiplier"], p["input2_shift"])
        y = multiply_by_quantized_multiplier(self.combine(v1, v2), p["output_multiplier"], p["output_shift"])
        return [np.clip(y, p["act_min"], p["act_max"]).astype(np.int16)]

    def emit_s16(self, op, g, ctx):
        fields = broadcast_fields(op, g)
        fields.update({k: op.params[k] for k in ("input1_multiplier", "input1_shift", "input2_multiplier",
                                                 "input2_shift", "output_multiplier", "output_shift", "act_min",
                                                 "act_max")})
        params = ctx.params_struct(op, "edgec_add_s16_params", fields)
        return (f"{self.c_function_s16}(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[1])}, "
                f"{ctx.ptr(op.outputs[0])});")

    def reference(self, op, g, inputs):
        p = op.params
        x1, x2 = broadcast_inputs(op, g, inputs)
        v1 = multiply_by_quantized_multiplier((x1 + p["input1_offset"]) << p["left_shift"], p["input1_multiplier"],
                                              p["input1_shift"])
        v2 = multiply_by_quantized_multiplier((x2 + p["input2_offset"]) << p["left_shift"], p["input2_multiplier"],
                                              p["input2_shift"])
        raw = self.combine(v1, v2)
        y = multiply_by_quantized_multiplier(raw, p["output_multiplier"], p["output_shift"]) + p["output_offset"]
        return [np.clip(y, p["act_min"], p["act_max"]).astype(np.int8)]

    def choose_kernel(self, op, g, target):
        """The table kernel where it pays (table_pays): fewer instructions on every core and on the host (plain C),
        for 1 KB of flash per table not already emitted for another layer (identical tables are one array). With
        Helium (M55) its vector form, runtime/add_s8_mve.c: the same tables read by gathers, 4 elements per vector
        along unit-stride rows. On a core with DSP and no Helium, when the output's rescale is exact by the
        compile-time stage of runtime/edgec_dsp_out.h (dsp_stage), the table kernel with that stage."""
        if target.mve:
            choice = KernelChoice("add_s8_mve", "edgec_add_s8_mve",
                                  f"{target.core} MVE: the lookup tables read by gather VLDRW, 4 elements per vector, "
                                  "the output's rescale as a vector")
        elif target.dsp and self.dsp_stage(op) is not None:
            choice = KernelChoice("add_s8_lut_dsp", "edgec_add_s8_lut_dsp",
                                  f"{target.core} DSP: lookup tables for the inputs' rescales, the output's rescale by "
                                  "the compile-time stage (SMMLAR, SSAT)")
        else:
            choice = KernelChoice("add_s8_lut", "edgec_add_s8_lut",
                                  "lookup tables: each input's rescale precomputed for its 256 int8 values, one "
                                  "rescale per element instead of three")
        pays, why = table_pays(op, g, target, choice.kernel, self.rescale_tables(op))
        if not pays:
            op.attrs["portable_reason"] = why
            return None
        return KernelChoice(choice.kernel, choice.function, f"{choice.reason}; {why}")

    def rescale_tables(self, op) -> tuple[np.ndarray, np.ndarray]:
        """v_1(q) and (+-)v_2(q) for q = -128..127: what the portable kernel computes per element, once."""
        p, q = op.params, np.arange(-128, 128, dtype=np.int64)
        v1 = multiply_by_quantized_multiplier((q + p["input1_offset"]) << p["left_shift"], p["input1_multiplier"],
                                              p["input1_shift"])
        v2 = multiply_by_quantized_multiplier((q + p["input2_offset"]) << p["left_shift"], p["input2_multiplier"],
                                              p["input2_shift"])
        return v1.astype(np.int32), self.combine(np.zeros_like(v2), v2).astype(np.int32)

    def dsp_stage(self, op) -> np.ndarray | None:
        """The output's rescale as the stage of runtime/edgec_dsp_out.h (start 0, M, round, pre, e), or None when
        it would not be exact for every raw = table1[q1] + table2[q2]: as int8_common.dsp_output_stage, with the
        bound B = max |table1| + max |table2| (the tables hold every value an input can take): e >= 1,
        B 2^(left+1) < 2^31, |round| + |SRDHM| + 2 < 2^31."""
        p = op.params
        t1, t2 = self.rescale_tables(op)
        bound = int(np.abs(t1.astype(np.int64)).max()) + int(np.abs(t2.astype(np.int64)).max())
        m, shift, zp = int(p["output_multiplier"]), int(p["output_shift"]), int(p["output_offset"])
        left, e = max(shift, 0), max(-shift, 0)
        if not 1 <= e <= 31 or not 0 <= m < 2**31 or bound << (left + 1) > 2**31 - 1:
            return None
        rnd = (1 << (e - 1)) + zp * (1 << e)
        if abs(rnd) + ((bound << left) * m + 2**30) // 2**31 + 2 > 2**31 - 1:
            return None
        return np.array([0, m, rnd, left + 1, e], dtype=np.int64).astype(np.int32)

    def emit(self, op, g, ctx):
        p = op.params
        fields = broadcast_fields(op, g)
        fields.update({k: p[k] for k in ("input1_offset", "input2_offset", "output_offset", "left_shift",
                                         "input1_multiplier", "input1_shift", "input2_multiplier", "input2_shift",
                                         "output_multiplier", "output_shift", "act_min", "act_max")})
        params = ctx.params_struct(op, "edgec_add_s8_params", fields)
        io = f"{ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[1])}, {ctx.ptr(op.outputs[0])}"
        chosen = op.attrs.get("kernel_choice")
        if chosen and "patch" not in op.attrs:
            t1, t2 = self.rescale_tables(op)
            tables = f"{ctx.shared_const_array(op, 'table1', t1)}, {ctx.shared_const_array(op, 'table2', t2)}"
            stage = self.dsp_stage(op) if chosen["function"] == "edgec_add_s8_lut_dsp" else None
            if stage is not None:
                return f"edgec_add_s8_lut_dsp(&{params}, {tables}, {ctx.const_array(op, 'dsp_out', stage)}, {io});"
            return f"{chosen['function']}(&{params}, {tables}, {io});"
        return f"{self.c_function}(&{params}, {io});"

    def macs(self, op, g):
        return g.t(op.outputs[0]).size

    def in_place_inputs(self, op, g):
        return unbroadcast_inputs(op, g)

    # ---- float32: y = clamp(x1 +- x2) elementwise in float32, broadcast as the int8 kernel ------------------
    kernel_f32 = "add_f32"

    def reference_f32(self, op, g, inputs):
        x1, x2 = (np.asarray(x, dtype=np.float32) for x in inputs[:2])
        return [activate(op, np.broadcast_to(self.combine(x1, x2), tuple(g.t(op.outputs[0]).shape)))]

    def emit_f32(self, op, g, ctx):
        return emit_binary_f32(op, g, ctx, "edgec_add_f32_params", f"edgec_{self.type}_f32")


def emit_binary_f32(op, g, ctx, struct: str, function: str) -> str:
    """The call of a broadcasting float32 binary kernel (ADD, SUB, MUL): loop nest and clamp."""
    fields = broadcast_fields(op, g)
    fields.update(activation_fields(op))
    params = ctx.params_struct(op, struct, fields)
    return f"{function}(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[1])}, {ctx.ptr(op.outputs[0])});"


def float_operands(op, g) -> bool:
    """two float32 inputs (constants included) and a float32 output"""
    return len(op.inputs) == 2 and all(t is not None for t in op.inputs) and all_float32(op, g)


BINARY_CONSTRAINTS_F32 = [float_operands, shapes_broadcast, fused_activation_supported]


def output_scale_in_range(op, g) -> bool:
    """the output scale is larger than max(input scales) / 2^19, so every ADD/SUB rescale multiplier is below 1
    (TFLite's requirement)"""
    return operands_per_tensor(op, g) and all(smaller_than_one(r) for r in real_multipliers(*_scales(op, g)))


BINARY_CONSTRAINTS = [operands_int8, operands_per_tensor, shapes_broadcast, fused_activation_supported]


def operands_int16(op, g) -> bool:
    """both inputs (constant ones included) and the output are int16 with zero point 0 (16x8: symmetric)"""
    tensors = [g.t(t) for t in [*op.inputs, *op.outputs] if t is not None]
    return len(op.inputs) == 2 and all(t.dtype == "int16" and t.quant is not None and not np.any(t.quant.zero_point)
                                       for t in tensors)


def output_scale_in_range_s16(op, g) -> bool:
    """the output scale is larger than max(input scales) / 2^14, so every int16 ADD or SUB rescale multiplier is below 1
    (TFLite's requirement)"""
    return operands_per_tensor(op, g) and all(smaller_than_one(r) for r in
                                              real_multipliers(*_scales(op, g), left_shift=LEFT_SHIFT_S16))


@register
class Add(_AddSub):
    type = "add"
    c_function = "edgec_add_s8"
    builtin = "ADD"
    constraints = [*BINARY_CONSTRAINTS, output_scale_in_range]
    constraints_f32 = [*BINARY_CONSTRAINTS_F32]

    def backward(self, op, g, b):
        """Real units: y = a + b (each input's rescale is part of the real-valued sum), so both inputs receive
        the output's gradient through the fused activation's clamp (1-bit mask). A broadcast input (a constant
        or a smaller shape) gets no gradient rule yet."""
        from ..errors import TrainingError
        from .clamp_mask import masked_gradient

        wanted = [i for i in op.inputs if b.needs_grad(i)]
        if not wanted:
            return
        if any(g.t(i).shape != g.t(op.outputs[0]).shape for i in wanted):  # type: ignore[arg-type]
            raise TrainingError(f"ADD (node {op.name!r}): gradients through a broadcasting add are not "
                                "implemented yet")
        grad = masked_gradient(b, op.outputs[0])
        for i in dict.fromkeys(wanted):
            b.add_grad(i, grad)  # type: ignore[arg-type]

    def combine(self, v1, v2):
        return v1 + v2

    # ---- int16 (16x8), _AddSub's reference_s16 and emit_s16 ------------------------------------------------
    kernel_s16 = "add_s16"
    c_function_s16 = "edgec_add_s16"
    constraints_s16 = [operands_int16, operands_per_tensor, shapes_broadcast, fused_activation_supported,
                       output_scale_in_range_s16]

    def prepare_s16(self, op, g):
        self._prepare_s16(op, g, real_multipliers(*_scales(op, g), left_shift=LEFT_SHIFT_S16))

@register
class Sub(_AddSub):
    type = "sub"
    c_function = "edgec_sub_s8"
    builtin = "SUB"
    constraints = [*BINARY_CONSTRAINTS, output_scale_in_range]
    constraints_f32 = [*BINARY_CONSTRAINTS_F32]

    def combine(self, v1, v2):
        return v1 - v2

    # ---- int16 (16x8), _AddSub's reference_s16 and emit_s16, ADD's multipliers (double ratios: measured
    # against TFLite Micro, whose int16 SUB matches only so) -------------------------------------------------------
    kernel_s16 = "add_s16"
    c_function_s16 = "edgec_sub_s16"
    constraints_s16 = [operands_int16, operands_per_tensor, shapes_broadcast, fused_activation_supported,
                       output_scale_in_range_s16]

    def prepare_s16(self, op, g):
        self._prepare_s16(op, g, real_multipliers(*_scales(op, g), left_shift=LEFT_SHIFT_S16))
