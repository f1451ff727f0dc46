"""SVDF: a rank-limited streaming filter over a history of feature frames (keyword spotting), with its own state.

Inputs: x [B, I], weights_feature W_f [F, I], weights_time W_t [F, M], bias [U], state S [B, F*M]; output y [B, U].
F = num_filters, M = memory_size, U = F / rank (filters u*rank .. u*rank+rank-1 belong to unit u). The state is a
variable tensor (ir.Tensor.state): S[b, f*M + m] holds filter f's feature m frames ago counted from the newest at
m = M-1; it persists between invocations and `<prefix>_reset()` zeroes it.

One invocation, as TFLite Micro computes it (int8 input and output, int16 state and W_t, int32 bias):
  1. S moves one place to the left (S[k] = S[k+1] over the flat buffer; the slot each filter then rewrites at
     m = M-1 is the only one whose value crossed a row, so this is one frame of history per filter);
  2. feature: d[b,f] = sum_c W_f[f,c] * (x[b,c] - zp_x);  S[b, f*M+M-1] = zp_S + clamp16(MBQM(d, M1, e1))
     (stored as int16 without a second clamp), with M1, e1 from s_x * s_Wf / s_S computed in float32;
  3. time: t[b,f] = sum_m W_t[f,m] * (S[b, f*M+m] - zp_S), an int32 sum (two's-complement wrap, as TFLM's int32);
  4. y[b,u] = clamp8(MBQM(bias[u] + sum_r t[b, u*rank+r], M2, e2) + zp_y), M2, e2 from s_S * s_Wt / s_y (float32).
The fused activation is not applied on the integer path (TFLite Micro ignores it there too); the bias is required
(TFLM reads it unconditionally) and its scale must be s_S * s_Wt (to 1e-5).

float32: the same steps without rescaling (the newest slot is sum_c W_f x, y = act(bias + sum_r t)), fused
activation NONE, RELU, RELU6 or RELU_N1_TO_1.
"""

from __future__ import annotations

import numpy as np

from ..fixedpoint import multiply_by_quantized_multiplier, quantize_multiplier, wrap_int32
from .base import Operator, Quantization, fused_activation_supported, per_tensor_activations, register
from .float_common import activate, activation_fields, all_float32


def _shapes(op, g) -> tuple[int, int, int, int, int] | None:
    """(B, I, F, M, U) when the tensors have SVDF's shapes, else None."""
    if len(op.inputs) != 5 or any(i is None for i in op.inputs):
        return None
    x, wf, wt, bias, s = (g.t(i) for i in op.inputs)
    if len(x.shape) != 2 or len(wf.shape) != 2 or len(wt.shape) != 2 or len(bias.shape) != 1:
        return None
    (b, i), (f, i2), (f2, m) = x.shape, wf.shape, wt.shape
    rank = op.attrs.get("rank", 0)
    if i != i2 or f != f2 or rank < 1 or f % rank or bias.shape[0] != f // rank or s.size != b * f * m or m < 1:
        return None
    return b, i, f, m, f // rank


def svdf_shapes(op, g) -> bool:
    """SVDF's five inputs are present with consistent shapes: input [B, I], weights_feature [F, I], weights_time
    [F, M], bias [F / rank] and a state of B*F*M elements, and num_filters F is a multiple of rank"""
    return _shapes(op, g) is not None


def svdf_state_variable(op, g) -> bool:
    """input 4 (the state) is a variable tensor, and the weights and bias are constants"""
    return (len(op.inputs) == 5 and op.inputs[4] is not None and g.t(op.inputs[4]).state
            and all(i is not None and g.t(i).is_const for i in op.inputs[1:4]))


def svdf_int_types(op, g) -> bool:
    """int8 SVDF: input, output and weights_feature int8, weights_time and the state int16 (int8 weights_time and
    state, and hybrid float/int8 SVDF, are not supported), bias int32, per-tensor scales"""
    want = ("int8", "int8", "int16", "int32", "int16")
    return (len(op.inputs) == 5 and all(i is not None and g.t(i).dtype == d for i, d in zip(op.inputs, want))
            and g.t(op.outputs[0]).dtype == "int8"
            and all(g.t(i).quant is not None and g.t(i).quant.scale.size == 1 for i in op.inputs[:3]))  # type: ignore


def svdf_bias_scale(op, g) -> bool:
    """the bias scale is the state scale times the weights_time scale (within 1e-5, as TFLite Micro checks)"""
    bias, wt, s = g.t(op.inputs[3]), g.t(op.inputs[2]), g.t(op.inputs[4])
    return (bias.quant is not None and abs(float(bias.quant.scale[0]) - float(s.quant.scale[0]) *  # type: ignore
                                           float(wt.quant.scale[0])) < 1e-5)  # type: ignore[union-attr]


@register
class Svdf(Operator):
    type = "svdf"
    kernel = "svdf_s8"
    constraints = [svdf_shapes, svdf_state_variable, svdf_int_types, per_tensor_activations, svdf_bias_scale]

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="calibrated")
    not_exportable = None
    backward = None

    def export_tflite(self, op, g, w, ins):
        return "SVDF", ins, "SVDFOptions", dict(rank=int(op.attrs["rank"]), fusedActivationFunction=w.activation(op),
                                                asymmetricQuantizeInputs=False)

    def infer_shape(self, op, g):
        b, _, _, _, u = _shapes(op, g) or (0, 0, 0, 0, 0)
        return [(b, u)]

    def prepare(self, op, g):
        x, wf, wt, s, y = (g.t(n) for n in (*op.inputs[:3], op.inputs[4], op.outputs[0]))
        f32 = np.float32
        # TFLM forms both ratios in float32 and only then widens them to double
        r1 = float(f32(f32(x.scale) * f32(wf.scale)) / f32(s.scale))
        r2 = float(f32(f32(s.scale) * f32(wt.scale)) / f32(y.scale))
        m1, e1 = quantize_multiplier(r1)
        m2, e2 = quantize_multiplier(r2)
        op.params.update(input_offset=-x.zero_point, state_offset=s.zero_point, output_offset=y.zero_point,
                         feature_multiplier=m1, feature_shift=e1, output_multiplier=m2, output_shift=e2)

    def reference(self, op, g, inputs):
        """[y]; it also advances the state: inputs[4] is the live state array, updated in place."""
        x, wf, wt, bias, state = inputs
        assert x is not None and wf is not None and wt is not None and bias is not None and state is not None
        p = op.params
        b, _, f, m, u = _shapes(op, g)  # type: ignore[misc]
        flat = state.reshape(-1)
        flat[:-1] = flat[1:].copy()
        d = (x.astype(np.int64) + p["input_offset"]) @ wf.astype(np.int64).T  # [B, F]
        d = np.clip(multiply_by_quantized_multiplier(d, p["feature_multiplier"], p["feature_shift"]), -32768, 32767)
        rows = flat.reshape(b, f, m)
        rows[:, :, m - 1] = (d + p["state_offset"]).astype(np.int64).astype(np.int16)  # wraps like the C store
        t = wrap_int32(((rows.astype(np.int64) - p["state_offset"]) * wt.astype(np.int64)[None]).sum(-1))
        acc = wrap_int32(bias.astype(np.int64)[None] + wrap_int32(t.reshape(b, u, -1).sum(-1)))
        y = multiply_by_quantized_multiplier(acc, p["output_multiplier"], p["output_shift"]) + p["output_offset"]
        return [np.clip(y, -128, 127).astype(np.int8)]

    def emit(self, op, g, ctx):
        b, i, f, m, _ = _shapes(op, g)  # type: ignore[misc]
        p = op.params
        fields = dict(batches=b, input_size=i, filters=f, memory=m, rank=op.attrs["rank"],
                      input_offset=p["input_offset"], state_offset=p["state_offset"],
                      output_offset=p["output_offset"], feature_multiplier=p["feature_multiplier"],
                      feature_shift=p["feature_shift"], output_multiplier=p["output_multiplier"],
                      output_shift=p["output_shift"], weights_feature=ctx.ptr(op.inputs[1]),
                      weights_time=ctx.ptr(op.inputs[2]), bias=ctx.ptr(op.inputs[3]))
        params = ctx.params_struct(op, "edgec_svdf_s8_params", fields)
        return f"edgec_svdf_s8(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[4])}, {ctx.ptr(op.outputs[0])});"

    def macs(self, op, g):
        b, i, f, m, _ = _shapes(op, g) or (0, 0, 0, 0, 0)
        return b * f * (i + m)

    # ---- float32 --------------------------------------------------------------------------------------------
    kernel_f32 = "svdf_f32"
    constraints_f32 = [all_float32, svdf_shapes, svdf_state_variable, fused_activation_supported]

    def reference_f32(self, op, g, inputs):
        """[y] in float (sums in float64, each rounded to float32 once as the C keeps it); state updated in place."""
        x, wf, wt, bias, state = inputs
        assert x is not None and wf is not None and wt is not None and bias is not None and state is not None
        b, _, f, m, u = _shapes(op, g)  # type: ignore[misc]
        flat = state.reshape(-1)
        flat[:-1] = flat[1:].copy()
        rows = flat.reshape(b, f, m)
        rows[:, :, m - 1] = (x.astype(np.float64) @ wf.astype(np.float64).T).astype(np.float32)
        t = (rows.astype(np.float64) * wt.astype(np.float64)[None]).sum(-1)
        return [activate(op, bias.astype(np.float64)[None] + t.reshape(b, u, -1).sum(-1))]

    def emit_f32(self, op, g, ctx):
        b, i, f, m, _ = _shapes(op, g)  # type: ignore[misc]
        fields = dict(batches=b, input_size=i, filters=f, memory=m, rank=op.attrs["rank"], **activation_fields(op),
                      weights_feature=ctx.ptr(op.inputs[1]), weights_time=ctx.ptr(op.inputs[2]),
                      bias=ctx.ptr(op.inputs[3]))
        params = ctx.params_struct(op, "edgec_svdf_f32_params", fields)
        return (f"edgec_svdf_f32(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[4])}, "
                f"{ctx.ptr(op.outputs[0])});")
