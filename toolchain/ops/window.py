"""Sliding-window geometry shared by convolutions and pooling (TFLite's ComputePaddingHeightWidth)."""

from __future__ import annotations


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


def valid_padding_attr(op, g) -> bool:
    """padding is SAME or VALID"""
    return op.attrs.get("padding") in ("SAME", "VALID")
