"""The ONNX importer's QuantizeLinear and DequantizeLinear nodes: the Q/DQ nodes left standing between float ops.

Which nodes fuse into one int8 op (data inputs from DequantizeLinear, the only reader a QuantizeLinear) and the
scales each int8 value carries are decided before any node is mapped (`onnx_graph.Importer`); a fused node reads
through its DequantizeLinear inputs and writes its QuantizeLinear's output, so those map to nothing here. The
QOperator ops QLinearConv and QLinearMatMul map with Conv and MatMul (`onnx_conv`).
"""

from __future__ import annotations

import numpy as np

from .onnx_graph import Node, Unsupported


def _qdq_attrs(n: Node) -> None:
    n.attr("saturate", 1)  # float8 only
    n.attr("output_dtype", 0)  # the output type, which shape inference already gave
    if int(n.attr("block_size", 0)):
        raise Unsupported("blocked quantization (block_size > 0)")
    axis = n.attr("axis", 1)
    if n.imp.quant_of.get(n.node.output[0] if n.node.op_type == "QuantizeLinear" else n.node.input[0]) is None:
        raise Unsupported("a scale or zero point that is not a constant")
    del axis


def QuantizeLinear(n: Node) -> None:
    _qdq_attrs(n)
    if not n.unfused_q:  # its producer already writes the int8 value
        return
    perm = n.layout(0, unit=True)
    n.emit("quantize", [n.input_ir(0, perm)], n.output(0, perm), {})


def DequantizeLinear(n: Node) -> None:
    """A DequantizeLinear read by a float op (or a graph output): a `dequantize` op, or for a constant, the
    dequantized float constant (weight-only quantization)."""
    _qdq_attrs(n)
    imp = n.imp
    out = n.node.output[0]
    readers = imp.readers.get(out, [])
    if all(r.name in imp.fused for r in readers) and out not in imp.graph_outputs:
        return
    src = n.node.input[0]
    if src in imp.consts:
        q = imp.quant_of.get(src)
        if q is None:
            raise Unsupported("a scale or zero point that is not a constant")
        shape = [1] * imp.consts[src].ndim
        if q.axis is not None:
            shape[q.axis] = -1
        real = (imp.consts[src].astype(np.float64) - q.zero_point.reshape(shape)) * q.scale.reshape(shape)
        imp.consts[out] = real.astype(np.float32)
        return
    perm = imp.layout_of(src)
    imp.emit(n.node, "dequantize", [imp.value_in(src, perm)], [imp.define(out, perm)], {})
