"""BATCH_MATMUL (TFLite Micro batch_matmul.cc, reference_ops::BatchMatMul; ONNX MatMul with batch dimensions):
a matrix product per batch, both operands activations (attention's Q K^T and A V) or one a constant.

Shapes: A [..., M, K] (adj_x: [..., K, M]), B [..., K, N] (adj_y: [..., N, K]), ranks 2 to 5; the batch dims
broadcast by numpy rules (right-aligned) to the output's, Y [..., M, N].

float32, per output:   y[b, i, j] = sum_k A(b, i, k) * B(b, k, j)             (k ascending, one float, from 0.0f)
int8 (TFLM's EvalInt8, double rounding):
    acc[b, i, j] = sum_k (A - zp_a) * (B - zp_b)                               int32, exact (depth bounded below)
    y = clamp(zp_y + MBQM(acc, M, shift), -128, 127)     (M, shift) = QM(double(float(s_a * s_b)) / s_y)
No bias and no fused activation (TFLite's BATCH_MATMUL has neither). The int8 product is exact, so the order of
the sum is free; TFLM transposes B into a persistent copy first, edgec reads B with strides instead (no copy).
Cost: M * N * K multiply-accumulates per batch, one load of each operand per MAC.
"""

from __future__ import annotations

import numpy as np

from ..fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier
from .base import Operator, Quantization, register
from .float_common import all_float32

MAX_RANK = 5  # TFLM: ranks 2 to 5
BATCH_DIMS = MAX_RANK - 2


def _dims(op, g) -> tuple[int, int, int]:
    """(M, K, N) of one product."""
    a, b = g.t(op.inputs[0]).shape, g.t(op.inputs[1]).shape
    m, k = (a[-1], a[-2]) if op.attrs.get("adj_x") else (a[-2], a[-1])
    n = b[-2] if op.attrs.get("adj_y") else b[-1]
    return m, k, n


def _batch_shape(op, g) -> tuple[int, ...]:
    a, b = g.t(op.inputs[0]).shape, g.t(op.inputs[1]).shape
    return tuple(int(d) for d in np.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2])))


def bmm_shapes(op, g) -> bool:
    """A [..., M, K] and B [..., K, N] (adj_x / adj_y: the last two dims swapped) of rank 2 to 5, their depths
    equal and their batch dims broadcasting (numpy rules) to the output's, Y [..., M, N]"""
    if len(op.inputs) != 2 or any(t is None for t in op.inputs):
        return False
    a, b, y = (g.t(t).shape for t in (*op.inputs, op.outputs[0]))
    if not (2 <= len(a) <= MAX_RANK and 2 <= len(b) <= MAX_RANK):
        return False
    kb = b[-1] if op.attrs.get("adj_y") else b[-2]
    m, k, n = _dims(op, g)
    try:
        batch = _batch_shape(op, g)
    except ValueError:
        return False
    return k == kb and tuple(y) == (*batch, m, n)


def bmm_int8(op, g) -> bool:
    """both inputs and the output are int8, quantized per tensor (or all float32, see the float32 constraints)"""
    ts = [g.t(t) for t in (*op.inputs, *op.outputs) if t is not None]
    return all(t.dtype == "int8" and t.quant is not None and t.quant.scale.size == 1 for t in ts)


def bmm_depth_fits(op, g) -> bool:
    """the depth K is at most 33025, so the int32 accumulator of (a - zp_a) * (b - zp_b) cannot overflow"""
    return _dims(op, g)[1] * 255 * 255 < 2**31


def _multiplier(op, g) -> tuple[int, int]:
    """GetQuantizedConvolutionMultipler: s_a * s_b in float32, then double, divided by s_y in double."""
    a, b, y = (g.t(t) for t in (*op.inputs, op.outputs[0]))
    product = float(np.float32(a.scale) * np.float32(b.scale))
    return quantize_multiplier(product / float(np.float32(y.scale)))


def _geometry(op, g) -> dict:
    """The C struct fields shared by both kernels: the batch loops (padded on the left to 3, strides in whole
    matrices, 0 where an operand broadcasts) and one product's M, K, N."""
    a, b = g.t(op.inputs[0]).shape, g.t(op.inputs[1]).shape
    batch = _batch_shape(op, g)
    out = (1,) * (BATCH_DIMS - len(batch)) + batch

    def strides(shape: tuple[int, ...]) -> list[int]:
        dims = (1,) * (BATCH_DIMS - len(shape[:-2])) + tuple(shape[:-2])
        step, result = 1, [0] * BATCH_DIMS
        for d in reversed(range(BATCH_DIMS)):
            result[d] = step if dims[d] != 1 else 0
            step *= dims[d]
        return result

    m, k, n = _dims(op, g)
    return dict(batch=list(out), a_stride=strides(a), b_stride=strides(b), rows=m, depth=k, cols=n,
                adj_x=int(bool(op.attrs.get("adj_x"))), adj_y=int(bool(op.attrs.get("adj_y"))))


def _operands(op, inputs) -> tuple[np.ndarray, np.ndarray]:
    """A [..., M, K] and B [..., K, N] with the adjoints applied (numpy views)."""
    a, b = np.asarray(inputs[0]), np.asarray(inputs[1])
    if op.attrs.get("adj_x"):
        a = np.swapaxes(a, -1, -2)
    if op.attrs.get("adj_y"):
        b = np.swapaxes(b, -1, -2)
    return a, b


def _fields(geometry: dict) -> dict:
    from ..c_emit import c_list

    return dict(geometry, batch=c_list(geometry["batch"]), a_stride=c_list(geometry["a_stride"]),
                b_stride=c_list(geometry["b_stride"]))


@register
class BatchMatMul(Operator):
    type = "batch_matmul"
    kernel = "batch_matmul_s8"
    constraints = [bmm_int8, bmm_shapes, bmm_depth_fits]

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="calibrated")
    not_exportable = None
    backward = None  # no gradient rule yet

    def export_tflite(self, op, g, w, ins):
        return "BATCH_MATMUL", ins, "BatchMatMulOptions", dict(adjX=bool(op.attrs.get("adj_x")),
                                                               adjY=bool(op.attrs.get("adj_y")))

    def infer_shape(self, op, g):
        m, _, n = _dims(op, g)
        return [(*_batch_shape(op, g), m, n)]

    def prepare(self, op, g):
        a, b, y = (g.t(t) for t in (*op.inputs, op.outputs[0]))
        multiplier, shift = _multiplier(op, g)
        op.params.update(lhs_offset=-a.zero_point, rhs_offset=-b.zero_point, output_offset=y.zero_point,
                         multiplier=multiplier, shift=shift)

    def reference(self, op, g, inputs):
        p = op.params
        a, b = _operands(op, inputs)
        acc = np.matmul(a.astype(np.int64) + p["lhs_offset"], b.astype(np.int64) + p["rhs_offset"])
        y = multiply_by_quantized_multiplier(acc, p["multiplier"], p["shift"]) + p["output_offset"]
        return [np.clip(y, -128, 127).astype(np.int8).reshape(g.t(op.outputs[0]).shape)]

    def emit(self, op, g, ctx):
        p = op.params
        fields = dict(_fields(_geometry(op, g)), lhs_offset=p["lhs_offset"], rhs_offset=p["rhs_offset"],
                      output_offset=p["output_offset"], multiplier=p["multiplier"], shift=p["shift"])
        params = ctx.params_struct(op, "edgec_batch_matmul_s8_params", fields)
        return (f"edgec_batch_matmul_s8(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[1])}, "
                f"{ctx.ptr(op.outputs[0])});")

    def macs(self, op, g):
        m, k, n = _dims(op, g)
        return int(np.prod(_batch_shape(op, g), dtype=np.int64)) * m * k * n

    # ---- float32 ------------------------------------------------------------------------------------------------
    kernel_f32 = "batch_matmul_f32"
    constraints_f32 = [all_float32, bmm_shapes]

    def reference_f32(self, op, g, inputs):
        a, b = _operands(op, inputs)
        y = np.matmul(a.astype(np.float64), b.astype(np.float64))
        return [y.astype(np.float32).reshape(g.t(op.outputs[0]).shape)]

    def emit_f32(self, op, g, ctx):
        params = ctx.params_struct(op, "edgec_batch_matmul_f32_params", _fields(_geometry(op, g)))
        return (f"edgec_batch_matmul_f32(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[1])}, "
                f"{ctx.ptr(op.outputs[0])});")
