"""ONNX -> IR, through the `onnx` package (parsing, checking, shape inference, reference evaluation).

The model is first checked as written (`onnx_checks`), then goes through the ONNX-level passes of `onnx_passes`
(static input shapes, shape inference, constant and batch-norm folding). Then every node is mapped by the
function `IMPORTERS` below names for its ONNX op type; a node the function cannot honour is reported, never
ignored (an attribute the function did not read is reported too), and every problem in the model is raised
together, as for TFLite. The walk over the graph, the IR tensors and the quantization bookkeeping are in
`onnx_graph`; the layouts in `onnx_layout`; the functions, by op family, in `onnx_conv`, `onnx_elementwise`,
`onnx_shape` and `onnx_qdq`.

Layout. ONNX images are NCHW; the IR and the C kernels are NHWC: each ONNX value is held in the IR in a layout
(`onnx_layout`), NHWC for the 4-D values of spatial ops, and an op that needs another layout gets a `transpose`
or a `reshape`. The graph's 4-D inputs and outputs are NHWC in the C (3-D ones stay in ONNX order, NCW);
`Graph.meta` records it:
    meta = {"format": "onnx", "input_layouts": {name: "NCHW"}, "output_layouts": {name: "NCHW"},
            "onnx_inputs": [...], "onnx_outputs": [...], "uint8_as_int8": [...],
            "quantized": bool (Q/DQ or QLinear nodes), "output_scales": {float output: int8 scale it dequantizes}}

Quantized models. QDQ models (QuantizeLinear/DequantizeLinear around float ops, onnxruntime's quantize_static)
are imported as they are, with their scales: a node whose data inputs all come from DequantizeLinear and whose
only reader is a QuantizeLinear becomes one int8 IR op (TFLite's conventions: int8 weights and int32 bias
constants, the activations' scale and zero point on the tensors). Q/DQ nodes elsewhere become `quantize` /
`dequantize` ops. QOperator models (QLinearConv, QLinearMatMul) map the same way. uint8 activations are held
as int8 with the zero point moved by -128 (the same real values, bit for bit).
"""

from __future__ import annotations

from pathlib import Path

import onnx

from ..ir import Graph
from . import (
    onnx_checks,
    onnx_conv,
    onnx_elementwise,
    onnx_passes,
    onnx_qdq,
    onnx_recurrent,
    onnx_shape,
    onnx_transformer,
)
from .onnx_elementwise import binary, unary
from .onnx_graph import Importer, OpImporter

#: ONNX op type -> the function that maps one such node to IR ops. A new op's mapping goes here: a plain
#: element-wise op is one line (`unary` / `binary` and its IR op type), any other op a function in its family's
#: module, named after the op.
IMPORTERS: dict[str, OpImporter] = {
    # convolutions, matrix products, pooling, reductions
    "Conv": onnx_conv.Conv,
    "QLinearConv": onnx_conv.QLinearConv,
    "ConvTranspose": onnx_conv.ConvTranspose,
    "Gemm": onnx_conv.Gemm,
    "MatMul": onnx_conv.MatMul,
    "QLinearMatMul": onnx_conv.QLinearMatMul,
    "MaxPool": onnx_conv.MaxPool,
    "AveragePool": onnx_conv.AveragePool,
    "GlobalAveragePool": onnx_conv.GlobalAveragePool,
    "GlobalMaxPool": onnx_conv.GlobalMaxPool,
    "ReduceMean": onnx_conv.ReduceMean,
    "BatchNormalization": onnx_conv.BatchNormalization,
    # recurrent layers
    "LSTM": onnx_recurrent.LSTM,
    "GRU": onnx_recurrent.GRU,
    # element-wise arithmetic and activations
    "Add": binary("add"),
    "Sub": binary("sub"),
    "Mul": binary("mul"),
    "Div": onnx_elementwise.Div,
    "Relu": unary("relu", lo=0.0, hi=None),
    "Sigmoid": unary("logistic"),
    "Tanh": unary("tanh"),
    "HardSwish": unary("hard_swish"),
    "Abs": unary("abs"),
    "Clip": onnx_elementwise.Clip,
    "LeakyRelu": onnx_elementwise.LeakyRelu,
    "HardSigmoid": onnx_elementwise.HardSigmoid,
    "Softmax": onnx_elementwise.Softmax,
    # shapes and layouts
    "Reshape": onnx_shape.Reshape,
    "Flatten": onnx_shape.Flatten,
    "Squeeze": onnx_shape.Squeeze,
    "Unsqueeze": onnx_shape.Unsqueeze,
    "Identity": onnx_shape.Identity,
    "Transpose": onnx_shape.Transpose,
    "Concat": onnx_shape.Concat,
    "Pad": onnx_shape.Pad,
    "Resize": onnx_shape.Resize,
    # transformers (onnx_transformer: also the rewrites of older exports' layer-norm and erf-GELU chains)
    "LayerNormalization": onnx_transformer.LayerNormalization,
    "Gelu": onnx_transformer.Gelu,
    "Gather": onnx_transformer.Gather,
    "Slice": onnx_transformer.Slice,
    "Split": onnx_transformer.Split,
    # the Q/DQ nodes that do not fuse into an int8 op
    "QuantizeLinear": onnx_qdq.QuantizeLinear,
    "DequantizeLinear": onnx_qdq.DequantizeLinear,
}


def import_onnx(path: Path, input_shapes: dict[str, tuple[int, ...]] | None = None) -> Graph:
    """Read an ONNX model (opsets 13-21) into the IR: NHWC activations, TFLite-layout constants."""
    model = onnx_passes.load(path)
    return import_onnx_model(model, path, input_shapes)


def import_onnx_model(model: onnx.ModelProto, path: Path | str = "model.onnx",
                      input_shapes: dict[str, tuple[int, ...]] | None = None) -> Graph:
    """The same from a ModelProto in memory (tests, and models built with onnx.helper)."""
    path = Path(path)
    onnx_checks.check_structure(model, path, input_shapes)
    onnx_checks.check_shapes(onnx_passes.set_input_shapes(model, input_shapes, path), path)
    model = onnx_transformer.fuse_patterns(onnx_passes.canonicalize(model, input_shapes, path))
    return Importer(model, path, IMPORTERS).run()


__all__ = ["import_onnx", "import_onnx_model", "IMPORTERS"]
