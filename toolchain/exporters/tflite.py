"""IR -> int8 .tflite (the inverse of importers/tflite.py), written through edgec.modelbuilder (the flatbuffer
object API of the schema in the tflite-micro wheel).

Its use: a model edgec quantized itself (quantizer.py) becomes a file TFLite Micro runs, so `edgec test` checks
edgec's C against TFLM on edgec's own int8 model, bit for bit, exactly as for an imported int8 model.

Each IR op type maps to one builtin and its options by a function named after the IR op; attributes the IR keeps
outside the op (RESHAPE's shape, PAD's paddings, MEAN's axes, TRANSPOSE's perm, a resize's size) are written
back as the int32 constant inputs TFLite expects. After writing, every op's `attrs["tflite_outputs"]` and
`attrs["tflite_index"]` point into the written file, so the layer-by-layer diff against TFLM finds its tensors.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UnsupportedError
from ..importers import tflite as reader
from ..ir import DTYPES, Graph, Op
from ..modelbuilder import ModelBuilder
from ..ops.relu import relu_builtin

#: the schema's codes, the importer's tables inverted (IR name -> code)
PADDING = {name: code for code, name in reader.PADDING.items()}
ACTIVATION = {name: code for code, name in reader.ACTIVATION.items()}

#: (builder, op, graph, tensor index of each IR input) -> (builtin, TFLite inputs, options table, options)
Writer = Callable[["_Writer", Op, Graph, list[int]], tuple[str, list[int], str | None, dict[str, Any]]]
WRITERS: dict[str, Writer] = {}


def writes(ir_type: str):
    def register(fn: Writer) -> Writer:
        WRITERS[ir_type] = fn
        return fn

    return register


def _act(op: Op) -> int:
    return ACTIVATION[op.attrs.get("activation", "NONE")]


@writes("conv2d")
def conv2d(w, op, g, ins):
    a = op.attrs
    return "CONV_2D", ins, "Conv2DOptions", dict(
        padding=PADDING[a["padding"]], strideH=a["stride_h"], strideW=a["stride_w"],
        dilationHFactor=a.get("dilation_h", 1), dilationWFactor=a.get("dilation_w", 1),
        fusedActivationFunction=_act(op))


@writes("depthwise_conv2d")
def depthwise_conv2d(w, op, g, ins):
    a = op.attrs
    return "DEPTHWISE_CONV_2D", ins, "DepthwiseConv2DOptions", dict(
        padding=PADDING[a["padding"]], strideH=a["stride_h"], strideW=a["stride_w"],
        dilationHFactor=a.get("dilation_h", 1), dilationWFactor=a.get("dilation_w", 1),
        depthMultiplier=a["depth_multiplier"], fusedActivationFunction=_act(op))


@writes("conv_transpose")
def conv_transpose(w, op, g, ins):
    a = op.attrs
    shape = w.int32(f"{op.name}/output_shape", g.t(op.outputs[0]).shape)
    return "TRANSPOSE_CONV", [shape, ins[1], ins[0], *ins[2:]], "TransposeConvOptions", dict(
        padding=PADDING[a["padding"]], strideH=a["stride_h"], strideW=a["stride_w"], fusedActivationFunction=_act(op))


@writes("fully_connected")
def fully_connected(w, op, g, ins):
    return "FULLY_CONNECTED", ins, "FullyConnectedOptions", dict(
        fusedActivationFunction=_act(op), keepNumDims=bool(op.attrs.get("keep_num_dims", False)))


def _pool(op):
    a = op.attrs
    return dict(padding=PADDING[a["padding"]], strideH=a["stride_h"], strideW=a["stride_w"],
                filterHeight=a["filter_h"], filterWidth=a["filter_w"], fusedActivationFunction=_act(op))


@writes("avg_pool2d")
def avg_pool2d(w, op, g, ins):
    return "AVERAGE_POOL_2D", ins, "Pool2DOptions", _pool(op)


@writes("max_pool2d")
def max_pool2d(w, op, g, ins):
    return "MAX_POOL_2D", ins, "Pool2DOptions", _pool(op)


@writes("reshape")
def reshape(w, op, g, ins):
    shape = list(g.t(op.outputs[0]).shape)
    return "RESHAPE", [ins[0], w.int32(f"{op.name}/shape", shape)], "ReshapeOptions", dict(
        newShape=np.asarray(shape, np.int32))


@writes("softmax")
def softmax(w, op, g, ins):
    return "SOFTMAX", ins, "SoftmaxOptions", dict(beta=float(op.attrs.get("beta", 1.0)))


@writes("add")
def add(w, op, g, ins):
    return "ADD", ins, "AddOptions", dict(fusedActivationFunction=_act(op))


@writes("sub")
def sub(w, op, g, ins):
    return "SUB", ins, "SubOptions", dict(fusedActivationFunction=_act(op))


@writes("mul")
def mul(w, op, g, ins):
    return "MUL", ins, "MulOptions", dict(fusedActivationFunction=_act(op))


@writes("mean")
def mean(w, op, g, ins):
    axes = w.int32(f"{op.name}/axes", [int(a) for a in op.attrs.get("axes", [])])
    return "MEAN", [ins[0], axes], "ReducerOptions", dict(keepDims=bool(op.attrs.get("keep_dims", False)))


@writes("pad")
def pad(w, op, g, ins):
    paddings = w.int32(f"{op.name}/paddings", np.asarray(op.attrs["paddings"], np.int32).reshape(-1, 2))
    if op.attrs.get("pad_value") is None:
        return "PAD", [ins[0], paddings], "PadOptions", {}
    y = g.t(op.outputs[0])
    assert y.quant is not None
    value = w.b.const(f"{op.name}/constant_values", np.array([op.attrs["pad_value"]], DTYPES[y.dtype]),
                      scale=y.quant.scale, zero_point=y.quant.zero_point)
    return "PADV2", [ins[0], paddings, value], "PadV2Options", {}


@writes("concat")
def concat(w, op, g, ins):
    return "CONCATENATION", ins, "ConcatenationOptions", dict(axis=int(op.attrs.get("axis", 0)),
                                                              fusedActivationFunction=_act(op))


@writes("logistic")
def logistic(w, op, g, ins):
    return "LOGISTIC", ins, None, {}


@writes("tanh")
def tanh(w, op, g, ins):
    return "TANH", ins, None, {}


@writes("relu")
def relu(w, op, g, ins):
    kind = relu_builtin(op)
    if kind is None:
        raise _Unsupported(f"a clamp to [{op.attrs.get('lo')}, {op.attrs.get('hi')}] has no TFLite builtin")
    return kind, ins, None, {}


@writes("leaky_relu")
def leaky_relu(w, op, g, ins):
    return "LEAKY_RELU", ins, "LeakyReluOptions", dict(alpha=float(op.attrs["alpha"]))


@writes("hard_swish")
def hard_swish(w, op, g, ins):
    return "HARD_SWISH", ins, None, {}


@writes("transpose")
def transpose(w, op, g, ins):
    rank = len(g.t(op.inputs[0]).shape)
    perm = op.attrs.get("perm")
    perm = list(reversed(range(rank))) if perm is None else [int(p) for p in perm]
    return "TRANSPOSE", [ins[0], w.int32(f"{op.name}/perm", perm)], "TransposeOptions", {}


@writes("resize_nearest")
def resize_nearest(w, op, g, ins):
    size = w.int32(f"{op.name}/size", list(g.t(op.outputs[0]).shape[1:3]))
    return "RESIZE_NEAREST_NEIGHBOR", [ins[0], size], "ResizeNearestNeighborOptions", dict(
        alignCorners=bool(op.attrs.get("align_corners", False)),
        halfPixelCenters=bool(op.attrs.get("half_pixel_centers", False)))


@writes("quantize")
def quantize(w, op, g, ins):
    return "QUANTIZE", ins, None, {}


@writes("dequantize")
def dequantize(w, op, g, ins):
    return "DEQUANTIZE", ins, None, {}


# ---- the writer -------------------------------------------------------------------------------------------------

class _Unsupported(Exception):
    pass


class _Writer:
    def __init__(self, g: Graph, description: str):
        self.g = g
        self.b = ModelBuilder(description=description)
        self.index: dict[str, int] = {}
        self.used: set[str] = set(g.tensors)

    def tensor(self, name: str) -> int:
        """The file's index of an IR tensor, written on first use (constants with their data)."""
        if name in self.index:
            return self.index[name]
        t = self.g.t(name)
        dtype = DTYPES[t.dtype]
        q = t.quant
        scale = None if q is None else q.scale
        zp = None if q is None else q.zero_point
        axis = 0 if q is None or q.axis is None else int(q.axis)
        if t.is_const:
            assert t.data is not None
            idx = self.b.const(name, np.asarray(t.data, dtype), scale=scale, zero_point=zp, axis=axis)
        else:
            idx = self.b._tensor(name, t.shape, dtype, scale, zp, axis)
        self.index[name] = idx
        return idx

    def int32(self, name: str, values) -> int:
        """A new int32 constant input (a shape, axes, paddings ...), named uniquely."""
        base, k = name, 1
        while name in self.used:
            name, k = f"{base}_{k}", k + 1
        self.used.add(name)
        return self.b.const(name, np.asarray(values, dtype=np.int32))


def write_tflite(g: Graph, path: Path | str, description: str | None = None) -> Path:
    """Write an int8 (or float32) IR graph as a .tflite TFLite Micro runs; returns the path. Ops get
    `tflite_index` / `tflite_outputs` attrs naming their place in the written file."""
    path = Path(path)
    w = _Writer(g, description or f"{g.name}: quantized by edgec")
    problems = []
    for name in g.inputs:
        w.b.sg.inputs.append(w.tensor(name))
    rows = []
    for op in g.ops:
        fn = WRITERS.get(op.type)
        label = op.attrs.get("label", op.name)
        if fn is None:
            problems.append(f"{label}: IR op {op.type} has no .tflite writer yet")
            continue
        ins = [w.tensor(i) if i is not None else -1 for i in op.inputs]
        try:
            builtin, inputs, options_type, options = fn(w, op, g, ins)
        except _Unsupported as e:
            problems.append(f"{label}: {e}")
            continue
        outs = [w.tensor(o) for o in op.outputs]
        rows.append((op, outs, builtin))
        w.b.op(builtin, inputs, outs, options_type, **options)
    if problems:
        raise UnsupportedError(problems)
    for name in g.outputs:
        w.b.output(w.tensor(name))
    path.write_bytes(w.b.build())
    for k, (op, outs, builtin) in enumerate(rows):
        op.attrs["tflite_op"] = builtin
        op.attrs["tflite_index"] = k
        op.attrs["tflite_outputs"] = outs
    return path
