"""The ONNX importer's weighted and windowed ops: convolutions, matrix products, pooling and mean reductions.

Conv (1-D and 2-D, grouped and depthwise), ConvTranspose, Gemm and MatMul, and their QOperator forms QLinearConv
and QLinearMatMul, become conv2d / depthwise_conv2d / conv_transpose / fully_connected with TFLite-layout
constant weights; MaxPool, AveragePool, the global pools and ReduceMean become the IR's pools and `mean`. ONNX's
window attributes (pads, auto_pad, strides, dilations, ceil_mode, count_include_pad) are turned into the IR's
SAME/VALID padding where it reproduces them, or into an explicit `pad` before the op; a 1-D op runs as the 2-D op
with H = 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..ir import Quant
from ..ops.window import out_size, pad_before
from .onnx_graph import Node, Unsupported
from .onnx_layout import NHWC, NW1C, identity, moved_axis


def _hw_attr(n: Node, name: str, default: list[int]) -> list[int]:
    """A window attribute in its 2-D form: a 1-D op's [w] becomes [1, w] (pads [b, e]: [0, b, 0, e]), so the
    2-D IR ops run it with H = 1."""
    value = [int(v) for v in n.attr(name, default)]
    if len(n.shape(0)) == 3 and name in n.attrs:
        if name == "pads" and len(value) == 2:
            return [0, value[0], 0, value[1]]
        if name != "pads" and len(value) == 1:
            return [1, value[0]]
    return value


def _spatial(n: Node, what: str = "input") -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(input shape, output shape, IR layout) of a window op, shapes in 2-D NCHW form: a 1-D op's [N, C, W] is
    [N, C, 1, W], held as [N, 1, W, C] (layout NW1C)."""
    shape, out = n.shape(0), n.out_shape(0)
    if len(shape) == 4:
        return shape, out, NHWC
    if len(shape) == 3 and len(out) == 3:
        return (shape[0], shape[1], 1, shape[2]), (out[0], out[1], 1, out[2]), NW1C
    raise Unsupported(f"{what} of rank {len(shape)}; edgec supports the 1-D and 2-D forms (3-D NCW or 4-D NCHW "
                      "input)")


def _conv_pads(n: Node, in_hw: tuple[int, int], k_eff: tuple[int, int], strides: tuple[int, int],
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


def _window(n: Node, x_shape: tuple[int, ...], out_shape: tuple[int, ...], kernel: tuple[int, int]
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


def _rounding(n: Node) -> dict[str, str]:
    """A quantized Conv/Gemm/MatMul rescales like onnxruntime (float32 scale, ties to even: docs/onnx.md), which
    the int8 conv, depthwise and fully connected kernels do on request."""
    return dict(rounding="onnxruntime") if n.quantized else {}


def Conv(n: Node) -> None:
    _conv(n, x=0, w=1, b=2)


def QLinearConv(n: Node) -> None:
    # x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B: the quantization comes with the inputs
    _conv(n, x=0, w=3, b=8)


def _conv(n: Node, x: int, w: int, b: int) -> None:
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


def ConvTranspose(n: Node) -> None:
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


def Gemm(n: Node) -> None:
    # transA: A is [K, M]; the IR tensor of A in layout (1, 0) is A^T (a transpose op, or none where A's
    # producer already holds it so)
    a_layout = (1, 0) if n.attr("transA", 0) else (0, 1)
    alpha, beta = float(n.attr("alpha", 1.0)), float(n.attr("beta", 1.0))
    weights, w_quant = n.weight(1)
    if weights.ndim != 2 or len(n.shape(0)) != 2:
        raise Unsupported("A and B must be 2-D")
    if not n.attr("transB", 0):
        weights = weights.T  # [K, N] -> [N, K]
        w_quant = moved_axis(w_quant, (1, 0))
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


def MatMul(n: Node) -> None:
    _matmul(n, a=0, b=1)


def QLinearMatMul(n: Node) -> None:
    _matmul(n, a=0, b=3)  # a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp


def _matmul(n: Node, a: int, b: int) -> None:
    b_value = n.imp.const_value(n.data_name(b)) if n.has(b) else None
    if n.node.op_type == "MatMul" and (b_value is None or b_value.ndim > 2):
        from .onnx_transformer import batch_matmul

        return batch_matmul(n, a, b)  # B an activation (attention), or a batched constant
    if not n.is_const(b):
        raise Unsupported("B is not a constant (edgec supports QLinearMatMul by constant weights)")
    weights, w_quant = n.weight(b)
    a_shape = n.shape(a)
    if weights.ndim != 2 or len(a_shape) < 2:
        raise Unsupported(f"A of rank {len(a_shape)} and B of rank {weights.ndim} (supported: A of rank >= 2, "
                          "B 2-D)")
    _per_output_channel(w_quant, 1)
    wname = n.const(np.ascontiguousarray(weights.T), (0, 1), moved_axis(w_quant, (1, 0)), "weights")
    rank = len(a_shape)
    n.emit("fully_connected", [n.input_ir(a, identity(rank)), wname, None], n.output(0, identity(rank)),
           dict(activation="NONE", keep_num_dims=rank > 2, **_rounding(n)))



def _pool(n: Node, ir_type: str) -> None:
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


def MaxPool(n: Node) -> None:
    _pool(n, "max_pool2d")


def AveragePool(n: Node) -> None:
    _pool(n, "avg_pool2d")


def GlobalAveragePool(n: Node) -> None:
    _, _, io = _spatial(n)
    # quantized: onnxruntime's QLinearGlobalAveragePool rescales in float32 like its QLinearConv (docs/onnx.md)
    n.emit("mean", [n.input_ir(0, io)], n.output(0, io), dict(axes=[1, 2], keep_dims=True, **_rounding(n)))


def GlobalMaxPool(n: Node) -> None:
    x_shape, _, io = _spatial(n)
    n.emit("max_pool2d", [n.input_ir(0, io)], n.output(0, io),
           dict(padding="VALID", stride_h=1, stride_w=1, filter_h=x_shape[2], filter_w=x_shape[3],
                activation="NONE"))


def ReduceMean(n: Node) -> None:
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



def BatchNormalization(n: Node) -> None:
    raise Unsupported("a BatchNormalization that cannot be folded (training mode, or statistics that are not "
                      "constants)")

