"""AVERAGE_POOL_2D and MAX_POOL_2D on int8 (TFLite reference_integer_ops::AveragePool / MaxPool).

Input and output share scale and zero point, so pooling is done on the raw integers:
    avg = round_half_away(sum(window) / count),  count = taps inside the input (padding is not counted)
    max = max(window);  both then clamped to the fused activation's range.
int16 (16x8, runtime/pool2d_s16.c): the same on int16 values with zero point 0 (TFLite Micro's int16 pooling).
"""

from __future__ import annotations

import numpy as np

from ..fixedpoint import activation_range
from .base import (
    GradientRule,
    KernelChoice,
    KernelTarget,
    Operator,
    Quantization,
    fused_activation_supported,
    io_int8,
    is_half,
    per_tensor_activations,
    register,
    same_quant,
    to_half,
)
from .float_common import activate, activation_fields, all_float32, window_geometry, windows_f64
from .int16_common import io_int16
from .window import gather_windows, out_size, valid_padding_attr, window_pads


def same_in_out_quant(op, g) -> bool:
    """input and output have the same scale and zero point"""
    return same_quant(g.t(op.inputs[0]).quant, g.t(op.outputs[0]).quant)


DSP_AVG_MAX_TAPS = 256  # runtime/pool2d_s8_dsp.h: a window's sum of int8 fits the kernel's 16-bit lanes


def window_counts(op, g) -> set[int]:
    """Every count of taps inside the input that the layer's windows have (padding is not counted)."""
    x, y = g.t(op.inputs[0]).shape, g.t(op.outputs[0]).shape
    a, p = op.attrs, op.params
    counts = []
    for size, out, k, stride, pad in ((x[1], y[1], a["filter_h"], a["stride_h"], p["pad_top"]),
                                      (x[2], y[2], a["filter_w"], a["stride_w"], p["pad_left"])):
        start = np.arange(out) * stride - pad
        counts.append(set((np.minimum(start + k, size) - np.maximum(start, 0)).clip(0).tolist()))
    return {r * c for r in counts[0] for c in counts[1]}


def dsp_avg_reciprocal(op, g) -> int:
    """m = ceil(2^32 / (k_h * k_w)) when the DSP average pool's reciprocal multiply is proven exact here, else 0
    (the kernel then divides as TFLite does). The kernel takes the quotient floor(d m_n / 2^32), m_n = ceil(2^32 /
    n), for d = |sum| + floor(n / 2) with |sum| <= 128 n; the proof checks it against floor(d / n) for every such d
    and every count n the layer's windows have (window_counts), all values, not a bound."""
    full = op.attrs["filter_h"] * op.attrs["filter_w"]
    if full < 2:
        return 0  # every window has one tap: the mean is the tap itself, no division
    for n in window_counts(op, g):
        if n >= 2 and not reciprocal_exact(n, (2**32 - 1) // n + 1):  # n = 1: the kernel takes d itself
            return 0
    return (2**32 - 1) // full + 1


def reciprocal_exact(n: int, m: int) -> bool:
    """floor(d m / 2^32) == floor(d / n) for every d = |sum| + floor(n / 2) a window of n int8 taps can give."""
    d = np.arange(128 * n + n // 2 + 1, dtype=np.uint64)
    return bool(np.array_equal((d * np.uint64(m)) >> np.uint64(32), d // np.uint64(n)))


def dsp_avg_choice(op, g, target: KernelTarget) -> KernelChoice | None:
    """With DSP (Cortex-M4, M7, M33; the M55 past Helium's bound), every int8 average pool whose window has at
    most 256 taps: runtime/pool2d_s8_dsp.c."""
    taps = op.attrs["filter_h"] * op.attrs["filter_w"]
    if not target.dsp or taps > DSP_AVG_MAX_TAPS:
        return None
    how = ("division by UMULL with a reciprocal proven exact at compile time" if dsp_avg_reciprocal(op, g)
           else "TFLite's division" if taps > 1 else "1 tap: no division")
    return KernelChoice("pool2d_s8_dsp", "edgec_avg_pool2d_s8_dsp",
                        f"{target.core} DSP: 4 channels per word, 2 SXTAB16 per 4 channels and tap, {how}")


class _Pool2D(Operator):
    kernel = "pool2d_s8"
    constraints = [io_int8, per_tensor_activations, same_in_out_quant, fused_activation_supported,
                   valid_padding_attr]
    c_function = ""

    fuses_activation = True
    patch_kind = "window"
    # TFLite's pooling kernels take one quantization for input and output (same_in_out_quant)
    quantization = Quantization(output="same_as_input")
    not_exportable = None
    backward: GradientRule | None = None  # AVERAGE_POOL_2D and MAX_POOL_2D define their rules
    builtin = ""  # AVERAGE_POOL_2D or MAX_POOL_2D

    def window_size(self, op, g):
        return op.attrs["filter_h"], op.attrs["filter_w"], 1, 1

    def export_tflite(self, op, g, w, ins):
        a = op.attrs
        return self.builtin, ins, "Pool2DOptions", dict(
            padding=w.padding(op), strideH=a["stride_h"], strideW=a["stride_w"], filterHeight=a["filter_h"],
            filterWidth=a["filter_w"], fusedActivationFunction=w.activation(op))

    def infer_shape(self, op, g):
        x = g.t(op.inputs[0])
        a = op.attrs
        return [(x.shape[0], out_size(a["padding"], x.shape[1], a["filter_h"], a["stride_h"]),
                 out_size(a["padding"], x.shape[2], a["filter_w"], a["stride_w"]), x.shape[3])]

    def prepare(self, op, g):
        y = g.t(op.outputs[0])
        a = op.attrs
        act_min, act_max = activation_range(a.get("activation", "NONE"), y.scale, y.zero_point)
        op.params.update(window_pads(op, g, a["filter_h"], a["filter_w"]), act_min=act_min, act_max=act_max)

    def windows(self, op, g, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[N, oh, ow, kh*kw, C] values and a mask of the taps that fall inside the input."""
        vals, inside = gather_windows(x, op, g, op.attrs["filter_h"], op.attrs["filter_w"])
        n, oh, ow = vals.shape[:3]
        return vals.reshape(n, oh, ow, -1, x.shape[3]).astype(np.int64), inside.reshape(oh, ow, -1)

    def emit(self, op, g, ctx, region: str | None = None):
        """`region`: a C expression for an `edgec_region *` (patch stage, patch.py), else the whole layer."""
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        a, p = op.attrs, op.params
        fields = dict(batches=x.shape[0], in_h=x.shape[1], in_w=x.shape[2], channels=x.shape[3],
                      out_h=y.shape[1], out_w=y.shape[2], k_h=a["filter_h"], k_w=a["filter_w"],
                      stride_h=a["stride_h"], stride_w=a["stride_w"], pad_top=p["pad_top"], pad_left=p["pad_left"],
                      act_min=p["act_min"], act_max=p["act_max"])
        params = ctx.params_struct(op, "edgec_pool2d_s8_params", fields)
        if region is not None:
            return f"{self.c_function}_region(&{params}, {region}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"
        chosen = op.attrs.get("kernel_choice") if "patch" not in op.attrs else None
        function = chosen["function"] if chosen else self.c_function
        if chosen and chosen["kernel"] == "pool2d_s8_dsp" and self.type == "avg_pool2d":  # + the proven reciprocal
            return (f"{function}(&{params}, {dsp_avg_reciprocal(op, g)}u, {ctx.ptr(op.inputs[0])}, "
                    f"{ctx.ptr(op.outputs[0])});")
        return f"{function}(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def macs(self, op, g):
        return g.t(op.outputs[0]).size * op.attrs["filter_h"] * op.attrs["filter_w"]

    # ---- int16 (16x8): the int8 maths on int16 values (runtime/pool2d_s16.c) ----------------------------------
    kernel_s16 = "pool2d_s16"
    constraints_s16 = [io_int16, same_in_out_quant, fused_activation_supported, valid_padding_attr]

    def prepare_s16(self, op, g):
        y = g.t(op.outputs[0])
        a = op.attrs
        act_min, act_max = activation_range(a.get("activation", "NONE"), y.scale, y.zero_point, "int16")
        op.params.update(window_pads(op, g, a["filter_h"], a["filter_w"]), act_min=act_min, act_max=act_max)

    def reference_s16(self, op, g, inputs):
        return [self.reference(op, g, inputs)[0].astype(np.int16)]  # reference() keeps int64 until its cast

    def emit_s16(self, op, g, ctx):
        x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
        a, p = op.attrs, op.params
        fields = dict(batches=x.shape[0], in_h=x.shape[1], in_w=x.shape[2], channels=x.shape[3],
                      out_h=y.shape[1], out_w=y.shape[2], k_h=a["filter_h"], k_w=a["filter_w"],
                      stride_h=a["stride_h"], stride_w=a["stride_w"], pad_top=p["pad_top"], pad_left=p["pad_left"],
                      act_min=p["act_min"], act_max=p["act_max"])
        params = ctx.params_struct(op, "edgec_pool2d_s16_params", fields)
        return f"{self.c_function[:-3]}_s16(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    # ---- float32: the average (taps inside the input, summed in row-major order, / their count) or the max ----
    kernel_f32 = "pool2d_f32"
    constraints_f32 = [all_float32, fused_activation_supported, valid_padding_attr]

    def pool_f64(self, vals: np.ndarray, inside: np.ndarray) -> np.ndarray:
        """[N, oh, ow, taps, C] float64 window values and the [oh, ow, taps] inside mask -> [N, oh, ow, C]."""
        raise NotImplementedError

    def reference_f32(self, op, g, inputs):
        x = inputs[0]
        assert x is not None
        a = op.attrs
        win, inside = windows_f64(x, op, g, a["filter_h"], a["filter_w"])
        n, oh, ow = win.shape[:3]
        vals = win.reshape(n, oh, ow, -1, win.shape[-1])
        return [activate(op, self.pool_f64(vals, inside.reshape(oh, ow, -1)))]

    def emit_f32(self, op, g, ctx):
        a = op.attrs
        fields = window_geometry(op, g, a["filter_h"], a["filter_w"])
        fields = {k: v for k, v in fields.items() if k not in ("in_c", "dilation_h", "dilation_w")}
        fields["channels"] = fields.pop("out_c")
        fields.update(activation_fields(op))
        params = ctx.params_struct(op, "edgec_pool2d_f32_params", fields)
        return f"edgec_{self.type}_f32(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"


@register
class AvgPool2D(_Pool2D):
    type = "avg_pool2d"
    c_function = "edgec_avg_pool2d_s8"
    builtin = "AVERAGE_POOL_2D"

    def choose_kernel(self, op, g, target: KernelTarget) -> KernelChoice | None:
        """With Helium (M55), every int8 average pool whose window has at most 4,096 taps (the reciprocal's
        exactness bound, runtime/pool2d_s8_mve.c): 16 channels per pass over the window, VLDRB.S32 and VADD per 4
        channels and tap, the division by one VMULH.U32 by a per-pixel reciprocal."""
        if not target.mve or op.attrs["filter_h"] * op.attrs["filter_w"] > 4096:
            return dsp_avg_choice(op, g, target)
        return KernelChoice("pool2d_s8_mve", "edgec_avg_pool2d_s8_mve",
                            f"{target.core} MVE: 16 channels x 1 tap per 4 VLDRB.S32 + 4 VADD, division by VMULH.U32")

    def backward(self, op, g, b):
        """Real units: y = the mean of the window's taps inside the input, after the fused activation's clamp.
        The clamp's mask, then: a window covering the whole input (ResNet's and DS-CNN's global pooling) is a mean
        over H and W (MEAN_BACKWARD); any other window AVG_POOL2D_BACKWARD, which hands each output's gradient,
        divided by its count of inside taps, to those taps."""
        from .clamp_mask import masked_gradient
        from .mean import global_pool_gradient

        x, y = g.t(op.inputs[0]).shape, g.t(op.outputs[0]).shape
        if not b.needs_grad(op.inputs[0]):
            return
        grad = masked_gradient(b, op.outputs[0])
        if y[1:3] == (1, 1) and op.attrs["filter_h"] >= x[1] and op.attrs["filter_w"] >= x[2]:
            global_pool_gradient(op, g, b, grad)
            return
        gx = b.grad_tensor_for(op.inputs[0])
        b.add_op("avg_pool2d_backward", [grad], [gx], {k: op.attrs[k] for k in (
            "filter_h", "filter_w", "stride_h", "stride_w", "padding")} | {"forward_output_shape": list(y)})
        b.add_grad(op.inputs[0], gx)

    def reference(self, op, g, inputs):
        x = inputs[0]
        assert x is not None
        vals, inside = self.windows(op, g, x)
        total = np.where(inside[None, :, :, :, None], vals, 0).sum(axis=3)
        count = inside.sum(axis=2)[None, :, :, None]
        half = count // 2
        # C division truncates toward zero; sum +- count/2 first makes it round half away from zero
        num = np.where(total > 0, total + half, total - half)
        mean = np.sign(num) * (np.abs(num) // count)
        return [np.clip(mean, op.params["act_min"], op.params["act_max"]).astype(g.t(op.outputs[0]).dtype)]

    def pool_f64(self, vals, inside):
        mask = inside[None, :, :, :, None]
        return np.where(mask, vals, 0.0).sum(axis=3) / mask.sum(axis=3)


@register
class AvgPool2DBackward(Operator):
    """AVG_POOL2D_BACKWARD (training graphs): for every output (n, oy, ox) in row-major order, every tap (ky, kx)
    inside the input in row-major order, and every channel c:
        g_x[n, iy, ix, c] += g_y[n, oy, ox, c] * inv_count[oy, ox]     inv_count = float32(1 / inside taps)
    g_x starts at 0.0f; float32 operations in that order (numpy and C agree bit for bit)."""

    type = "avg_pool2d_backward"
    kernel = "avg_pool2d_backward_f32"
    kernel_f32 = "avg_pool2d_backward_f32"
    constraints: list = []

    fuses_activation = False
    patch_kind = None
    quantization = Quantization()
    not_exportable = "a training-graph op (edgec train): it has no TFLite form"
    backward = None

    def _taps(self, op, g) -> tuple[int, int, np.ndarray, np.ndarray]:
        """(pad_top, pad_left, inside-tap counts [oh, ow], their float32 reciprocals) of the forward window."""
        from .window import pad_before

        a = op.attrs
        _, h, w, _ = g.t(op.outputs[0]).shape
        _, oh, ow, _ = a["forward_output_shape"]
        top = pad_before(h, oh, a["filter_h"], a["stride_h"], 1)
        left = pad_before(w, ow, a["filter_w"], a["stride_w"], 1)
        ys = np.arange(oh)[:, None] * a["stride_h"] - top + np.arange(a["filter_h"])[None, :]
        xs = np.arange(ow)[:, None] * a["stride_w"] - left + np.arange(a["filter_w"])[None, :]
        counts = ((ys >= 0) & (ys < h)).sum(1)[:, None] * ((xs >= 0) & (xs < w)).sum(1)[None, :]
        return top, left, counts, (1.0 / np.maximum(counts, 1)).astype(np.float32)

    def prepare(self, op, g):
        top, left, _, inv = self._taps(op, g)
        op.params.update(pad_top=top, pad_left=left, inv_count=inv)

    prepare_f32 = prepare

    def reference(self, op, g, inputs):
        f = np.float32
        a, p = op.attrs, op.params
        n, h, w, c = g.t(op.outputs[0]).shape
        gy = np.asarray(inputs[0], f)
        gx = np.zeros((n, h, w, c), f)
        inv = np.asarray(p["inv_count"], f)
        for oy in range(gy.shape[1]):
            for ox in range(gy.shape[2]):
                term = (gy[:, oy, ox, :] * inv[oy, ox]).astype(f)
                for ky in range(a["filter_h"]):
                    iy = oy * a["stride_h"] - p["pad_top"] + ky
                    if not 0 <= iy < h:
                        continue
                    for kx in range(a["filter_w"]):
                        ix = ox * a["stride_w"] - p["pad_left"] + kx
                        if 0 <= ix < w:
                            gx[:, iy, ix, :] = (gx[:, iy, ix, :] + term).astype(f)
        return [gx]

    reference_f32 = reference

    def emit(self, op, g, ctx):
        a, p = op.attrs, op.params
        n, h, w, c = g.t(op.outputs[0]).shape
        _, oh, ow, _ = a["forward_output_shape"]
        fields = dict(batches=n, in_h=h, in_w=w, channels=c, out_h=oh, out_w=ow, filter_h=a["filter_h"],
                      filter_w=a["filter_w"], stride_h=a["stride_h"], stride_w=a["stride_w"], pad_top=p["pad_top"],
                      pad_left=p["pad_left"], inv_count=ctx.const_array(op, "inv_count", p["inv_count"], "float"))
        params = ctx.params_struct(op, "edgec_avg_pool2d_backward_params", fields)
        return f"edgec_avg_pool2d_backward_f32(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    emit_f32 = emit


@register
class MaxPool2DBackward(AvgPool2DBackward):
    """MAX_POOL2D_BACKWARD (training graphs): inputs g_y and the saved int8 input x. For every output (n, oy, ox)
    and channel c, the first tap (ky, kx) in row-major order inside the input whose x equals the window's maximum
    receives g_y: g_x[n, iy, ix, c] += g_y[n, oy, ox, c] (outputs in row-major order; g_x starts at 0.0f)."""

    type = "max_pool2d_backward"
    kernel = "max_pool2d_backward_f32"
    kernel_f32 = "max_pool2d_backward_f32"

    def kernels_for(self, op, g):
        return [self.kernel, "avg_pool2d_backward_f32"]  # its header holds the parameter struct both use

    def reference(self, op, g, inputs):
        f = np.float32
        a, p = op.attrs, op.params
        n, h, w, c = g.t(op.outputs[0]).shape
        gy, x = np.asarray(inputs[0], f), np.asarray(inputs[1]).astype(np.int32)
        gx = np.zeros((n, h, w, c), f)
        half = is_half(g, op.outputs[0])
        for oy in range(gy.shape[1]):
            for ox in range(gy.shape[2]):
                taps = [(iy, ix) for iy in range(oy * a["stride_h"] - p["pad_top"],
                                                 oy * a["stride_h"] - p["pad_top"] + a["filter_h"])
                        for ix in range(ox * a["stride_w"] - p["pad_left"],
                                        ox * a["stride_w"] - p["pad_left"] + a["filter_w"])
                        if 0 <= iy < h and 0 <= ix < w]
                window = np.stack([x[:, iy, ix, :] for iy, ix in taps])  # [taps, n, c]
                first = np.argmax(window == window.max(axis=0), axis=0)  # the first tap at the maximum
                for k, (iy, ix) in enumerate(taps):
                    hit = first == k
                    total = (gx[:, iy, ix, :] + gy[:, oy, ox, :]).astype(f)
                    if half:  # fp16 storage: every addition rounded at its store, as the f16 kernel
                        total = to_half(total)
                    gx[:, iy, ix, :] = np.where(hit, total, gx[:, iy, ix, :])
        return [gx]

    reference_f32 = reference

    def emit(self, op, g, ctx):
        a, p = op.attrs, op.params
        n, h, w, c = g.t(op.outputs[0]).shape
        _, oh, ow, _ = a["forward_output_shape"]
        fields = dict(batches=n, in_h=h, in_w=w, channels=c, out_h=oh, out_w=ow, filter_h=a["filter_h"],
                      filter_w=a["filter_w"], stride_h=a["stride_h"], stride_w=a["stride_w"], pad_top=p["pad_top"],
                      pad_left=p["pad_left"], inv_count="NULL")
        params = ctx.params_struct(op, "edgec_avg_pool2d_backward_params", fields)
        fn = "edgec_max_pool2d_backward_f16" if is_half(g, op.outputs[0]) else "edgec_max_pool2d_backward_f32"
        return (f"{fn}(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.inputs[1])}, "
                f"{ctx.ptr(op.outputs[0])});")

    emit_f32 = emit


@register
class MaxPool2D(_Pool2D):
    type = "max_pool2d"
    c_function = "edgec_max_pool2d_s8"
    builtin = "MAX_POOL_2D"

    def choose_kernel(self, op, g, target: KernelTarget) -> KernelChoice | None:
        """With Helium (M55): every int8 max pool, runtime/pool2d_s8_mve.c (16 channels per VLDRB.8 + VMAX.S8 per
        tap). With DSP (Cortex-M4, M7, M33): runtime/pool2d_s8_dsp.c."""
        if target.mve:
            return KernelChoice("pool2d_s8_mve", "edgec_max_pool2d_s8_mve",
                                f"{target.core} MVE: 16 channels per VLDRB.8 + VMAX.S8 per tap")
        if not target.dsp:
            return None
        return KernelChoice("pool2d_s8_dsp", "edgec_max_pool2d_s8_dsp",
                            f"{target.core} DSP: 4 channels per word, SSUB8 + SEL per 4 channels and tap")

    def backward(self, op, g, b):
        """Real units: y = the largest tap inside the window (then the fused activation's clamp): the clamp's mask,
        then MAX_POOL2D_BACKWARD hands each output's gradient to the first tap (row-major) holding the window's
        maximum, as PyTorch's max pooling does; it reads the saved int8 input."""
        from .clamp_mask import masked_gradient

        x, y = op.inputs[0], op.outputs[0]
        if not b.needs_grad(x):
            return
        gx = b.grad_tensor_for(x)
        b.add_op("max_pool2d_backward", [masked_gradient(b, y), x], [gx], {k: op.attrs[k] for k in (
            "filter_h", "filter_w", "stride_h", "stride_w", "padding")} | {
            "forward_output_shape": list(g.t(y).shape)})
        b.add_grad(x, gx)

    def reference(self, op, g, inputs):
        x = inputs[0]
        assert x is not None
        vals, inside = self.windows(op, g, x)
        lowest = -32768 if g.t(op.outputs[0]).dtype == "int16" else -128
        best = np.where(inside[None, :, :, :, None], vals, lowest).max(axis=3)
        return [np.clip(best, op.params["act_min"], op.params["act_max"]).astype(g.t(op.outputs[0]).dtype)]

    def pool_f64(self, vals, inside):
        return np.where(inside[None, :, :, :, None], vals, -np.inf).max(axis=3)
