"""CONV_2D: int8 convolution with per-channel weights (TFLite: ConvPerChannel).

    acc[o]  = bias[o] + sum_{ky,kx,i} w[o,ky,kx,i] * (x[iy,ix,i] - zp_x)          (int32)
    y[o]    = clamp(zp_y + MBQM(acc[o], M[o], shift[o]), act_min, act_max)          (int8)
    M[o], shift[o] = QuantizeMultiplier(s_x * s_w[o] / s_y)                          (compile time)
"""

from __future__ import annotations

import numpy as np

from .base import (
    KernelChoice,
    KernelTarget,
    Operator,
    Quantization,
    fused_activation_supported,
    io_int8,
    is_float,
    per_tensor_activations,
    register,
)
from .float_common import (
    activate,
    activation_fields,
    all_float32,
    float_bias,
    groups_divide,
    weights_const_f32,
    window_geometry,
    windows_f64,
)
from .int4_common import emit_s4, int4_weights, row_bytes
from .int8_common import bias_int32, onnxruntime_rounding, prepare_rescale, requantize, weights_int8_symmetric
from .window import out_size, valid_padding_attr, window_pads


def padded_windows(x: np.ndarray, op, k_h: int, k_w: int, out_h: int, out_w: int, pad_value: int) -> np.ndarray:
    """Gather the input window of every output pixel: [N, out_h, out_w, k_h, k_w, C] (padding = pad_value)."""
    a, p = op.attrs, op.params
    s_h, s_w = a["stride_h"], a["stride_w"]
    d_h, d_w = a.get("dilation_h", 1), a.get("dilation_w", 1)
    n, h, w, c = x.shape
    big_h = max(h + p["pad_top"], (out_h - 1) * s_h + (k_h - 1) * d_h + 1)
    big_w = max(w + p["pad_left"], (out_w - 1) * s_w + (k_w - 1) * d_w + 1)
    xp = np.full((n, big_h, big_w, c), pad_value, dtype=np.int64)
    xp[:, p["pad_top"]:p["pad_top"] + h, p["pad_left"]:p["pad_left"] + w, :] = x
    ys = (np.arange(out_h) * s_h)[:, None] + np.arange(k_h)[None, :] * d_h  # [out_h, k_h]
    xs = (np.arange(out_w) * s_w)[:, None] + np.arange(k_w)[None, :] * d_w  # [out_w, k_w]
    return xp[:, ys[:, None, :, None], xs[None, :, None, :], :]  # [N, out_h, out_w, k_h, k_w, C]


def conv_output_shape(op, g, out_channels: int) -> tuple[int, int, int, int]:
    """[N, out_h, out_w, out_channels] of a conv-like op whose weights are [*, k_h, k_w, *]."""
    x, w = g.t(op.inputs[0]), g.t(op.inputs[1])
    a = op.attrs
    oh = out_size(a["padding"], x.shape[1], w.shape[1], a["stride_h"], a.get("dilation_h", 1))
    ow = out_size(a["padding"], x.shape[2], w.shape[2], a["stride_w"], a.get("dilation_w", 1))
    return (x.shape[0], oh, ow, out_channels)


def prepare_conv(op, g) -> None:
    w = g.t(op.inputs[1])
    prepare_rescale(op, g)
    op.params.update(window_pads(op, g, w.shape[1], w.shape[2]))


def conv_kernel_fields(op, g, ctx) -> dict:
    """The C struct fields of a conv-like kernel: geometry, clamps, and the flash arrays it reads."""
    w = g.t(op.inputs[1])
    fields = conv_fields(op, g)
    fields.update(k_h=w.shape[1], k_w=w.shape[2], weights=ctx.ptr(op.inputs[1]),
                  bias=ctx.ptr(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] else "NULL",
                  multiplier=ctx.const_array(op, "multiplier", op.params["multiplier"]),
                  shift=ctx.const_array(op, "shift", op.params["shift"]))
    if onnxruntime_rounding(op):
        fields["rounding"] = 1  # left out otherwise: TFLite's (0), and the generated C of TFLite models unchanged
    return fields


def conv_fields(op, g) -> dict:
    """The C struct fields common to the conv-like kernels."""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    a, p = op.attrs, op.params
    return dict(batches=x.shape[0], in_h=x.shape[1], in_w=x.shape[2], in_c=x.shape[3],
                out_h=y.shape[1], out_w=y.shape[2], out_c=y.shape[3],
                stride_h=a["stride_h"], stride_w=a["stride_w"],
                dilation_h=a.get("dilation_h", 1), dilation_w=a.get("dilation_w", 1),
                pad_top=p["pad_top"], pad_left=p["pad_left"],
                input_offset=p["input_offset"], output_offset=p["output_offset"],
                act_min=p["act_min"], act_max=p["act_max"])


def _groups(op, g) -> int:
    return g.t(op.inputs[0]).shape[3] // g.t(op.inputs[1]).shape[3]


def _pointwise(op, g) -> bool:
    """A 1x1 kernel at stride 1 with the output as large as the input (so no padding). A stride missing from the
    attrs: not pointwise (the importers always set it)."""
    x, w, y = g.t(op.inputs[0]).shape, g.t(op.inputs[1]).shape, g.t(op.outputs[0]).shape
    if not len(x) == len(w) == len(y) == 4:
        return False
    a = op.attrs
    return w[1] == w[2] == 1 and a.get("stride_h") == a.get("stride_w") == 1 and x[:3] == y[:3]


def _fast_kernel(op) -> dict | None:
    """The layer's chosen fast kernel (op.attrs["kernel_choice"]), or None; a patch-stage layer runs the portable
    region kernel whatever was chosen."""
    return op.attrs.get("kernel_choice") if "patch" not in op.attrs else None


@register
class Conv2D(Operator):
    type = "conv2d"
    kernel = "conv2d_s8"
    constraints = [io_int8, per_tensor_activations, weights_int8_symmetric, bias_int32, groups_divide,
                   fused_activation_supported, valid_padding_attr]

    fuses_activation = True
    patch_kind = "window"
    # weights [out_c, k_h, k_w, in_c / groups]: one scale per output channel
    quantization = Quantization(output="calibrated", weight_axis=0)
    not_exportable = None
    backward = None  # no gradient rule yet

    def window_size(self, op, g):
        w = g.t(op.inputs[1])
        return w.shape[1], w.shape[2], op.attrs.get("dilation_h", 1), op.attrs.get("dilation_w", 1)

    def export_tflite(self, op, g, w, ins):
        a = op.attrs
        return "CONV_2D", ins, "Conv2DOptions", dict(
            padding=w.padding(op), strideH=a["stride_h"], strideW=a["stride_w"],
            dilationHFactor=a.get("dilation_h", 1), dilationWFactor=a.get("dilation_w", 1),
            fusedActivationFunction=w.activation(op))

    def infer_shape(self, op, g):
        return [conv_output_shape(op, g, g.t(op.inputs[1]).shape[0])]

    def prepare(self, op, g):
        prepare_conv(op, g)

    def reference(self, op, g, inputs):
        x, w = inputs[0], inputs[1]
        bias = inputs[2] if len(inputs) > 2 else None
        y = g.t(op.outputs[0])
        assert x is not None and w is not None
        oc, kh, kw, icg = w.shape
        groups = x.shape[3] // icg
        win = padded_windows(x.astype(np.int64) + op.params["input_offset"], op, kh, kw, y.shape[1], y.shape[2], 0)
        n, oh, ow = win.shape[:3]
        win = win.reshape(n, oh, ow, kh, kw, groups, icg)
        wg = w.astype(np.int64).reshape(groups, oc // groups, kh, kw, icg)
        acc = np.einsum("nyxhwgi,gohwi->nyxgo", win, wg).reshape(n, oh, ow, oc)
        if bias is not None:
            acc = acc + bias.astype(np.int64)
        return [requantize(acc, op, g)]

    def choose_kernel(self, op, g, target: KernelTarget) -> KernelChoice | None:
        """On a core with DSP, every int8 conv with groups 1: runtime/conv2d_s8_dsp.c widens two output pixels'
        inputs to int16 once, then computes 2 pixels x 2 output channels per SXTB16/SMLAD step."""
        if not target.dsp or _groups(op, g) != 1:
            return None
        if _pointwise(op, g):
            return KernelChoice("conv2d_s8_dsp", "edgec_conv2d_s8_pointwise_dsp",
                                f"{target.core} DSP: 1x1 conv, 2 pixels x 2 channels per SMLAD block")
        return KernelChoice("conv2d_s8_dsp", "edgec_conv2d_s8_im2col_dsp",
                            f"{target.core} DSP: im2col of 2 pixels to int16, 2 pixels x 2 channels per SMLAD block")

    def emit(self, op, g, ctx, region: str | None = None):
        """`region`: a C expression for an `edgec_region *` (patch stage, patch.py), else the whole layer."""
        fields = conv_kernel_fields(op, g, ctx)
        fields["groups"] = _groups(op, g)
        if int4_weights(op, g):  # packed int4 weights: runtime/conv2d_s4.c (never in a patch stage)
            return emit_s4(op, g, ctx, "edgec_conv2d_s8_params", fields)
        params = ctx.params_struct(op, "edgec_conv2d_s8_params", fields)
        if region is not None:
            return f"edgec_conv2d_s8_region(&{params}, {region}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"
        chosen = _fast_kernel(op)
        if chosen is not None:  # in place: input and output are the same buffer; the scratch holds both pixels
            scratch = f"((int16_t *)(edgec_arena.bytes + {ctx.plan.scratch_offset(op.name)}))"
            source = ctx.ptr(op.outputs[0]) if ctx.plan.is_in_place(op.name) else ctx.ptr(op.inputs[0])
            return f"{chosen['function']}(&{params}, {source}, {ctx.ptr(op.outputs[0])}, {scratch});"
        if ctx.plan.is_in_place(op.name):  # the output is in the input's buffer; one input pixel of scratch
            pixel = f"((int8_t *)(edgec_arena.bytes + {ctx.plan.scratch_offset(op.name)}))"
            return f"edgec_conv2d_s8_pointwise_inplace(&{params}, {ctx.ptr(op.outputs[0])}, {pixel});"
        return f"edgec_conv2d_s8(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def in_place_inputs(self, op, g):
        """In place (runtime: edgec_conv2d_s8_pointwise_inplace, or the DSP kernel) when the conv is pointwise
        (_pointwise), where output pixel p reads input pixel p only. Any channel counts: forward over the pixels
        when out_c <= in_c, backward when out_c > in_c."""
        return (0,) if not is_float(op, g) and _pointwise(op, g) and not int4_weights(op, g) else ()

    def scratch_bytes(self, op, g, *, in_place):
        if int4_weights(op, g):
            return row_bytes(op, g)  # one output channel's filter, unpacked
        if _fast_kernel(op) is not None:  # 2 pixels x ceil4(K) int16 (also the saved copy when in place)
            w = g.t(op.inputs[1]).shape
            k4 = -(-(w[1] * w[2] * w[3]) // 4) * 4
            return 2 * 2 * k4  # bytes
        return g.t(op.inputs[0]).shape[3] if in_place else 0  # one input pixel

    def macs(self, op, g):
        w, y = g.t(op.inputs[1]), g.t(op.outputs[0])
        return y.size * w.shape[1] * w.shape[2] * w.shape[3]

    # ---- float32: acc = sum_{ky,kx,i} x * w (in that order, taps outside the input skipped) + bias; clamp ----
    kernel_f32 = "conv2d_f32"
    constraints_f32 = [all_float32, weights_const_f32, groups_divide, fused_activation_supported, valid_padding_attr]

    def reference_f32(self, op, g, inputs):
        x, w = inputs[0], inputs[1]
        bias = inputs[2] if len(inputs) > 2 else None
        assert x is not None and w is not None
        oc, kh, kw, icg = w.shape
        groups = x.shape[3] // icg
        win, _ = windows_f64(x, op, g, kh, kw)
        n, oh, ow = win.shape[:3]
        win = win.reshape(n, oh, ow, kh, kw, groups, icg)
        wg = w.astype(np.float64).reshape(groups, oc // groups, kh, kw, icg)
        acc = np.einsum("nyxhwgi,gohwi->nyxgo", win, wg, optimize=True).reshape(n, oh, ow, oc)
        if bias is not None:
            acc = acc + bias.astype(np.float64)
        return [activate(op, acc)]

    def emit_f32(self, op, g, ctx):
        w = g.t(op.inputs[1])
        fields = window_geometry(op, g, w.shape[1], w.shape[2])
        fields.update(groups=g.t(op.inputs[0]).shape[3] // w.shape[3], **activation_fields(op),
                      weights=ctx.ptr(op.inputs[1]), bias=float_bias(op, ctx))
        params = ctx.params_struct(op, "edgec_conv2d_f32_params", fields)
        return f"edgec_conv2d_f32(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

