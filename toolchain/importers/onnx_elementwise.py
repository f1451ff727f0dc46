"""The ONNX importer's element-wise ops and activations: arithmetic of two inputs, one-input activations, Softmax.

A plain element-wise op maps by one line of `onnx.IMPORTERS`: `binary("add")` for an op of two inputs with
ONNX's broadcasting, `unary("tanh")` for an op of one input (IR attributes, when fixed, as keywords:
`unary("relu", lo=0.0, hi=None)`). An op whose IR attributes come from the node gets its own function here,
named after its ONNX op type.
Element-wise ops keep their input's layout, a 1-D conv's UNIT axis included, so no data moves around them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .onnx_graph import Node, OpImporter, Unsupported
from .onnx_layout import hold, identity, without_unit

#: LeakyRelu's alpha when the node has none (the ONNX operator's default); always written into the IR op
ONNX_LEAKY_RELU_ALPHA = 0.01


def binary(ir_type: str) -> OpImporter:
    """The mapping of an element-wise ONNX op of two inputs (numpy broadcasting) to the IR op `ir_type`."""

    def map_binary(n: Node) -> None:
        rank = len(n.out_shape(0))
        perm = n.common_layout([0, 1], rank)
        # a variable input of lower rank broadcasts from the right: then every input is in ONNX order
        # (common_layout)
        ins: list[str | None] = [n.input_ir(k, perm if n.is_const(k) or len(n.shape(k)) == rank
                                            else identity(len(n.shape(k))), rank=rank) for k in (0, 1)]
        n.emit(ir_type, ins, n.output(0, perm), dict(activation="NONE"))

    return map_binary


def _unary(n: Node, ir_type: str, attrs: dict[str, Any]) -> None:
    perm = n.layout(0, unit=True)
    n.emit(ir_type, [n.input_ir(0, perm)], n.output(0, perm), attrs)


def unary(ir_type: str, **attrs: Any) -> OpImporter:
    """The mapping of an element-wise ONNX op of one input to the IR op `ir_type` with these attributes."""

    def map_unary(n: Node) -> None:
        _unary(n, ir_type, dict(attrs))

    return map_unary


def Clip(n: Node) -> None:
    lo = float(n.const_input(1).reshape(-1)[0]) if n.has(1) else None
    hi = float(n.const_input(2).reshape(-1)[0]) if n.has(2) else None
    _unary(n, "relu", dict(lo=lo, hi=hi))


def LeakyRelu(n: Node) -> None:
    _unary(n, "leaky_relu", dict(alpha=float(n.attr("alpha", ONNX_LEAKY_RELU_ALPHA))))


def HardSigmoid(n: Node) -> None:
    _unary(n, "hard_sigmoid", dict(alpha=float(n.attr("alpha", 0.2)), beta=float(n.attr("beta", 0.5))))


def Softmax(n: Node) -> None:
    rank = len(n.shape(0))
    axis = int(n.attr("axis", -1)) % max(rank, 1)
    perm = n.layout(0)
    if perm.index(axis) != rank - 1:  # the IR's softmax runs along the last axis: move the ONNX axis there
        perm = tuple(d for d in range(rank) if d != axis) + (axis,)
    n.emit("softmax", [n.input_ir(0, perm)], n.output(0, perm), dict(beta=1.0))


def Div(n: Node) -> None:
    """Division by a constant (attention's 1 / sqrt(d), a normalization): a `mul` by the reciprocal, computed in
    double and rounded to float32 once (x * (1/c) differs from x / c by at most about one ULP)."""
    if n.quantized:
        raise Unsupported("a quantized (QDQ) Div (supported: float Div by a constant)")
    if n.imp.ir_dtype(n.data_name(0)) != "float32":
        raise Unsupported("an integer Div (supported: float32 Div by a constant)")
    if not n.is_const(1) or n.is_const(0):
        raise Unsupported("the divisor is not a constant (supported: division by a constant, run as a "
                          "multiplication by its reciprocal)")
    c = np.asarray(n.const_input(1), dtype=np.float64)
    if c.dtype.kind != "f" or np.any(c == 0) or not np.all(np.isfinite(c)):
        raise Unsupported("a divisor that is zero or not a finite float")
    rank = len(n.out_shape(0))
    perm = n.common_layout([0, 1], rank)
    x = n.input_ir(0, perm if len(n.shape(0)) == rank else identity(len(n.shape(0))), rank=rank)
    recip = (1.0 / c).astype(np.float32)
    recip = recip.reshape((1,) * (rank - recip.ndim) + recip.shape)
    fits = recip.ndim == len(without_unit(perm))
    c_ir = n.imp.add_const(f"{n.imp.op_name(n.node)}_reciprocal", hold(recip, perm) if fits else recip, None)
    n.emit("mul", [x, c_ir], n.output(0, perm), dict(activation="NONE"))
