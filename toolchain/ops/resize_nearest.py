"""RESIZE_NEAREST_NEIGHBOR (TFLite Micro resize_nearest_neighbor.cc, reference_ops::ResizeNearestNeighbor),
int8 or float32, NHWC; the output size is the output tensor's H and W.

    y[b, oy, ox, c] = x[b, src(oy, H_in, H_out), src(ox, W_in, W_out), c]
    src(o, n_in, n_out) = min(f((o + offset) * scale), n_in - 1), and max(0, .) with half-pixel centers
        scale  = (n_in - 1) / (n_out - 1)  with align_corners and n_out > 1,  else n_in / n_out
        offset = 0.5 with half_pixel_centers, else 0
        f      = round half away from zero with align_corners, else floor
The source indices are float32 maths in TFLM's Eval; edgec computes them at compile time the same way
(float32, same operation order) into two small index tables, and the C kernel only copies rows of C values.
No arithmetic on the data: the quantization must be the same on both sides.
"""

from __future__ import annotations

import numpy as np

from .base import Operator, Quantization, register, same_quant


def source_indices(n_in: int, n_out: int, align_corners: bool, half_pixel_centers: bool) -> np.ndarray:
    """GetNearestNeighbor for every output index, in float32 as TFLM computes it."""
    if align_corners and n_out > 1:
        scale = np.float32(n_in - 1) / np.float32(n_out - 1)
    else:
        scale = np.float32(n_in) / np.float32(n_out)
    offset = np.float32(0.5 if half_pixel_centers else 0.0)
    pos = (np.arange(n_out, dtype=np.float32) + offset) * scale  # float32 throughout
    if align_corners:
        t = np.trunc(pos)  # std::round on float32: halves away from zero, without a float64 detour
        idx = t + (pos - t >= np.float32(0.5))
    else:
        idx = np.floor(pos)
    idx = np.minimum(idx.astype(np.int64), n_in - 1)
    if half_pixel_centers:
        idx = np.maximum(idx, 0)
    return idx.astype(np.int32)


def resize_shapes(op, g) -> bool:
    """input and output are 4-D NHWC with the same batch and channels, and every dimension is at least 1"""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    return (len(x.shape) == 4 and len(y.shape) == 4 and x.shape[0] == y.shape[0] and x.shape[3] == y.shape[3]
            and min(*x.shape, *y.shape) >= 1)


def resize_types(op, g) -> bool:
    """input and output are both int8 with the same scale and zero point (nearest-neighbour resizing copies
    values, it does not rescale), or both float32"""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    if x.dtype == y.dtype == "float32":
        return True
    return x.dtype == y.dtype == "int8" and same_quant(x.quant, y.quant)


@register
class ResizeNearest(Operator):
    type = "resize_nearest"
    kernel = "resize_nearest"
    kernel_f32 = "resize_nearest"
    constraints = [resize_shapes, resize_types]
    constraints_f32 = constraints

    fuses_activation = False
    patch_kind = None
    quantization = Quantization(output="same_as_input")
    not_exportable = None
    backward = None  # no gradient rule yet

    def export_tflite(self, op, g, w, ins):
        size = w.int32(f"{op.name}/size", list(g.t(op.outputs[0]).shape[1:3]))
        return "RESIZE_NEAREST_NEIGHBOR", [ins[0], size], "ResizeNearestNeighborOptions", dict(
            alignCorners=bool(op.attrs.get("align_corners", False)),
            halfPixelCenters=bool(op.attrs.get("half_pixel_centers", False)))

    def prepare(self, op, g):
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        a = bool(op.attrs.get("align_corners", False)), bool(op.attrs.get("half_pixel_centers", False))
        op.params.update(y_index=source_indices(x.shape[1], y.shape[1], *a),
                         x_index=source_indices(x.shape[2], y.shape[2], *a))

    def prepare_f32(self, op, g):
        self.prepare(op, g)

    def reference(self, op, g, inputs):
        x = inputs[0]
        assert x is not None
        return [np.ascontiguousarray(x[:, op.params["y_index"]][:, :, op.params["x_index"]])]

    def reference_f32(self, op, g, inputs):
        return self.reference(op, g, inputs)

    def _emit(self, op, g, ctx, suffix: str) -> str:
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        fields = dict(batches=x.shape[0], in_h=x.shape[1], in_w=x.shape[2], channels=x.shape[3],
                      out_h=y.shape[1], out_w=y.shape[2],
                      y_index=ctx.const_array(op, "y_index", op.params["y_index"]),
                      x_index=ctx.const_array(op, "x_index", op.params["x_index"]))
        params = ctx.params_struct(op, "edgec_resize_nearest_params", fields)
        return f"edgec_resize_nearest_{suffix}(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def emit(self, op, g, ctx):
        return self._emit(op, g, ctx, "s8")

    def emit_f32(self, op, g, ctx):
        return self._emit(op, g, ctx, "f32")
