"""LAYER_NORM (ONNX LayerNormalization, and the ReduceMean/Sub/Pow/Sqrt/Div/Mul/Add chain older exporters write),
float32: every row of the trailing dims from `axis` on is normalized, then scaled and shifted.

Per row of n = prod(shape[axis:]) values (float, sums in index order from 0.0f):
    mean = (sum_c x_c) / n
    var  = (sum_c (x_c - mean)^2) / n            two passes: no cancellation of E[x^2] - mean^2
    r    = 1 / sqrtf(var + epsilon)
    y_c  = (x_c - mean) * r * gamma_c + beta_c   (beta 0 when absent)
Optional outputs 1 and 2 (ONNX's Mean and InvStdDev): mean and r per row, shaped [d_0, ..., d_{axis-1}, 1, ...].
Cost per element: 3 adds, 3 multiplies, one load of gamma and beta; one sqrtf and one divide per row.
TFLite and TFLite Micro have no layer-norm builtin (nor an int8 kernel), and this op has no int8 kernel either:
a float model quantized by edgec (`--calib`) has every LAYER_NORM lowered first to the MEAN / SUB /
SQUARED_DIFFERENCE / MEAN / ADD / RSQRT / MUL / MUL / ADD chain the TFLite converter writes (toolchain/lowering.py),
each op int8 and bit-exact with TFLite Micro, or kept float32 with `--float-ops layer_norm`.
"""

from __future__ import annotations

import numpy as np

from .base import Operator, Quantization, register
from .float_common import all_float32, c_float


def float32_only(op, g) -> bool:
    """float32 only: TFLite Micro has no int8 kernel for this operator, and neither has edgec (build the model
    with `--dtype float32`)"""
    return False


def _axis(op, g) -> int:
    rank = len(g.t(op.inputs[0]).shape)
    return int(op.attrs["axis"]) % max(rank, 1)


def _inner(op, g) -> int:
    return int(np.prod(g.t(op.inputs[0]).shape[_axis(op, g):], dtype=np.int64))


def ln_shapes(op, g) -> bool:
    """axis is within the input's rank; gamma (and beta, when given) are constants holding one value per element
    of the normalized trailing dims; the output has the input's shape (the optional mean and 1/stddev outputs:
    one value per row)"""
    x = g.t(op.inputs[0])
    rank = len(x.shape)
    if not -rank <= int(op.attrs.get("axis", -1)) < rank or g.t(op.outputs[0]).shape != x.shape:
        return False
    params = [t for t in op.inputs[1:3] if t is not None]
    rows = x.size // max(_inner(op, g), 1)
    if any(o is not None and g.t(o).size != rows for o in op.outputs[1:3]) or len(op.outputs) > 3:
        return False
    return len(params) >= 1 and op.inputs[1] is not None and all(
        g.t(t).is_const and g.t(t).size == _inner(op, g) for t in params)


def ln_epsilon(op, g) -> bool:
    """epsilon is a finite number >= 0"""
    eps = float(op.attrs.get("epsilon", float("nan")))
    return np.isfinite(eps) and eps >= 0


def lowered_when_quantized(op, g) -> bool:
    """no int8 kernel of its own: `edgec build --calib` lowers a float model's layer norm to TFLite's MEAN /
    SQUARED_DIFFERENCE / RSQRT / MUL / ADD chain in int8 (or keeps it float32 with `--float-ops layer_norm`);
    an already quantized model must hold that chain itself"""
    return False


@register
class LayerNorm(Operator):
    type = "layer_norm"
    kernel = None
    constraints = [lowered_when_quantized]

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="calibrated")
    not_exportable = "TFLite has no layer-norm builtin"
    backward = None  # no gradient rule yet

    def infer_shape(self, op, g):
        return [g.t(op.inputs[0]).shape] + [g.t(o).shape for o in op.outputs[1:]]

    kernel_f32 = "layer_norm_f32"
    constraints_f32 = [all_float32, ln_shapes, ln_epsilon]

    def reference_f32(self, op, g, inputs):
        x = np.asarray(inputs[0], dtype=np.float64)
        n = _inner(op, g)
        rows = x.reshape(-1, n)
        mean = rows.mean(axis=1, keepdims=True)
        var = ((rows - mean) ** 2).mean(axis=1, keepdims=True)
        gamma = np.asarray(inputs[1], dtype=np.float64).reshape(1, n)
        beta = np.asarray(inputs[2], dtype=np.float64).reshape(1, n) if len(inputs) > 2 and inputs[2] is not None \
            else 0.0
        inv = 1.0 / np.sqrt(var + float(np.float32(op.attrs["epsilon"])))
        y = (rows - mean) * inv * gamma + beta
        extra = [v.astype(np.float32).reshape(g.t(o).shape) for v, o in zip((mean, inv), op.outputs[1:])]
        return [y.astype(np.float32).reshape(x.shape), *extra]

    def emit_f32(self, op, g, ctx):
        n = _inner(op, g)
        beta = ctx.ptr(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] else "NULL"
        fields = dict(outer=g.t(op.inputs[0]).size // n if n else 0, inner=n, epsilon=c_float(op.attrs["epsilon"]),
                      gamma=ctx.ptr(op.inputs[1]), beta=beta)
        params = ctx.params_struct(op, "edgec_layer_norm_f32_params", fields)
        stats = [ctx.ptr(op.outputs[k]) if len(op.outputs) > k else "NULL" for k in (1, 2)]
        return (f"edgec_layer_norm_f32(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}, "
                f"{stats[0]}, {stats[1]});")

    def macs(self, op, g):
        return 3 * g.t(op.inputs[0]).size

    def in_place_inputs(self, op, g):
        return (0,)  # each row is read whole (mean, variance) before any of its outputs is written
