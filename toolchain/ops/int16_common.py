"""What the int16 (16x8) paths of the operators share: TFLite's 16x8 quantization has int16 activations,
symmetric (zero point 0), int8 symmetric weights and int64 biases (docs/numerics.md, "int16 activations").

The weighted ops (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) accumulate in int64 as TFLite Micro does and
rescale with its 64-bit MultiplyByQuantizedMultiplier, one rounding on a 16-bit multiplier:

    MBQM64(acc, M, s) = (acc * M16 + 2^(14 - s)) >> (15 - s)     (arithmetic shift: ties round up)
    M16 = (M + 2^15) >> 16, or 0x7FFF when M >= 0x7FFF0000          M, s = QuantizeMultiplier(s_x * s_w[c] / s_y)

    y[c] = clamp(zp_y + MBQM64(acc[c], M[c], s[c]), act_min, act_max)   (int16)

TFLite Micro asserts s in [-31, 7] and |acc| < 2^47 there; the constraints below check both at compile time: an
int16 x int8 product is at most 2^22 in magnitude, so a sum of at most 2^24 taps stays below 2^46, and the int64
bias is held below 2^46.
"""

from __future__ import annotations

import numpy as np

from ..fixedpoint import activation_range, quantize_multiplier

INT16_MIN, INT16_MAX = -32768, 32767


def _acts(op, g) -> list:
    return [g.t(t) for t in [*op.inputs, *op.outputs] if t is not None and not g.t(t).is_const]


def io_int16(op, g) -> bool:
    """activations are int16 with one scale and zero point 0 each (TFLite's 16x8 spec: symmetric)"""
    return all(t.dtype == "int16" and t.quant is not None and t.quant.scale.size == 1
               and not np.any(t.quant.zero_point) for t in _acts(op, g))


def weights_int8_symmetric_s16(op, g) -> bool:
    """weights are constant int8 with zero point 0, per tensor or per output channel"""
    w = g.t(op.inputs[1])
    return w.dtype == "int8" and w.is_const and w.quant is not None and not np.any(w.quant.zero_point)


def bias_int64(op, g) -> bool:
    """bias, when present, is a constant int64 tensor (TFLite's 16x8 default; an int32 bias is not supported)
    whose values stay below 2^46 in magnitude (TFLite Micro's 64-bit rescale needs |acc| < 2^47)"""
    if len(op.inputs) < 3 or op.inputs[2] is None:
        return True
    b = g.t(op.inputs[2])
    return b.dtype == "int64" and b.is_const and b.data is not None and int(np.abs(b.data).max(initial=0)) < 2**46


def taps_in_range(op, g) -> bool:
    """every output sums at most 2^24 products (with the bias below 2^46, the int64 sum stays below 2^47)"""
    w = g.t(op.inputs[1])
    taps = int(np.prod(w.shape[1:])) if op.type != "depthwise_conv2d" else int(np.prod(w.shape[1:3]))
    return taps <= 2**24


def rescale_shift_in_range(op, g) -> bool:
    """every rescale s_x * s_w[c] / s_y is below 2^7 and at least 2^-31 (TFLite Micro's 64-bit rescale takes
    shifts -31 to 7)"""
    _, shift = channel_multipliers_s16(op, g)
    return bool(np.all((shift >= -31) & (shift <= 7)))


def channel_multipliers_s16(op, g) -> tuple[np.ndarray, np.ndarray]:
    """(M, shift) per output channel from s_x * s_w[c] / s_y (double precision, as TFLite Micro's per-channel
    Prepare computes it; a per-tensor FULLY_CONNECTED multiplies s_x * s_w in float first, see fully_connected)."""
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    assert w.quant is not None
    channels = y.shape[-1]
    w_scales = w.quant.scale if w.quant.scale.size > 1 else np.repeat(w.quant.scale, channels)
    if op.type == "fully_connected" and w.quant.scale.size == 1:  # GetQuantizedConvolutionMultipler: float product
        ratio = float(np.float64(np.float32(x.scale) * np.float32(w.quant.scale[0])) / np.float64(y.scale))
        pairs = [quantize_multiplier(ratio)] * channels
    else:
        pairs = [quantize_multiplier(float(np.float64(x.scale) * np.float64(s) / np.float64(y.scale)))
                 for s in w_scales]
    return np.array([p[0] for p in pairs], dtype=np.int32), np.array([p[1] for p in pairs], dtype=np.int32)


def prepare_rescale_s16(op, g) -> None:
    """op.params of a 16x8 weighted op: per-channel (M, shift), the activation clamp on the int16 grid."""
    y = g.t(op.outputs[0])
    multiplier, shift = channel_multipliers_s16(op, g)
    act_min, act_max = activation_range(op.attrs.get("activation", "NONE"), y.scale, y.zero_point, "int16")
    op.params.update(multiplier=multiplier, shift=shift, act_min=act_min, act_max=act_max)


def reduced_multiplier(m) -> np.ndarray:
    """TFLite Micro's 16-bit multiplier of the 64-bit rescale: (M + 2^15) >> 16, 0x7FFF for M >= 0x7FFF0000."""
    m = np.asarray(m, dtype=np.int64)
    return np.where(m < 0x7FFF0000, (m + (1 << 15)) >> 16, 0x7FFF)


def mbqm64(acc, multiplier, shift) -> np.ndarray:
    """MultiplyByQuantizedMultiplier(int64 acc, M, s): (acc * M16 + 2^(14 - s)) >> (15 - s), truncated to int32
    (the result fits for the accumulators the constraints allow), broadcasting over per-channel M, s."""
    acc = np.asarray(acc, dtype=np.int64)
    total = 15 - np.asarray(shift, dtype=np.int64)
    y = (acc * reduced_multiplier(multiplier) + (np.int64(1) << (total - 1))) >> total
    return ((y + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def requantize_s16(acc: np.ndarray, op) -> np.ndarray:
    """int64 accumulators [..., C] -> int16 outputs with op.params' multipliers and clamp (zero point 0)."""
    p = op.params
    return np.clip(mbqm64(acc, p["multiplier"], p["shift"]), p["act_min"], p["act_max"]).astype(np.int16)


def weighted_fields_s16(op, ctx) -> dict:
    """The C fields the 16x8 weighted kernels share: clamp, weights, int64 bias, per-channel rescale."""
    p = op.params
    return dict(act_min=p["act_min"], act_max=p["act_max"], weights=ctx.ptr(op.inputs[1]),
                bias=ctx.ptr(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] else "NULL",
                multiplier=ctx.const_array(op, "multiplier", p["multiplier"]),
                shift=ctx.const_array(op, "shift", p["shift"]))
