"""ONNX -> IR, through the `onnx` package (parsing, checking, shape inference, reference evaluation).

The model first goes through the ONNX-level passes of `onnx_passes` (static input shapes, shape inference,
constant and batch-norm folding). Then every node is mapped by a plain function named after its ONNX op
type; a node the function cannot honour is reported, never ignored (an attribute the function did not read is
reported too), and every problem in the model is raised together, as for TFLite.

Layout. ONNX images are NCHW; the IR and the C kernels are NHWC. Each ONNX value is held in the IR in a layout
`perm`: the IR tensor is `onnx_value.transpose(perm)`. 4-D values of spatial ops live in NHWC, perm (0,2,3,1);
the rest in ONNX order, perm identity. 3-D values of 1-D window ops (Conv1d, pool1d: [N, C, W]) live in NW1C,
perm (0, UNIT, 2, 1): the IR tensor [N, 1, W, C], so the 2-D ops run them with H = 1 (a UNIT entry is a new axis
of size 1; ops that do not handle it see the same bytes as [N, W, C]). An op that needs another layout gets a
`transpose` (or, when only size-1 dimensions move, a `reshape`, which moves no data); an ONNX Transpose is folded
into the layout where it can be (no op at all). The graph's 4-D inputs and outputs are NHWC in the C (3-D ones
stay in ONNX order, NCW); `Graph.meta` records it:
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

import re
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import InputError, UnsupportedError
from ..ir import Graph, Op, Quant, Tensor
from ..ops.resize_nearest import source_indices
from ..ops.window import out_size, pad_before
from . import onnx_checks, onnx_passes

ONNX_DTYPES: dict[int, str] = {TensorProto.FLOAT: "float32", TensorProto.INT8: "int8", TensorProto.UINT8: "uint8",
               TensorProto.INT16: "int16", TensorProto.INT32: "int32", TensorProto.INT64: "int64",
               TensorProto.BOOL: "bool"}
NHWC = (0, 2, 3, 1)
#: a layout entry that is no ONNX dimension but a new axis of size 1 in the IR tensor
UNIT = -1
#: 1-D spatial values: ONNX [N, C, W] held as the IR tensor [N, 1, W, C] (the 2-D ops' NHWC with H = 1)
NW1C = (0, UNIT, 2, 1)
SPATIAL_OPS = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool", "Resize",
               "QLinearConv", "BatchNormalization"}


class Unsupported(Exception):
    """Something in one node the importer cannot honour (collected, then reported with all others)."""


class _FollowOn(Exception):
    """A node reads a value whose producer was already reported: not a problem of its own."""


def _identity(rank: int) -> tuple[int, ...]:
    return tuple(range(rank))


def _same_order(perm: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    """onnx_value.transpose(perm) holds its elements in ONNX order: only size-1 dimensions move."""
    moved = _order(perm, shape)
    return moved == sorted(moved)


def _order(perm: tuple[int, ...], shape: tuple[int, ...]) -> list[int]:
    """The ONNX dimensions of size > 1 in the order the IR tensor of layout perm holds them: two layouts with the
    same order hold the same bytes (a `reshape` converts, no data moves)."""
    return [p for p in perm if p != UNIT and shape[p] != 1]


def _core(perm: tuple[int, ...]) -> tuple[int, ...]:
    """The layout without its UNIT axes: a permutation of the ONNX dimensions, with the same element order."""
    return tuple(p for p in perm if p != UNIT)


def _held_shape(shape: tuple[int, ...], perm: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(1 if p == UNIT else int(shape[p]) for p in perm)


def _hold(a: np.ndarray, perm: tuple[int, ...]) -> np.ndarray:
    """An ONNX-order array in layout perm (a UNIT entry inserts an axis of size 1)."""
    return a.transpose(_core(perm)).reshape(_held_shape(a.shape, perm))


def _relative(src: tuple[int, ...], dst: tuple[int, ...]) -> tuple[int, ...]:
    """The perm R with v.transpose(src).transpose(R) == v.transpose(dst) (UNIT axes: in both or in neither)."""
    return tuple(src.index(d) for d in dst)


# ---- one function per ONNX op: (node context) -> None, emitting IR ops through the context ------------------

IMPORTERS: dict[str, Any] = {}


def onnx_op(fn):
    IMPORTERS[fn.__name__] = fn
    return fn


def _hw_attr(n: _Node, name: str, default: list[int]) -> list[int]:
    """A window attribute in its 2-D form: a 1-D op's [w] becomes [1, w] (pads [b, e]: [0, b, 0, e]), so the
    2-D IR ops run it with H = 1."""
    value = [int(v) for v in n.attr(name, default)]
    if len(n.shape(0)) == 3 and name in n.attrs:
        if name == "pads" and len(value) == 2:
            return [0, value[0], 0, value[1]]
        if name != "pads" and len(value) == 1:
            return [1, value[0]]
    return value


def _spatial(n: _Node, what: str = "input") -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(input shape, output shape, IR layout) of a window op, shapes in 2-D NCHW form: a 1-D op's [N, C, W] is
    [N, C, 1, W], held as [N, 1, W, C] (layout NW1C)."""
    shape, out = n.shape(0), n.out_shape(0)
    if len(shape) == 4:
        return shape, out, NHWC
    if len(shape) == 3 and len(out) == 3:
        return (shape[0], shape[1], 1, shape[2]), (out[0], out[1], 1, out[2]), NW1C
    raise Unsupported(f"{what} of rank {len(shape)}; edgec supports the 1-D and 2-D forms (3-D NCW or 4-D NCHW "
                      "input)")


def _conv_pads(n: _Node, in_hw: tuple[int, int], k_eff: tuple[int, int], strides: tuple[int, int],
               out_hw: tuple[int, int]) -> list[int]:
    """[top, left, bottom, right] from pads or auto_pad (SAME_UPPER puts an odd extra after, SAME_LOWER before)."""
    auto = n.attr("auto_pad", "NOTSET")
    pads = _hw_attr(n, "pads", [0, 0, 0, 0])
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        totals = [max(0, (o - 1) * s + k - i) for i, k, s, o in zip(in_hw, k_eff, strides, out_hw)]
        before = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in totals]
        return [before[0], before[1], totals[0] - before[0], totals[1] - before[1]]
    if auto == "VALID":
        return [0, 0, 0, 0]
    if auto != "NOTSET":
        raise Unsupported(f"auto_pad {auto}")
    if len(pads) != 4 or min(pads) < 0:
        raise Unsupported(f"pads {pads} (4 non-negative values for a 2-D window)")
    return pads


def _window_padding(in_hw: tuple[int, int], k_eff: tuple[int, int], strides: tuple[int, int],
                    out_hw: tuple[int, int], pads: list[int]) -> str | None:
    """SAME or VALID when the IR's padding rule reproduces these pads and output size; None otherwise."""
    if not any(pads):
        return "VALID"
    for i, k, s, o, before in zip(in_hw, k_eff, strides, out_hw, pads[:2]):
        if o != out_size("SAME", i, k, s) or before != pad_before(i, o, k, s):
            return None
    return "SAME"


def _window(n: _Node, x_shape: tuple[int, ...], out_shape: tuple[int, ...], kernel: tuple[int, int]
            ) -> tuple[tuple[int, int], tuple[int, int], list[int], str | None]:
    strides = tuple(_hw_attr(n, "strides", [1, 1]))
    dil = tuple(_hw_attr(n, "dilations", [1, 1]))
    if len(strides) != 2 or len(dil) != 2 or min(strides) < 1 or min(dil) < 1:
        raise Unsupported(f"strides {list(strides)} / dilations {list(dil)} (two positive values each)")
    in_hw, out_hw = (x_shape[2], x_shape[3]), (out_shape[2], out_shape[3])
    k_eff = ((kernel[0] - 1) * dil[0] + 1, (kernel[1] - 1) * dil[1] + 1)
    pads = _conv_pads(n, in_hw, k_eff, strides, out_hw)  # type: ignore[arg-type]
    return strides, dil, pads, _window_padding(in_hw, k_eff, strides, out_hw, pads)  # type: ignore[return-value]


def _per_output_channel(quant: Quant | None, axis: int) -> None:
    if quant is not None and quant.axis is not None and quant.axis != axis:
        raise Unsupported(f"weights quantized per channel along axis {quant.axis}; edgec needs the output-channel "
                          f"axis ({axis})")


def _rounding(n: _Node) -> dict[str, str]:
    """A quantized Conv/Gemm/MatMul rescales like onnxruntime (float32 scale, ties to even: docs/onnx.md), which
    the int8 conv, depthwise and fully connected kernels do on request."""
    return dict(rounding="onnxruntime") if n.quantized else {}


@onnx_op
def Conv(n: _Node) -> None:
    _conv(n, x=0, w=1, b=2)


@onnx_op
def QLinearConv(n: _Node) -> None:
    # x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B: the quantization comes with the inputs
    _conv(n, x=0, w=3, b=8)


def _conv(n: _Node, x: int, w: int, b: int) -> None:
    x_shape, y_shape, io = _spatial(n)
    weights, w_quant = n.weight(w)
    if weights.ndim != len(n.shape(0)):
        raise Unsupported(f"weights of rank {weights.ndim}")
    if weights.ndim == 3:  # 1-D: [M, C/g, k] is the 2-D [M, C/g, 1, k]
        weights = weights[:, :, None, :]
    m, cg, kh, kw = weights.shape
    _per_output_channel(w_quant, 0)
    kernel = tuple(_hw_attr(n, "kernel_shape", [kh, kw]))
    if kernel != (kh, kw):
        raise Unsupported(f"kernel_shape {list(kernel)} differs from the weights' {[kh, kw]}")
    group = int(n.attr("group", 1))
    c = x_shape[1]
    if group < 1 or c % group or m % group or cg * group != c:
        raise Unsupported(f"group {group} with {c} input channels and weights {list(weights.shape)}")
    strides, dil, pads, padding = _window(n, x_shape, y_shape, (kh, kw))
    xin = n.input_ir(x, io)
    if padding is None:
        xin = n.pad(xin, x_shape, pads)
        padding = "VALID"
    bias = n.bias(b, m) if n.has(b) else None
    attrs: dict[str, Any] = dict(padding=padding, stride_h=strides[0], stride_w=strides[1], dilation_h=dil[0],
                                 dilation_w=dil[1], activation="NONE", **_rounding(n))
    if group > 1 and group == c and cg == 1:
        # depthwise: ONNX output channel o reads input channel o // (m / c): TFLite's o = i * multiplier + k
        wname = n.const(weights, (1, 2, 3, 0), w_quant, "weights")  # [M, 1, kh, kw] -> [1, kh, kw, M]
        n.emit("depthwise_conv2d", [xin, wname, bias], n.output(0, io), attrs | dict(depth_multiplier=m // c))
        return
    wname = n.const(weights, (0, 2, 3, 1), w_quant, "weights")  # [M, C/g, kh, kw] -> [M, kh, kw, C/g]
    n.emit("conv2d", [xin, wname, bias], n.output(0, io), attrs)


@onnx_op
def ConvTranspose(n: _Node) -> None:
    x_shape, y_shape, io = _spatial(n)
    weights, w_quant = n.weight(1)
    if weights.ndim != len(n.shape(0)):
        raise Unsupported(f"weights of rank {weights.ndim}")
    if weights.ndim == 3:  # 1-D: [C_in, C_out, k] is the 2-D [C_in, C_out, 1, k]
        weights = weights[:, :, None, :]
    c, m, kh, kw = weights.shape  # [C_in, C_out / group, kh, kw]
    if int(n.attr("group", 1)) != 1:
        raise Unsupported("group > 1 (supported: group 1)")
    if _hw_attr(n, "dilations", [1, 1]) != [1, 1]:
        raise Unsupported("dilations other than 1")
    _per_output_channel(w_quant, 1)
    n.attr("kernel_shape")
    n.attr("output_shape")  # shape inference turned it into the output tensor's shape
    n.attr("output_padding")  # extra output rows/columns after: the output size says it
    strides = tuple(_hw_attr(n, "strides", [1, 1]))
    # out = s * (in - 1) + output_padding + k - pad_begin - pad_end. The IR op crops pad_top/pad_left and keeps
    # as many rows/columns as the output has, so only the leading pads matter once the output size is known.
    auto = n.attr("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        totals = [max(0, s * (i - 1) + k - o) for i, s, k, o in zip(x_shape[2:], strides, (kh, kw), y_shape[2:])]
        before = [t // 2 if auto == "SAME_UPPER" else t - t // 2 for t in totals]
    elif auto in ("NOTSET", "VALID"):
        pads = _hw_attr(n, "pads", [0, 0, 0, 0]) if auto == "NOTSET" else [0, 0, 0, 0]
        if len(pads) != 4 or min(pads) < 0:
            raise Unsupported(f"pads {pads}")
        before = pads[:2]
    else:
        raise Unsupported(f"auto_pad {auto}")
    wname = n.const(weights, (1, 2, 3, 0), w_quant, "weights")  # [C_in, C_out, kh, kw] -> [C_out, kh, kw, C_in]
    bias = n.bias(2, m) if n.has(2) else None
    n.emit("conv_transpose", [n.input_ir(0, io), wname, bias], n.output(0, io),
           dict(padding="EXPLICIT", pad_top=before[0], pad_left=before[1], stride_h=strides[0],
                stride_w=strides[1], activation="NONE"))


@onnx_op
def Gemm(n: _Node) -> None:
    # transA: A is [K, M]; the IR tensor of A in layout (1, 0) is A^T (a transpose op, or none where A's
    # producer already holds it so)
    a_layout = (1, 0) if n.attr("transA", 0) else (0, 1)
    alpha, beta = float(n.attr("alpha", 1.0)), float(n.attr("beta", 1.0))
    weights, w_quant = n.weight(1)
    if weights.ndim != 2 or len(n.shape(0)) != 2:
        raise Unsupported("A and B must be 2-D")
    if not n.attr("transB", 0):
        weights = weights.T  # [K, N] -> [N, K]
        w_quant = _moved_axis(w_quant, (1, 0))
    if alpha != 1.0:
        if w_quant is not None:
            raise Unsupported("alpha != 1 on quantized weights")
        weights = weights * np.float32(alpha)
    bias = None
    if n.has(2):
        if beta != 1.0 and n.quantized:
            raise Unsupported("beta != 1 on a quantized bias")
        bias = n.bias(2, weights.shape[0], factor=beta)
    _per_output_channel(w_quant, 0)
    wname = n.const(np.ascontiguousarray(weights), (0, 1), w_quant, "weights")
    n.emit("fully_connected", [n.input_ir(0, a_layout), wname, bias], n.output(0, (0, 1)),
           dict(activation="NONE", **_rounding(n)))


@onnx_op
def MatMul(n: _Node) -> None:
    _matmul(n, a=0, b=1)


@onnx_op
def QLinearMatMul(n: _Node) -> None:
    _matmul(n, a=0, b=3)  # a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp


def _matmul(n: _Node, a: int, b: int) -> None:
    if not n.is_const(b):
        raise Unsupported("B is not a constant (edgec supports MatMul by constant weights)")
    weights, w_quant = n.weight(b)
    a_shape = n.shape(a)
    if weights.ndim != 2 or len(a_shape) < 2:
        raise Unsupported(f"A of rank {len(a_shape)} and B of rank {weights.ndim} (supported: A of rank >= 2, "
                          "B 2-D)")
    _per_output_channel(w_quant, 1)
    wname = n.const(np.ascontiguousarray(weights.T), (0, 1), _moved_axis(w_quant, (1, 0)), "weights")
    rank = len(a_shape)
    n.emit("fully_connected", [n.input_ir(a, _identity(rank)), wname, None], n.output(0, _identity(rank)),
           dict(activation="NONE", keep_num_dims=rank > 2, **_rounding(n)))


def _binary(n: _Node, ir_type: str) -> None:
    rank = len(n.out_shape(0))
    perm = n.common_layout([0, 1], rank)
    # a variable input of lower rank broadcasts from the right: then every input is in ONNX order (common_layout)
    ins: list[str | None] = [n.input_ir(k, perm if n.is_const(k) or len(n.shape(k)) == rank
                                        else _identity(len(n.shape(k))), rank=rank) for k in (0, 1)]
    n.emit(ir_type, ins, n.output(0, perm), dict(activation="NONE"))


@onnx_op
def Add(n: _Node) -> None:
    _binary(n, "add")


@onnx_op
def Sub(n: _Node) -> None:
    _binary(n, "sub")


@onnx_op
def Mul(n: _Node) -> None:
    _binary(n, "mul")


def _unary(n: _Node, ir_type: str, attrs: dict | None = None) -> None:
    perm = n.layout(0, unit=True)
    n.emit(ir_type, [n.input_ir(0, perm)], n.output(0, perm), attrs or {})


@onnx_op
def Relu(n: _Node) -> None:
    _unary(n, "relu", dict(lo=0.0, hi=None))


@onnx_op
def Clip(n: _Node) -> None:
    lo = float(n.const_input(1).reshape(-1)[0]) if n.has(1) else None
    hi = float(n.const_input(2).reshape(-1)[0]) if n.has(2) else None
    _unary(n, "relu", dict(lo=lo, hi=hi))


@onnx_op
def LeakyRelu(n: _Node) -> None:
    _unary(n, "leaky_relu", dict(alpha=float(n.attr("alpha", 0.01))))


@onnx_op
def Sigmoid(n: _Node) -> None:
    _unary(n, "logistic")


@onnx_op
def Tanh(n: _Node) -> None:
    _unary(n, "tanh")


@onnx_op
def HardSigmoid(n: _Node) -> None:
    _unary(n, "hard_sigmoid", dict(alpha=float(n.attr("alpha", 0.2)), beta=float(n.attr("beta", 0.5))))


@onnx_op
def HardSwish(n: _Node) -> None:
    _unary(n, "hard_swish")


@onnx_op
def Softmax(n: _Node) -> None:
    rank = len(n.shape(0))
    axis = int(n.attr("axis", -1)) % max(rank, 1)
    perm = n.layout(0)
    if perm.index(axis) != rank - 1:  # the IR's softmax runs along the last axis: move the ONNX axis there
        perm = tuple(d for d in range(rank) if d != axis) + (axis,)
    n.emit("softmax", [n.input_ir(0, perm)], n.output(0, perm), dict(beta=1.0))


def _pool(n: _Node, ir_type: str) -> None:
    x_shape, y_shape, io = _spatial(n)
    if len(n.node.output) > 1 and n.node.output[1]:
        raise Unsupported("the Indices output (supported: the pooled values only)")
    kernel = tuple(_hw_attr(n, "kernel_shape", []))
    if len(kernel) != 2:
        raise Unsupported(f"kernel_shape {list(kernel)} (a 1-D or 2-D window)")
    strides, dil, pads, padding = _window(n, x_shape, y_shape, kernel)  # type: ignore[arg-type]
    n.attr("ceil_mode", 0)  # the output size from shape inference already follows it
    if dil != (1, 1):
        raise Unsupported(f"dilations {list(dil)} (supported: 1)")
    if n.attr("storage_order", 0):
        raise Unsupported("storage_order = 1")
    # windows that reach past the explicit padding (ceil_mode) read beyond the input
    extra = [max(0, (o - 1) * s + k - (i + pb + pa)) for i, k, s, o, pb, pa in
             zip(x_shape[2:], kernel, strides, y_shape[2:], pads[:2], pads[2:])]
    include_pad = ir_type == "avg_pool2d" and bool(n.attr("count_include_pad", 0))
    xin = n.input_ir(0, io)
    divisor = None
    if any(extra):
        padding = None  # pad the overhang too (lowest value for max, zeros for average)
    if ir_type == "avg_pool2d" and (padding is None or include_pad and any(pads)):
        # ONNX divides each window's sum by its taps inside the input (count_include_pad = 0) or inside the
        # padded input (= 1), never by the overhang of ceil_mode. A VALID average over the zero-padded input
        # divides by kh * kw; a constant per output position, kh * kw / taps, turns that into ONNX's mean.
        counts = [_taps(i, k, s, o, pb, pa if include_pad else 0, pb if include_pad else 0)
                  for i, k, s, o, pb, pa in zip(x_shape[2:], kernel, strides, y_shape[2:], pads[:2], pads[2:])]
        if min(counts[0].min(), counts[1].min()) < 1:
            raise Unsupported(f"pads {pads}: a window that holds padding only")
        ratio = kernel[0] * kernel[1] / np.outer(counts[0], counts[1])
        if not np.allclose(ratio, 1.0):
            if n.quantized:
                raise Unsupported(f"int8 windows of unequal size (pads {pads}, count_include_pad "
                                  f"{int(include_pad)}, ceil_mode {int(n.attr('ceil_mode', 0))}): TFLite's int8 "
                                  "average pool divides by the taps inside the input only with SAME-like padding")
            divisor = ratio.astype(np.float32).reshape(1, *ratio.shape, 1)
        padding = None
    if padding is None:
        xin = n.pad(xin, x_shape, [pads[0], pads[1], pads[2] + extra[0], pads[3] + extra[1]],
                    lowest=ir_type == "max_pool2d")
        padding = "VALID"
    attrs = dict(padding=padding, stride_h=strides[0], stride_w=strides[1], filter_h=kernel[0],
                 filter_w=kernel[1], activation="NONE")
    if divisor is None:
        n.emit(ir_type, [xin], n.output(0, io), attrs)
        return
    y = n.output(0, io)[0]
    t = n.imp.tensors[y]
    mean = n.imp.new_tensor(f"{y}__window_mean", t.shape, t.dtype, None)
    n.emit(ir_type, [xin], [mean], attrs)
    n.emit("mul", [mean, n.imp.add_const(f"{n.imp.op_name(n.node)}_divisor", divisor, None)], [y],
           dict(activation="NONE"))


def _taps(size: int, k: int, s: int, out: int, before: int, pad_after: int, pad_before: int) -> np.ndarray:
    """Per output index along one axis: how many window taps fall in [-pad_before, size + pad_after) (the
    input, or the input and its explicit pads), for windows starting at o * s - before."""
    start = np.arange(out) * s - before
    return np.minimum(start + k, size + pad_after) - np.maximum(start, -pad_before)


@onnx_op
def MaxPool(n: _Node) -> None:
    _pool(n, "max_pool2d")


@onnx_op
def AveragePool(n: _Node) -> None:
    _pool(n, "avg_pool2d")


@onnx_op
def GlobalAveragePool(n: _Node) -> None:
    _, _, io = _spatial(n)
    # quantized: onnxruntime's QLinearGlobalAveragePool rescales in float32 like its QLinearConv (docs/onnx.md)
    n.emit("mean", [n.input_ir(0, io)], n.output(0, io), dict(axes=[1, 2], keep_dims=True, **_rounding(n)))


@onnx_op
def GlobalMaxPool(n: _Node) -> None:
    x_shape, _, io = _spatial(n)
    n.emit("max_pool2d", [n.input_ir(0, io)], n.output(0, io),
           dict(padding="VALID", stride_h=1, stride_w=1, filter_h=x_shape[2], filter_w=x_shape[3],
                activation="NONE"))


@onnx_op
def ReduceMean(n: _Node) -> None:
    rank = len(n.shape(0))
    axes_given = n.const_input(1).reshape(-1).tolist() if n.has(1) else n.attr("axes", None)
    keep = bool(n.attr("keepdims", 1))
    noop = n.attr("noop_with_empty_axes", 0)  # read always: an attribute nobody reads is reported unsupported
    if not axes_given:
        if noop:
            perm = n.layout(0)
            n.emit("reshape", [n.input_ir(0, perm)], n.output(0, perm), {})
            return
        axes_given = list(range(rank))
    axes = sorted({int(a) % rank for a in axes_given})
    perm = n.layout(0)
    ir_axes = [perm.index(a) for a in axes]
    if keep:
        out_perm = perm
    else:  # the kept ONNX dims, in the order the IR holds them
        kept = [p for p in perm if p not in axes]
        out_perm = tuple(sorted(kept).index(p) for p in kept)
    n.emit("mean", [n.input_ir(0, perm)], n.output(0, out_perm), dict(axes=ir_axes, keep_dims=keep))


def _reshape(n: _Node) -> None:
    """Any op that only renames the shape: the input is read in ONNX element order, the output is plain."""
    shape = n.shape(0)
    perm = n.layout(0)
    src = perm if _same_order(perm, shape) else _identity(len(shape))
    n.emit("reshape", [n.input_ir(0, src)], n.output(0, _identity(len(n.out_shape(0)))), {})


@onnx_op
def Reshape(n: _Node) -> None:
    n.attr("allowzero", 0)  # shape inference resolved the output shape with it
    _reshape(n)


@onnx_op
def Flatten(n: _Node) -> None:
    n.attr("axis", 1)
    _reshape(n)


@onnx_op
def Squeeze(n: _Node) -> None:
    _reshape(n)


@onnx_op
def Unsqueeze(n: _Node) -> None:
    _reshape(n)


@onnx_op
def Identity(n: _Node) -> None:  # only left where it writes a graph output (onnx_passes.remove_identities)
    perm = n.layout(0)
    n.emit("reshape", [n.input_ir(0, perm)], n.output(0, perm), {})


@onnx_op
def Transpose(n: _Node) -> None:
    rank = len(n.shape(0))
    t = tuple(int(p) for p in n.attr("perm", list(reversed(range(rank)))))
    src = n.layout(0)
    candidates = [_identity(rank)] + ([NHWC] if rank == 4 else [])
    for q in candidates:
        # IR input = onnx_in.transpose(src); wanted IR output = onnx_in.transpose(t).transpose(q)
        r = _relative(src, tuple(t[j] for j in q))
        if r == _identity(rank):
            n.alias(0, src, q)  # the transpose is only a change of layout: no op
            return
    q = _identity(rank)
    r = _relative(src, t)  # IR output = IR input.transpose(r)
    ir_in_shape = tuple(n.shape(0)[p] for p in src)
    if _same_order(r, ir_in_shape):  # only size-1 dimensions move: no data movement
        n.emit("reshape", [n.input_ir(0, src)], n.output(0, q), {})
        return
    n.emit("transpose", [n.input_ir(0, src)], n.output(0, q), dict(perm=list(r)))


@onnx_op
def Concat(n: _Node) -> None:
    rank = len(n.out_shape(0))
    axis = int(n.attr("axis")) % rank
    ks = [k for k in range(len(n.node.input)) if n.has(k)]
    perm = n.common_layout(ks, rank)
    n.emit("concat", [n.input_ir(k, perm) for k in ks], n.output(0, perm), dict(axis=perm.index(axis)))


@onnx_op
def Pad(n: _Node) -> None:
    mode = n.attr("mode", "constant")
    if mode != "constant":
        raise Unsupported(f"mode {mode} (supported: constant)")
    rank = len(n.shape(0))
    pads = [int(p) for p in n.const_input(1).reshape(-1)]
    axes = [int(a) % rank for a in n.const_input(3).reshape(-1)] if n.has(3) else list(range(rank))
    if len(pads) != 2 * len(axes):
        raise Unsupported(f"pads {pads} for axes {axes}")
    before, after = [0] * rank, [0] * rank
    for k, a in enumerate(axes):
        before[a], after[a] = pads[k], pads[len(axes) + k]
    if min(before + after) < 0:
        raise Unsupported(f"negative pads {pads} (cropping)")
    value = float(n.const_input(2).reshape(-1)[0]) if n.has(2) else 0.0
    perm = n.layout(0)
    attrs: dict[str, Any] = dict(paddings=[[before[p], after[p]] for p in perm])
    if value != 0.0:
        attrs["pad_value"] = n.quantize_scalar(value)
    n.emit("pad", [n.input_ir(0, perm)], n.output(0, perm), attrs)


@onnx_op
def BatchNormalization(n: _Node) -> None:
    raise Unsupported("a BatchNormalization that cannot be folded (training mode, or statistics that are not "
                      "constants)")


@onnx_op
def Resize(n: _Node) -> None:
    mode = n.attr("mode", "nearest")
    if mode != "nearest":
        raise Unsupported(f"mode {mode} (supported: nearest)")
    x_shape, y_shape = n.shape(0), n.out_shape(0)
    if len(x_shape) != 4:
        raise Unsupported(f"input of rank {len(x_shape)}; edgec supports the 2-D form (4-D NCHW input) only")
    if x_shape[:2] != y_shape[:2]:
        raise Unsupported("resizing the batch or channel axis (supported: H and W)")
    for name, default in (("antialias", 0), ("exclude_outside", 0), ("keep_aspect_ratio_policy", "stretch"),
                          ("cubic_coeff_a", -0.75), ("extrapolation_value", 0.0), ("axes", None)):
        n.attr(name, default)
    ctm = n.attr("coordinate_transformation_mode", "half_pixel")
    if ctm == "tf_crop_and_resize":
        raise Unsupported("coordinate_transformation_mode tf_crop_and_resize")
    n.attr("nearest_mode", "round_prefer_floor")
    # which source pixel ONNX reads for each output pixel, asked of the ONNX reference itself
    src = _resize_sources(n, x_shape, y_shape)
    for align, half in ((False, False), (False, True), (True, False)):
        if all(np.array_equal(src[k], source_indices(x_shape[2 + k], y_shape[2 + k], align, half)) for k in (0, 1)):
            n.emit("resize_nearest", [n.input_ir(0, NHWC)], n.output(0, NHWC),
                   dict(align_corners=align, half_pixel_centers=half))
            return
    raise Unsupported(f"coordinate_transformation_mode {ctm} with nearest_mode {n.attr('nearest_mode')} picks "
                      "source pixels none of TFLite's nearest-neighbour modes picks (align_corners, "
                      "half_pixel_centers)")


def _resize_sources(n: _Node, x_shape: tuple[int, ...], y_shape: tuple[int, ...]) -> list[np.ndarray]:
    from onnx.reference import ReferenceEvaluator

    h, w = x_shape[2], x_shape[3]
    ramp = np.arange(h * w, dtype=np.float32).reshape(1, 1, h, w)
    node = onnx.NodeProto()
    node.CopyFrom(n.node)
    del node.input[:]
    node.input.extend(["x", "", "", "sizes"])
    node.output[:] = ["y"]
    for a in list(node.attribute):
        if a.name == "axes":
            node.attribute.remove(a)
    sizes = np.array([1, 1, y_shape[2], y_shape[3]], dtype=np.int64)
    try:
        res: Any = ReferenceEvaluator(node).run(None, {"x": ramp, "sizes": sizes})
        y = np.asarray(res[0]).astype(np.int64)[0, 0]
    except Exception as e:
        raise Unsupported(f"the ONNX reference could not evaluate this Resize ({e})") from None
    rows, cols = y[:, 0] // w, y[0, :] % w
    if not np.array_equal(y, rows[:, None] * w + cols[None, :]):
        raise Unsupported("a resize that is not separable in H and W")
    return [rows, cols]


def _qdq_attrs(n: _Node) -> None:
    n.attr("saturate", 1)  # float8 only
    n.attr("output_dtype", 0)  # the output type, which shape inference already gave
    if int(n.attr("block_size", 0)):
        raise Unsupported("blocked quantization (block_size > 0)")
    axis = n.attr("axis", 1)
    if n.imp.quant_of.get(n.node.output[0] if n.node.op_type == "QuantizeLinear" else n.node.input[0]) is None:
        raise Unsupported("a scale or zero point that is not a constant")
    del axis


@onnx_op
def QuantizeLinear(n: _Node) -> None:
    _qdq_attrs(n)
    if not n.unfused_q:  # its producer already writes the int8 value
        return
    perm = n.layout(0, unit=True)
    n.emit("quantize", [n.input_ir(0, perm)], n.output(0, perm), {})


@onnx_op
def DequantizeLinear(n: _Node) -> None:
    _qdq_attrs(n)
    n.materialize_dq()


# ---- the importer -------------------------------------------------------------------------------------------

class _Node:
    """One ONNX node being mapped: its attributes (reads are tracked), inputs in any IR layout, outputs."""

    def __init__(self, imp: _Importer, node: onnx.NodeProto, index: int):
        self.imp, self.node = imp, node
        self.attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        self.read: set[str] = set()
        first_output = node.output[0] if node.output else "?"
        self.label = f"{node.op_type} node '{node.name or f'#{index}'}' (output {first_output})"
        self.quantized = node.name in imp.fused or (node.op_type.startswith("QLinear"))
        self.unfused_q = node.op_type == "QuantizeLinear" and imp.producer_fused(node.input[0]) is False

    # attributes and constant inputs
    def attr(self, name: str, default=None):
        self.read.add(name)
        v = self.attrs.get(name, default)
        return v.decode() if isinstance(v, bytes) else v

    def has(self, k: int) -> bool:
        return k < len(self.node.input) and bool(self.node.input[k])

    def is_const(self, k: int) -> bool:
        return self.has(k) and self.imp.const_value(self.data_name(k)) is not None

    def const_input(self, k: int) -> np.ndarray:
        v = self.imp.const_value(self.node.input[k]) if self.has(k) else None
        if v is None:
            raise Unsupported(f"input {k} ({self.node.input[k] if self.has(k) else 'missing'}) must be a constant")
        return v

    def shape(self, k: int) -> tuple[int, ...]:
        return self.imp.static_shape(self.node.input[k])

    def out_shape(self, k: int) -> tuple[int, ...]:
        return self.imp.static_shape(self.node.output[k])

    # quantized views: a fused node reads through its DequantizeLinear inputs, writes its QuantizeLinear's output
    def data_name(self, k: int) -> str:
        name = self.node.input[k]
        if self.quantized and name in self.imp.dq_nodes:
            return self.imp.dq_nodes[name].input[0]
        return name

    def weight(self, k: int) -> tuple[np.ndarray, Quant | None]:
        """A constant weight in ONNX layout, with its quantization when the node is int8."""
        if not self.has(k):
            raise Unsupported(f"input {k} is missing")
        if self.node.op_type.startswith("QLinear"):
            data = self.const_input(k)
            if data.dtype == np.int32:  # the bias: int32 in units of s_x * s_w, as TFLite's
                return data, None
            return data, self.imp.quant_from(self.node.input[k + 1], self.node.input[k + 2], data.dtype,
                                             axis=0, const=True)
        name = self.data_name(k)
        value = self.imp.const_value(name)
        if value is None:
            raise Unsupported(f"input {k} ({self.node.input[k]}) must be a constant")
        return value, (self.imp.quant_of.get(name) if self.quantized else None)

    def bias(self, k: int, channels: int, factor: float = 1.0) -> str:
        data, quant = self.weight(k)
        data = np.asarray(data).reshape(-1)
        if data.size == 1 and channels > 1:
            data = np.repeat(data, channels)
        if data.size != channels:
            raise Unsupported(f"bias of {data.size} values for {channels} outputs")
        if quant is None and data.dtype.kind == "f":
            data = (data * np.float32(factor)).astype(np.float32)
        elif quant is not None and quant.axis is not None:
            quant = Quant(scale=quant.scale, zero_point=quant.zero_point, axis=0)
        return self.const(data, (0,), quant, "bias")

    def const(self, data: np.ndarray, perm: tuple[int, ...], quant: Quant | None, what: str) -> str:
        return self.imp.add_const(f"{self.imp.op_name(self.node)}_{what}", np.asarray(data).transpose(perm),
                                  _moved_axis(quant, perm))

    def quantize_scalar(self, value: float) -> float | int:
        """A real value in the units of this node's (int8) input: the integer a quantized pad writes."""
        if not self.quantized:
            return value
        q = self.imp.quant_of.get(self.data_name(0))
        assert q is not None
        return int(np.clip(np.round(value / float(q.scale[0])) + int(q.zero_point[0]), -128, 127))

    # layouts
    def layout(self, k: int, unit: bool = False) -> tuple[int, ...]:
        """Input k's layout. With a UNIT axis (a 1-D conv's [N, 1, W, C]) only for callers that say they handle
        it (element-wise ops keep it, so a 1-D conv -> relu -> 1-D conv chain stays 4-D); the others get the
        same bytes as a plain permutation of the ONNX dimensions (NW1C -> NWC, a reshape)."""
        perm = self.imp.layout_of(self.data_name(k))
        return perm if unit else _core(perm)

    def common_layout(self, ks: list[int], rank: int) -> tuple[int, ...]:
        """The layout for the inputs of an element-wise op: that of the first non-constant input of full rank, if
        every other non-constant input has full rank too; ONNX order otherwise."""
        variables = [k for k in ks if not self.is_const(k)]
        full = [k for k in variables if len(self.shape(k)) == rank]
        if full and len(full) == len(variables):
            return self.layout(full[0], unit=True)
        return _identity(rank)

    def input_ir(self, k: int, perm: tuple[int, ...], rank: int | None = None) -> str:
        return self.imp.value_in(self.data_name(k), perm, rank)

    def pad(self, x_ir: str, x_shape: tuple[int, ...], pads: list[int], lowest: bool = False) -> str:
        """An explicit `pad` before a window op whose padding is not SAME/VALID-shaped. [t, l, b, r] in NCHW."""
        top, left, bottom, right = pads
        x = self.imp.tensors[x_ir]
        shape = (x.shape[0], x.shape[1] + top + bottom, x.shape[2] + left + right, x.shape[3])
        name = self.imp.new_tensor(f"{x_ir}__padded", shape, x.dtype, x.quant)
        attrs: dict[str, Any] = dict(paddings=[[0, 0], [top, bottom], [left, right], [0, 0]])
        if lowest:  # a max pool must never pick a padded value
            attrs["pad_value"] = -128 if x.dtype == "int8" else float(np.finfo(np.float32).min)
        self.imp.emit(self.node, "pad", [x_ir], [name], attrs, suffix="pad")
        return name

    # outputs
    def output(self, k: int, perm: tuple[int, ...]) -> list[str]:
        name = self.node.output[k]
        if self.quantized and not self.node.op_type.startswith("QLinear"):
            name = self.imp.readers[name][0].output[0]  # the QuantizeLinear this node writes for
        return [self.imp.define(name, perm)]

    def alias(self, k: int, src: tuple[int, ...], perm: tuple[int, ...]) -> None:
        name = self.output(k, perm)[0]
        if self.quantized and not _same_quant(self.imp.quant_of.get(name), self.imp.quant_of.get(self.data_name(0))):
            raise Unsupported("input and output quantization differ (a transpose must keep them)")
        self.imp.alias_value(name, self.data_name(0), src, perm)

    def emit(self, ir_type: str, inputs: list[str | None], outputs: list[str], attrs: dict) -> None:
        self.imp.emit(self.node, ir_type, inputs, outputs, attrs)

    def materialize_dq(self) -> None:
        self.imp.materialize_dq(self)


def _same_quant(a: Quant | None, b: Quant | None) -> bool:
    return (a is None) == (b is None) and (a is None or b is None or (
        np.array_equal(a.scale, b.scale) and np.array_equal(a.zero_point, b.zero_point)))


def _moved_axis(quant: Quant | None, perm: tuple[int, ...]) -> Quant | None:
    if quant is None or quant.axis is None:
        return quant
    return Quant(scale=quant.scale, zero_point=quant.zero_point, axis=perm.index(quant.axis))


class _Importer:
    def __init__(self, model: onnx.ModelProto, path: Path):
        self.model, self.path = model, path
        g = model.graph
        self.consts: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        self.shapes = onnx_passes.value_shapes(model)
        self.types = onnx_passes.value_types(model)
        self.tensors: dict[str, Tensor] = {}
        self.ops: list[Op] = []
        self.layouts: dict[str, tuple[int, ...]] = {}  # ONNX value -> its IR layout
        self.ir_names: dict[str, str] = {}  # ONNX value -> IR tensor in that layout
        self.views: dict[tuple[str, tuple[int, ...]], str] = {}  # (ONNX value, layout) -> IR tensor
        self.problems: list[str] = []
        self.failed: set[str] = set()  # values of nodes already reported
        self.uint8_shifted: list[str] = []
        self.producers = {o: n for n in g.node for o in n.output}
        self.readers: dict[str, list[onnx.NodeProto]] = {}
        for node in g.node:
            for i in node.input:
                if i:
                    self.readers.setdefault(i, []).append(node)
        self.graph_outputs = {o.name for o in g.output}
        self.dq_nodes = {n.output[0]: n for n in g.node if n.op_type == "DequantizeLinear"}
        self.quant_of: dict[str, Quant] = {}  # int8 ONNX value -> its quantization (from its Q or DQ node)
        self._collect_quant()
        self.fused = self._fused_nodes()

    # -- quantization bookkeeping
    def _collect_quant(self) -> None:
        for node in self.model.graph.node:
            if node.op_type in ("QLinearConv", "QLinearMatMul"):
                self._collect_qlinear(node)
            if node.op_type not in ("QuantizeLinear", "DequantizeLinear") or len(node.input) < 2:
                continue
            int_name = node.output[0] if node.op_type == "QuantizeLinear" else node.input[0]
            try:
                axis = helper.get_attribute_value(next(a for a in node.attribute if a.name == "axis"))
            except StopIteration:
                axis = 1
            zp_name = node.input[2] if len(node.input) > 2 else ""
            dtype = self.types.get(int_name, TensorProto.UINT8)
            np_dtype = np.dtype(helper.tensor_dtype_to_np_dtype(dtype)) if dtype in ONNX_DTYPES else np.dtype(np.int8)
            try:
                q = self.quant_from(node.input[1], zp_name, np_dtype, axis, const=int_name in self.consts)
            except Unsupported:
                continue  # reported when the node is mapped
            self.quant_of.setdefault(int_name, q)

    def _collect_qlinear(self, node: onnx.NodeProto) -> None:
        """QLinearConv / QLinearMatMul carry the quantization of their activations as inputs."""
        slots = [(0, 1, 2), (node.output[0], 6, 7)]
        for value, s, z in slots:
            name = node.input[value] if isinstance(value, int) else value
            if max(s, z) >= len(node.input) or not node.input[s]:
                continue
            dtype = np.dtype(helper.tensor_dtype_to_np_dtype(self.types.get(name, TensorProto.UINT8)))
            try:
                self.quant_of.setdefault(name, self.quant_from(node.input[s], node.input[z], dtype, 1, const=False))
            except (Unsupported, TypeError, KeyError):
                continue

    def quant_from(self, scale_name: str, zp_name: str, dtype: np.dtype, axis: int, const: bool) -> Quant:
        scale = self.const_value(scale_name)
        zp = self.const_value(zp_name) if zp_name else np.zeros_like(scale, dtype=np.int64)
        if scale is None or zp is None:
            raise Unsupported("a quantization scale or zero point that is not a constant")
        scale = np.asarray(scale, dtype=np.float32).reshape(-1)
        zp = np.asarray(zp).astype(np.int64).reshape(-1)
        if dtype == np.uint8 and not const:
            zp = zp - 128  # held as int8: q_s8 = q_u8 - 128 is the same real value
        return Quant(scale=scale, zero_point=zp, axis=int(axis) if scale.size > 1 else None)

    def _fused_nodes(self) -> set[str]:
        """Nodes that become one int8 op: data inputs from DequantizeLinear, the only reader a QuantizeLinear."""
        data_inputs = {"Conv": 3, "Gemm": 3, "MatMul": 2, "Add": 2, "Sub": 2, "Mul": 2, "ConvTranspose": 3}
        fused: set[str] = set()
        for k, node in enumerate(self.model.graph.node):
            if not node.name:
                node.name = f"{node.op_type}_{k}"
            if node.op_type in ("QuantizeLinear", "DequantizeLinear") or node.op_type not in IMPORTERS:
                continue
            n_data = data_inputs.get(node.op_type, len(node.input) if node.op_type == "Concat" else 1)
            data = [i for i in node.input[:n_data] if i]
            out = node.output[0]
            readers = self.readers.get(out, [])
            if (data and all(i in self.dq_nodes for i in data) and len(readers) == 1
                    and readers[0].op_type == "QuantizeLinear" and out not in self.graph_outputs
                    and len(node.output) == 1 and self._int8_form(node, readers[0])):
                fused.add(node.name)
        return fused

    def _int8_form(self, node: onnx.NodeProto, q: onnx.NodeProto) -> bool:
        """The int8 IR op can express it. Softmax's int8 output is fixed at scale 1/256, zero point -128
        (TFLite's); with any other output quantization (onnxruntime's quantizer picks 1/255) the node stays a
        float softmax between `dequantize` and `quantize`."""
        if node.op_type != "Softmax":
            return True
        quant = self.quant_of.get(q.output[0])
        return quant is not None and quant.scale.size == 1 and float(quant.scale[0]) == 1.0 / 256 \
            and int(quant.zero_point[0]) == -128

    def producer_fused(self, name: str) -> bool:
        p = self.producers.get(name)
        return p is not None and p.name in self.fused

    def materialize_dq(self, n: _Node) -> None:
        """A DequantizeLinear read by a float op (or a graph output): a `dequantize` op, or for a constant, the
        dequantized float constant (weight-only quantization)."""
        out = n.node.output[0]
        readers = self.readers.get(out, [])
        if all(r.name in self.fused for r in readers) and out not in self.graph_outputs:
            return
        src = n.node.input[0]
        if src in self.consts:
            q = self.quant_of.get(src)
            if q is None:
                raise Unsupported("a scale or zero point that is not a constant")
            shape = [1] * self.consts[src].ndim
            if q.axis is not None:
                shape[q.axis] = -1
            real = (self.consts[src].astype(np.float64) - q.zero_point.reshape(shape)) * q.scale.reshape(shape)
            self.consts[out] = real.astype(np.float32)
            return
        perm = self.layout_of(src)
        self.emit(n.node, "dequantize", [self.value_in(src, perm)], [self.define(out, perm)], {})

    # -- values
    def const_value(self, name: str) -> np.ndarray | None:
        return self.consts.get(name)

    def static_shape(self, name: str) -> tuple[int, ...]:
        shape = self.shapes.get(name)
        if shape is None or not all(isinstance(d, int) for d in shape):
            raise Unsupported(f"value {name} has no static shape after shape inference "
                              f"({'unknown' if shape is None else list(shape)})")
        return tuple(int(d) for d in shape)  # type: ignore[arg-type]

    def layout_of(self, name: str) -> tuple[int, ...]:
        if name in self.layouts:
            return self.layouts[name]
        return _identity(len(self.static_shape(name)))

    def ir_dtype(self, name: str) -> str:
        t = self.types.get(name, TensorProto.FLOAT)
        if t not in ONNX_DTYPES:
            raise Unsupported(f"value {name} has the ONNX type {helper.tensor_dtype_to_string(t)}; edgec computes "
                              "in float32 and int8")
        return ONNX_DTYPES[t]

    def define(self, name: str, perm: tuple[int, ...]) -> str:
        """The IR tensor for an ONNX value this node writes, held in layout perm."""
        shape = _held_shape(self.static_shape(name), perm)
        dtype = self.ir_dtype(name)
        quant = _moved_axis(self.quant_of.get(name), perm)
        if dtype == "uint8" and quant is not None:
            dtype = "int8"
            self.uint8_shifted.append(name)
        if dtype not in ("float32", "int8"):
            raise Unsupported(f"value {name} is {dtype}; edgec computes in float32 and int8")
        self.tensors[name] = Tensor(name=name, shape=shape, dtype=dtype, quant=quant)
        self.layouts[name], self.ir_names[name] = perm, name
        self.views[(name, perm)] = name
        return name

    def alias_value(self, name: str, src: str, src_perm: tuple[int, ...], perm: tuple[int, ...]) -> None:
        """ONNX value `name` is the IR tensor of `src` in layout src_perm, seen in layout perm (a folded
        Transpose)."""
        del self.tensors[name]
        ir = self.value_in(src, src_perm)
        self.layouts[name], self.ir_names[name] = perm, ir
        self.views = {k: v for k, v in self.views.items() if k[0] != name}
        self.views[(name, perm)] = ir

    def new_tensor(self, base: str, shape: tuple[int, ...], dtype: str, quant: Quant | None,
                   data: np.ndarray | None = None) -> str:
        name, k = base, 1
        while name in self.tensors:
            name, k = f"{base}_{k}", k + 1
        self.tensors[name] = Tensor(name=name, shape=tuple(int(d) for d in shape), dtype=dtype, quant=quant,
                                    data=data)
        return name

    def add_const(self, base: str, data: np.ndarray, quant: Quant | None) -> str:
        dtype = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float32", np.dtype(np.int8): "int8",
                 np.dtype(np.uint8): "uint8", np.dtype(np.int32): "int32", np.dtype(np.int64): "int64"}.get(data.dtype)
        if dtype is None:
            raise Unsupported(f"a constant of type {data.dtype}")
        data = np.ascontiguousarray(data.astype(dtype))
        return self.new_tensor(base, data.shape, dtype, quant, data)

    def value_in(self, name: str, perm: tuple[int, ...], rank: int | None = None) -> str:
        """The IR tensor holding ONNX value `name` in layout perm (a constant is expanded to `rank` first)."""
        c = self.const_value(name)
        if c is not None:
            c = np.asarray(c)
            if rank is not None and c.ndim < rank:
                c = c.reshape((1,) * (rank - c.ndim) + c.shape)
            key = (name, perm)
            if key not in self.views:
                if c.dtype.kind == "f":
                    c = c.astype(np.float32)
                fits = c.ndim == len(_core(perm))
                self.views[key] = self.add_const(_identifier(name), _hold(c, perm) if fits else c,
                                                 _moved_axis(self.quant_of.get(name), perm)
                                                 if fits else self.quant_of.get(name))
            return self.views[key]
        if name in self.failed:
            raise _FollowOn(name)
        if name not in self.ir_names:
            raise Unsupported(f"input {name} is not produced by a node edgec could map")
        src_perm = self.layouts[name]
        if src_perm == perm:
            return self.ir_names[name]
        if (name, perm) in self.views:
            return self.views[(name, perm)]
        shape = self.static_shape(name)
        same_bytes = _order(src_perm, shape) == _order(perm, shape)
        # a transpose keeps the rank: to or from a layout with a UNIT axis, go through its plain permutation
        if not same_bytes and (UNIT in src_perm) != (UNIT in perm):
            mid = _core(src_perm if UNIT in src_perm else perm)
            src_ir = self.value_in(name, mid)
            src_perm = mid
        else:
            src_ir = self.views.get((name, src_perm), self.ir_names[name])
        src = self.tensors[src_ir]
        tag = "".join("u" if p == UNIT else str(p) for p in perm)
        out = self.new_tensor(f"{self.ir_names[name]}__{tag}", _held_shape(shape, perm), src.dtype,
                              _moved_axis(_onnx_axis(src.quant, src_perm), perm))
        producer = self.producers.get(name)
        if _order(src_perm, shape) == _order(perm, shape):
            self.emit(producer, "reshape", [src_ir], [out], {}, suffix="layout")
        else:
            self.emit(producer, "transpose", [src_ir], [out], dict(perm=list(_relative(src_perm, perm))),
                      suffix="layout")
        self.views[(name, perm)] = out
        return out

    def op_name(self, node: onnx.NodeProto | None) -> str:
        return _identifier(node.name if node is not None and node.name else "input")

    def emit(self, node: onnx.NodeProto | None, ir_type: str, inputs: list[str | None], outputs: list[str],
             attrs: dict, suffix: str = "") -> None:
        base = self.op_name(node) + (f"_{suffix}" if suffix else "")
        names = {op.name for op in self.ops}
        name, k = base, 1
        while name in names:
            name, k = f"{base}_{k}", k + 1
        label = (f"{node.op_type} node '{node.name}'" if node is not None else "model input") + (
            f" ({suffix})" if suffix else "")
        attrs = dict(attrs, label=label, onnx_op=node.op_type if node is not None else "")
        self.ops.append(Op(type=ir_type, name=name, inputs=list(inputs), outputs=list(outputs), attrs=attrs))

    # -- the whole graph
    def run(self) -> Graph:
        g = self.model.graph
        inputs = onnx_passes.real_inputs(self.model)
        meta: dict[str, Any] = dict(format="onnx", input_layouts={}, output_layouts={},
                                    onnx_inputs=[i.name for i in inputs], onnx_outputs=[o.name for o in g.output])
        for vi in inputs:
            try:
                shape = self.static_shape(vi.name)
                readers = self.readers.get(vi.name, [])
                image = len(shape) == 4 and not all(r.op_type == "Transpose" for r in readers) and bool(readers)
                self.define(vi.name, NHWC if image else _identity(len(shape)))
                if image:
                    meta["input_layouts"][vi.name] = "NCHW"
            except Unsupported as e:
                self.problems.append(f"model input {vi.name}: {e}")
        for k, node in enumerate(g.node):
            n = _Node(self, node, k)
            if node.domain not in ("", "ai.onnx"):
                self.problems.append(f"{n.label}: operator {node.domain}.{node.op_type} is not supported"
                                     f"{self._supported()}")
                self._failed(node)
                continue
            fn = IMPORTERS.get(node.op_type)
            if fn is None:
                self.problems.append(f"{n.label}: operator {node.op_type} is not supported{self._supported()}")
                self._failed(node)
                continue
            if any(i in self.failed for i in node.input):
                self._failed(node)  # its input's producer is reported already
                continue
            try:
                fn(n)
                ignored = sorted(set(n.attrs) - n.read)
                if ignored:
                    raise Unsupported(f"attribute {', '.join(ignored)} is not supported")
            except Unsupported as e:
                self.problems.append(f"{n.label}: {e}")
                self._failed(node)
            except _FollowOn:
                self._failed(node)
        outputs = []
        for o in g.output:
            if o.name not in self.ir_names:
                if o.name not in self.failed:
                    self.problems.append(f"model output {o.name} is a constant or is not computed by the graph")
                continue
            perm = self.layouts[o.name]
            rank = len(_core(perm))  # a 1-D op's output (NW1C) leaves in ONNX order, [N, C, W]
            if perm not in (_identity(rank), NHWC):
                try:
                    ir = self.value_in(o.name, _identity(rank))
                except Unsupported as e:
                    self.problems.append(f"model output {o.name}: {e}")
                    continue
            else:
                ir = self.ir_names[o.name]
                if perm == NHWC and rank == 4:
                    meta["output_layouts"][ir] = "NCHW"
            outputs.append(ir)
        # a QDQ/QOperator model: int8 by its own scales (not a float model to quantize), and for every float output
        # that a `dequantize` writes, the int8 scale it dequantizes (the unit of "1 LSB" when comparing)
        meta["quantized"] = any(n.op_type in ("QuantizeLinear", "DequantizeLinear") or n.op_type.startswith("QLinear")
                                for n in g.node)
        deq = {op.outputs[0]: str(op.inputs[0]) for op in self.ops if op.type == "dequantize"}
        meta["output_scales"] = {o: self.tensors[deq[o]].scale for o in outputs if o in deq
                                 and self.tensors[deq[o]].quant is not None}
        graph_io = {i.name for i in inputs} | {o.name for o in g.output}
        meta["uint8_as_int8"] = sorted(set(self.uint8_shifted) & graph_io)
        graph = Graph(name=_identifier(self.path.stem), tensors=self.tensors, ops=self.ops,
                      inputs=[i.name for i in inputs if i.name in self.tensors], outputs=outputs, meta=meta)
        self._check_ops(graph)
        if self.problems:
            raise UnsupportedError(self.problems)
        from ..passes import remove_dead_ops

        return remove_dead_ops(graph)

    def _supported(self) -> str:
        """The list of supported ops, given once (with the first unsupported op)."""
        if getattr(self, "_listed", False):
            return ""
        self._listed = True
        return f" (edgec maps the ONNX ops {', '.join(sorted(IMPORTERS))})"

    def _failed(self, node: onnx.NodeProto) -> None:
        self.failed.update(node.output)
        if node.name in self.fused:  # it would have written its QuantizeLinear's output
            self.failed.update(self.readers[node.output[0]][0].output)

    def _check_ops(self, graph: Graph) -> None:
        from ..ops import REGISTRY

        if self.problems:
            return  # a partial graph would only add follow-on noise
        for op in graph.ops:
            impl = REGISTRY.get(op.type)
            if impl is None:
                self.problems.append(f"{op.attrs['label']}: maps to IR op {op.type}, which has no implementation yet")
                continue
            try:
                self.problems += [f"{op.attrs['label']}: {rule}" for rule in impl.check(op, graph)]
            except (IndexError, KeyError, TypeError, AttributeError) as e:
                self.problems.append(f"{op.attrs['label']}: malformed node for IR op {op.type} ({e})")


def _onnx_axis(quant: Quant | None, perm: tuple[int, ...]) -> Quant | None:
    """The quantization of an IR tensor held in layout perm, with its axis named in ONNX dimensions."""
    if quant is None or quant.axis is None:
        return quant
    return Quant(scale=quant.scale, zero_point=quant.zero_point, axis=perm[quant.axis])


def _identifier(s: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]", "_", s) or "_"


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
    model = onnx_passes.canonicalize(model, input_shapes, path)
    return _Importer(model, path).run()


__all__ = ["import_onnx", "import_onnx_model", "IMPORTERS", "InputError"]
