"""What the float32 side of the operators shares: the dtype rule, fused-activation bounds, C float literals.

Numerics of the float references (`reference_f32`): sums (convolutions, FC, pooling, MEAN, SOFTMAX) accumulate
in float64 and round to float32 once per output, so the reference is the (nearly) correctly rounded result and
measures the accumulation error of the C kernels and of TFLite alike; elementwise ops (ADD, SUB, MUL, clamps,
copies) are computed in float32 directly, which is exactly what the C computes. docs/numerics.md, "Float32".
"""

from __future__ import annotations

import numpy as np

from .window import gather_windows, window_pads

FLT_MAX = float(np.finfo(np.float32).max)

#: a fused activation in float is a plain clamp (TFLite's CalculateActivationRange<float>: NONE clamps to the
#: finite float range, so +-inf become +-FLT_MAX exactly as in TFLite)
ACTIVATION_BOUNDS = {"NONE": (-FLT_MAX, FLT_MAX), "RELU": (0.0, FLT_MAX), "RELU6": (0.0, 6.0),
                     "RELU_N1_TO_1": (-1.0, 1.0)}


def all_float32(op, g) -> bool:
    """inputs (constants included) and outputs are float32"""
    return all(g.t(t).dtype == "float32" for t in [*op.inputs, *op.outputs] if t is not None)


def activation_bounds(op) -> tuple[float, float]:
    return ACTIVATION_BOUNDS[op.attrs.get("activation", "NONE")]


def clamp_f32(y: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """min(max(y, lo), hi) in float32; NaN passes through, like the C comparisons and TFLite's std::min/max."""
    y = np.asarray(y, dtype=np.float32)
    return np.where(y < lo, np.float32(lo), np.where(y > hi, np.float32(hi), y)).astype(np.float32)


def activate(op, y: np.ndarray) -> np.ndarray:
    """Round a float64 (or float32) result to float32, then apply the op's fused activation."""
    return clamp_f32(np.asarray(y).astype(np.float32), *activation_bounds(op))


def c_float(v: float) -> str:
    """A C float literal that parses back to the same float32 (HUGE_VALF and NAN, from math.h, for infinities and
    NaN: Python's `inf`/`nan` are not C). Every float an op prints into C goes through here."""
    f = float(np.float32(v))
    if np.isnan(f):
        return "NAN"
    if np.isinf(f):
        return "HUGE_VALF" if f > 0 else "(-HUGE_VALF)"
    return f"{f!r}f"


def activation_fields(op) -> dict:
    lo, hi = activation_bounds(op)
    return dict(act_min=c_float(lo), act_max=c_float(hi))


# ---- sliding windows (convolutions, depthwise, pooling) --------------------------------------------------------

def window_geometry(op, g, k_h: int, k_w: int) -> dict:
    """The C struct fields of a float sliding-window kernel, from the shapes and attrs alone (no prepare needed)."""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    a = op.attrs
    d_h, d_w = a.get("dilation_h", 1), a.get("dilation_w", 1)
    return dict(batches=x.shape[0], in_h=x.shape[1], in_w=x.shape[2], in_c=x.shape[3],
                out_h=y.shape[1], out_w=y.shape[2], out_c=y.shape[3], k_h=k_h, k_w=k_w,
                stride_h=a["stride_h"], stride_w=a["stride_w"], dilation_h=d_h, dilation_w=d_w,
                **window_pads(op, g, k_h, k_w))


def windows_f64(x: np.ndarray, op, g, k_h: int, k_w: int) -> tuple[np.ndarray, np.ndarray]:
    """Every output pixel's input window as float64 [N, out_h, out_w, k_h, k_w, C] (0 outside the input), and the
    mask [out_h, out_w, k_h, k_w] of the taps that fall inside the input."""
    vals, inside = gather_windows(x.astype(np.float64), op, g, k_h, k_w)
    return np.where(inside[None, :, :, :, :, None], vals, 0.0), inside


def weights_const_f32(op, g) -> bool:
    """weights and bias are float32 constants (a model whose weights are int8 but activations float is a hybrid,
    dynamic-range model: not supported)"""
    consts = [t for t in op.inputs[1:] if t is not None]
    return all(g.t(t).is_const and g.t(t).dtype == "float32" for t in consts)


def groups_divide(op, g) -> bool:
    """input channels are a multiple of the weights' input channels, and output channels of the group count"""
    x, w = g.t(op.inputs[0]), g.t(op.inputs[1])
    if len(x.shape) != 4 or len(w.shape) != 4 or w.shape[3] == 0 or x.shape[3] % w.shape[3]:
        return False
    return w.shape[0] % (x.shape[3] // w.shape[3]) == 0


def float_bias(op, ctx) -> str:
    return ctx.ptr(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] else "NULL"

