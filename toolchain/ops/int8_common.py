"""What the int8 weighted operators share (CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED): the rules
for their weights and bias, and the rescale of their int32 accumulators to int8.

    y[o] = clamp(zp_y + MBQM(acc[o], M[o], shift[o]), act_min, act_max)   M[o], shift[o] from s_x * s_w[o] / s_y

computed at compile time by `prepare_rescale` (TFLite's fixed-point multiplier per output channel, or, for an ONNX
QDQ model, onnxruntime's float32 rescale, `onnxruntime_rounding`) and applied by `requantize` in the references.
These read operators and tensors (scales, zero points, attrs, params), so they live here beside the ops and not in
fixedpoint.py, which holds the integer maths itself on plain numbers and arrays and knows nothing of the IR.
"""

from __future__ import annotations

import numpy as np

from ..fixedpoint import (
    activation_range,
    float32_parts,
    multiply_by_quantized_multiplier,
    onnxruntime_scale,
    quantize_multiplier,
    requantize_float32,
)
from .int4_common import INT4_KERNELS


def weights_int8_symmetric(op, g) -> bool:
    """weights are int8 (or int4 for CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED) with zero point 0
    (symmetric), per tensor or per output channel"""
    w = g.t(op.inputs[1])
    int4_ok = w.dtype == "int4" and op.type in INT4_KERNELS
    return (w.dtype == "int8" or int4_ok) and w.is_const and w.quant is not None and not np.any(w.quant.zero_point)


def bias_int32(op, g) -> bool:
    """bias, when present, is a constant int32 tensor"""
    return len(op.inputs) < 3 or op.inputs[2] is None or (g.t(op.inputs[2]).dtype == "int32"
                                                           and g.t(op.inputs[2]).is_const)


def channel_multipliers(op, g) -> tuple[np.ndarray, np.ndarray]:
    """(M, shift) per output channel from s_x * s_w[c] / s_y, in double precision as TFLite computes it."""
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    assert w.quant is not None
    channels = y.shape[-1]
    w_scales = w.quant.scale if w.quant.scale.size > 1 else np.repeat(w.quant.scale, channels)
    pairs = [quantize_multiplier(float(np.float64(x.scale) * np.float64(s) / np.float64(y.scale))) for s in w_scales]
    return np.array([p[0] for p in pairs], dtype=np.int32), np.array([p[1] for p in pairs], dtype=np.int32)


def onnxruntime_rounding(op) -> bool:
    """attrs["rounding"] == "onnxruntime" (the ONNX QDQ importer sets it): rescale like onnxruntime's MLAS, in
    float32 with ties to even (fixedpoint.requantize_float32), instead of TFLite's fixed-point multiplier."""
    return op.type in ("conv2d", "depthwise_conv2d", "fully_connected") and op.attrs.get("rounding") == "onnxruntime"


def onnxruntime_multipliers(op, g) -> tuple[np.ndarray, np.ndarray]:
    """(m, e) per output channel: onnxruntime's float32 scale (s_x * s_w[c]) / s_y = m * 2^e."""
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    assert w.quant is not None
    w_scales = w.quant.scale if w.quant.scale.size > 1 else np.repeat(w.quant.scale, y.shape[-1])
    return float32_parts(onnxruntime_scale(x.scale, w_scales, y.scale))


def requantize(acc: np.ndarray, op, g) -> np.ndarray:
    """int32 accumulators [..., C] -> int8 outputs, with op.params' multipliers, zero point and clamp."""
    p = op.params
    if onnxruntime_rounding(op):
        y = requantize_float32(acc, p["multiplier"], p["shift"]) + p["output_offset"]
        return np.clip(y, p["act_min"], p["act_max"]).astype(np.int8)
    y = multiply_by_quantized_multiplier(acc, p["multiplier"], p["shift"]) + p["output_offset"]
    return np.clip(y, p["act_min"], p["act_max"]).astype(np.int8)


def prepare_rescale(op, g) -> None:
    """The constants every conv-like op needs: per-channel (M, shift), zero points, activation clamp."""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    multiplier, shift = onnxruntime_multipliers(op, g) if onnxruntime_rounding(op) else channel_multipliers(op, g)
    act_min, act_max = activation_range(op.attrs.get("activation", "NONE"), y.scale, y.zero_point)
    op.params.update(multiplier=multiplier, shift=shift, input_offset=-x.zero_point, output_offset=y.zero_point,
                     act_min=act_min, act_max=act_max)
