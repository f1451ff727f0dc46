"""Sliding-window geometry shared by convolutions and pooling (TFLite's ComputePaddingHeightWidth)."""

from __future__ import annotations

import numpy as np


def out_size(padding: str, in_size: int, k: int, stride: int, dilation: int = 1) -> int:
    effective_k = (k - 1) * dilation + 1
    if padding == "SAME":
        return (in_size + stride - 1) // stride
    return (in_size + stride - effective_k) // stride


def pad_before(in_size: int, out: int, k: int, stride: int, dilation: int = 1) -> int:
    """Padding before the first row/column; an odd total puts the extra one after (TFLite convention)."""
    effective_k = (k - 1) * dilation + 1
    total = max(0, (out - 1) * stride + effective_k - in_size)
    return total // 2


def window_pads(op, g, k_h: int, k_w: int) -> dict:
    """pad_top and pad_left of a sliding-window op, from its input and output shapes and attrs (dilation 1 when
    the attrs have none, as for pooling)."""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    a = op.attrs
    return dict(
        pad_top=pad_before(x.shape[1], y.shape[1], k_h, a["stride_h"], a.get("dilation_h", 1)),
        pad_left=pad_before(x.shape[2], y.shape[2], k_w, a["stride_w"], a.get("dilation_w", 1)))


def valid_padding_attr(op, g) -> bool:
    """padding is SAME or VALID"""
    return op.attrs.get("padding") in ("SAME", "VALID")


def gather_windows(x: np.ndarray, op, g, k_h: int, k_w: int) -> tuple[np.ndarray, np.ndarray]:
    """Every output pixel's input window [N, out_h, out_w, k_h, k_w, C] (a tap outside the input holds the nearest
    edge value: mask it) and the mask [out_h, out_w, k_h, k_w] of the taps that fall inside the input."""
    a, y = op.attrs, g.t(op.outputs[0])
    pads = window_pads(op, g, k_h, k_w)
    n, h, w, c = x.shape
    iy = ((np.arange(y.shape[1]) * a["stride_h"] - pads["pad_top"])[:, None]
          + np.arange(k_h)[None, :] * a.get("dilation_h", 1))
    ix = ((np.arange(y.shape[2]) * a["stride_w"] - pads["pad_left"])[:, None]
          + np.arange(k_w)[None, :] * a.get("dilation_w", 1))
    inside = ((iy >= 0) & (iy < h))[:, None, :, None] & ((ix >= 0) & (ix < w))[None, :, None, :]
    return x[:, np.clip(iy, 0, h - 1)[:, None, :, None], np.clip(ix, 0, w - 1)[None, :, None, :], :], inside
