"""The ONNX importer's shape and layout ops: reshapes, Transpose, Concat, Pad, and the nearest-neighbour Resize.

They move or rename data without computing on it, so most of the work is choosing layouts (`onnx_layout`): a
reshape reads its input in ONNX element order, a Transpose is folded into the layout where it can be (no op),
and a reshape or transpose that only moves size-1 dimensions becomes a `reshape`, which moves no data.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx

from ..ops.resize_nearest import source_indices
from .onnx_graph import Node, Unsupported
from .onnx_layout import NHWC, identity, relative_perm, same_order


def _reshape(n: Node) -> None:
    """Any op that only renames the shape: the input is read in ONNX element order, the output is plain."""
    shape = n.shape(0)
    perm = n.layout(0)
    src = perm if same_order(perm, shape) else identity(len(shape))
    n.emit("reshape", [n.input_ir(0, src)], n.output(0, identity(len(n.out_shape(0)))), {})


def Reshape(n: Node) -> None:
    n.attr("allowzero", 0)  # shape inference resolved the output shape with it
    _reshape(n)


def Flatten(n: Node) -> None:
    n.attr("axis", 1)
    _reshape(n)


def Squeeze(n: Node) -> None:
    _reshape(n)


def Unsqueeze(n: Node) -> None:
    _reshape(n)


def Identity(n: Node) -> None:  # only left where it writes a graph output (onnx_passes.remove_identities)
    perm = n.layout(0)
    n.emit("reshape", [n.input_ir(0, perm)], n.output(0, perm), {})


def Transpose(n: Node) -> None:
    rank = len(n.shape(0))
    t = tuple(int(p) for p in n.attr("perm", list(reversed(range(rank)))))
    src = n.layout(0)
    candidates = [identity(rank)] + ([NHWC] if rank == 4 else [])
    for q in candidates:
        # IR input = onnx_in.transpose(src); wanted IR output = onnx_in.transpose(t).transpose(q)
        r = relative_perm(src, tuple(t[j] for j in q))
        if r == identity(rank):
            n.alias(0, src, q)  # the transpose is only a change of layout: no op
            return
    q = identity(rank)
    r = relative_perm(src, t)  # IR output = IR input.transpose(r)
    ir_in_shape = tuple(n.shape(0)[p] for p in src)
    if same_order(r, ir_in_shape):  # only size-1 dimensions move: no data movement
        n.emit("reshape", [n.input_ir(0, src)], n.output(0, q), {})
        return
    n.emit("transpose", [n.input_ir(0, src)], n.output(0, q), dict(perm=list(r)))


def Concat(n: Node) -> None:
    rank = len(n.out_shape(0))
    axis = int(n.attr("axis")) % rank
    ks = [k for k in range(len(n.node.input)) if n.has(k)]
    perm = n.common_layout(ks, rank)
    n.emit("concat", [n.input_ir(k, perm) for k in ks], n.output(0, perm), dict(axis=perm.index(axis)))


def Pad(n: Node) -> None:
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



def Resize(n: Node) -> None:
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


def _resize_sources(n: Node, x_shape: tuple[int, ...], y_shape: tuple[int, ...]) -> list[np.ndarray]:
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

