"""CONV_2D: int8 convolution with per-channel weights (TFLite: ConvPerChannel).

    acc[o]  = bias[o] + sum_{ky,kx,i} w[o,ky,kx,i] * (x[iy,ix,i] - zp_x)          (int32)
    y[o]    = clamp(zp_y + MBQM(acc[o], M[o], shift[o]), act_min, act_max)          (int8)
    M[o], shift[o] = QuantizeMultiplier(s_x * s_w[o] / s_y)                          (compile time)
"""

from __future__ import annotations

import numpy as np

from ..c_emit import designated
from .base import (
    KernelChoice,
    KernelTarget,
    Operator,
    Quantization,
    fused_activation_supported,
    io_int8,
    is_float,
    is_half,
    is_int16,
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
from .fully_connected import dsp_fc_records
from .int4_common import emit_s4, int4_weights, row_bytes
from .int8_common import (
    WeightBackward,
    apply_updates,
    backward_call,
    backward_fields,
    backward_scratch,
    bias_grad,
    bias_int32,
    dsp_output_stage,
    folded_bias,
    grad_acc,
    host_output_stage_ok,
    host_requant_arg,
    host_vector_args,
    mve_lane_records,
    onnxruntime_rounding,
    prepare_rescale,
    prepare_weight_backward,
    record_weight_pairs,
    requantize,
    weight_layer_backward,
    weights_int8_symmetric,
)
from .int16_common import (
    bias_int64,
    io_int16,
    prepare_rescale_s16,
    requantize_s16,
    rescale_shift_in_range,
    taps_in_range,
    weighted_fields_s16,
    weights_int8_symmetric_s16,
)
from .window import out_size, pad_before, valid_padding_attr, window_pads


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


def conv_fields_s16(op, g, ctx) -> dict:
    """The C struct of the 16x8 conv and depthwise kernels (runtime/conv2d_s16.h, depthwise_conv2d_s16.h)."""
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    a, p = op.attrs, op.params
    return dict(batches=x.shape[0], in_h=x.shape[1], in_w=x.shape[2], in_c=x.shape[3],
                out_h=y.shape[1], out_w=y.shape[2], out_c=y.shape[3], k_h=w.shape[1], k_w=w.shape[2],
                **(dict(groups=x.shape[3] // w.shape[3]) if op.type == "conv2d" else
                   dict(depth_multiplier=a["depth_multiplier"])),
                stride_h=a["stride_h"], stride_w=a["stride_w"],
                dilation_h=a.get("dilation_h", 1), dilation_w=a.get("dilation_w", 1),
                pad_top=p["pad_top"], pad_left=p["pad_left"], **weighted_fields_s16(op, ctx))


def prepare_conv_s16(op, g) -> None:
    w = g.t(op.inputs[1])
    prepare_rescale_s16(op, g)
    op.params.update(window_pads(op, g, w.shape[1], w.shape[2]))


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


def dsp_weights16(w: np.ndarray) -> np.ndarray:
    """The DSP kernels' int16 weights (runtime/conv2d_s8_dsp.h, `weights16`) of live channels w (OHWI): the first
    2 floor(n / 2) channels by pairs, K padded with zeros to a multiple of 4, each group of 4 k of channel a then
    channel b in the scratch's order (k = 4g, 4g + 2, 4g + 1, 4g + 3)."""
    n = w.shape[0] // 2 * 2
    flat = w[:n].reshape(n, -1).astype(np.int16)
    k4 = -(-flat.shape[1] // 4) * 4
    flat = np.pad(flat, ((0, 0), (0, k4 - flat.shape[1])))
    groups = flat.reshape(n // 2, 2, k4 // 4, 4)[..., [0, 2, 1, 3]]
    return groups.transpose(0, 2, 1, 3).reshape(-1)


def dsp_stage(op, g, ctx) -> str:
    """The DSP conv kernels' compile-time stage (runtime/conv2d_s8_dsp.h) as a C expression: the output stage of
    runtime/edgec_dsp_out.h for every output channel whose weights are not all zero (their weights, bias and
    constants compacted), and the others' outputs computed here once, clamp(zp_y + MBQM(bias)): their accumulator is
    the bias whatever the input. NULL when the stage would not be exact (the kernel then requantizes as the
    portable one, every channel computed)."""
    w = g.t(op.inputs[1]).data
    assert w is not None
    out_c = w.shape[0]
    bias = np.zeros(out_c, np.int64)
    if len(op.inputs) > 2 and op.inputs[2]:
        bias = np.asarray(g.t(op.inputs[2]).data, np.int64).reshape(-1)
    live = [c for c in range(out_c) if np.any(w[c])]
    stage = dsp_output_stage(op, g, 0, bias, live)
    if stage is None:
        return "NULL"
    fields = dict(out=ctx.const_array(op, "dsp_out", stage), weights=ctx.ptr(op.inputs[1]), channel="NULL",
                  row="NULL", live=len(live))
    if len(live) < out_c:  # dead channels: the live ones' weights compacted, the dead ones' outputs constant
        if live:
            fields["weights"] = ctx.const_array(op, "weights_live", w[live], "int8_t")
        fields["channel"] = ctx.const_array(op, "live_channels", np.array(live, np.int16), "int16_t")
        fields["row"] = ctx.const_array(op, "dead_outputs", requantize(bias.reshape(1, -1), op, g), "int8_t")
    if len(live) >= 2 and g.meta.get("kernels", {}).get("conv_weights16"):
        fields["weights16"] = ctx.const_array(op, "weights16", dsp_weights16(w[live]), "int16_t")
    symbol = ctx.names.claim(f"{ctx.stem(op)}_dsp_stage")
    ctx.structs.append(f"static const edgec_conv2d_s8_dsp_stage {symbol} = {designated(fields)};")
    return f"&{symbol}"


#: the Helium lanes kernel (runtime/conv2d_s8_mve.h, edgec_conv2d_s8_lanes_mve): at most MVE_LANES_MAX_OUT output
#: channels (4 vectors of sums in registers) and K <= MVE_LANES_MAX_K. It is no longer chosen (0): since the 4-pixel
#: kernels' channel pairs and requantization are asm loops and their im2col gathers a pixel inside the input (16-bit
#: offsets), they are cheaper on every layer it took (vww conv_2d_0 859,578 -> 551,511 instructions, conv_2d_2
#: 495,488 -> 375,645, ResNet-8 conv_2d_0 532,254 -> 343,952). The kernel stays in the runtime (and its harness).
MVE_LANES_MAX_OUT = 0
MVE_LANES_MAX_K = 32


def lanes_weights(op, g) -> np.ndarray:
    """The lanes kernel's weights: OHWI transposed to [K][ceil4(out_c)] int8, zeros past out_c."""
    w = g.t(op.inputs[1]).data
    assert w is not None
    out_c = w.shape[0]
    t = np.zeros((w[0].size, -(-out_c // 4) * 4), np.int8)
    t[:, :out_c] = w.reshape(out_c, -1).T
    return t


def mve_channel_words(op, g) -> np.ndarray:
    """The Helium conv kernels' per-channel words (runtime/conv2d_s8_mve.h, `chan`): int32 [out_c][4], the folded
    bias, the multiplier, max(shift, 0) and min(shift, 0)."""
    folded = folded_bias(op, g, 0).astype(np.int64)
    c = folded.shape[0]
    m = np.broadcast_to(np.asarray(op.params["multiplier"], np.int64).reshape(-1), (c,))
    s = np.broadcast_to(np.asarray(op.params["shift"], np.int64).reshape(-1), (c,))
    return np.stack([folded, m, np.maximum(s, 0), np.minimum(s, 0)], axis=1).astype(np.int32)


def mve_live(op, g, ctx) -> str:
    """The Helium conv kernels' dead channels (runtime/conv2d_s8_mve.h, edgec_conv2d_s8_mve_live) as a C
    expression: the output channels whose weights are all zero add nothing to their accumulator, so their output
    is clamp(zp_y + MBQM(bias)) whatever the input, computed here once (either rounding); the kernel multiplies the
    others' compacted weights only. NULL when every channel has a nonzero weight."""
    w = g.t(op.inputs[1]).data
    assert w is not None
    out_c = w.shape[0]
    live = [c for c in range(out_c) if np.any(w[c])]
    if len(live) == out_c:
        return "NULL"
    bias = np.zeros(out_c, np.int64)
    if len(op.inputs) > 2 and op.inputs[2]:
        bias = np.asarray(g.t(op.inputs[2]).data, np.int64).reshape(-1)
    fields = dict(weights=ctx.const_array(op, "weights_live", w[live], "int8_t") if live else ctx.ptr(op.inputs[1]),
                  channel=ctx.const_array(op, "live_channels", np.array(live or [0], np.int16), "int16_t"),
                  row=ctx.const_array(op, "dead_outputs", requantize(bias.reshape(1, -1), op, g), "int8_t"),
                  live=len(live))
    symbol = ctx.names.claim(f"{ctx.stem(op)}_mve_live")
    ctx.structs.append(f"static const edgec_conv2d_s8_mve_live {symbol} = {designated(fields)};")
    return f"&{symbol}"


def _fast_kernel(op) -> dict | None:
    """The layer's chosen fast kernel (op.attrs["kernel_choice"]), or None; a patch-stage layer runs the portable
    region kernel whatever was chosen."""
    return op.attrs.get("kernel_choice") if "patch" not in op.attrs else None


#: The DSP pointwise conv runs as a fully connected layer over its pixels from compile-time records
#: (runtime/conv2d_s8_fc_dsp.h, edgec_conv2d_s8_pointwise_dsp_rec) when in_c is at most this (EDGEC_PW_REC_MAX_GROUPS
#: * 4: a pixel's widened inputs on the stack): per output about 0.69 K + 10 instructions there against 0.78 K + 20
#: for the 2 x 2 int16 blocks with their stack sums (docs/kernels.md), fewer at every K.
PW_REC_MAX_K = 256


def pointwise_block_records(w2: np.ndarray, stage: np.ndarray) -> np.ndarray | None:
    """The records of edgec_conv2d_s8_pointwise_dsp_rec for in_c > 8 (runtime/conv2d_s8_fc_dsp.h): blocks of 4
    channels [4 starts, 8 G, G groups x 4 channels x ((w0, w2), (w1, w3)), (M, round, R) x 4], then the out_c % 4
    last channels [start, G x ((w0, w2), (w1, w3)), M, round, e]; each channel's pre folded into its int16 weights
    (w << pre) and start (start << pre mod 2^32); R of a block's channel 3: e | (blocks left << 8). None when some
    channel's pre is over 8."""
    out_c, depth = w2.shape
    shifted = record_weight_pairs(w2, stage, 4 * -(-depth // 4))
    if shifted is None:
        return None
    pairs, start, e = shifted  # pairs[o, group]: the words (w0, w2), (w1, w3) of channel o's group of 4 inputs
    groups, blocks = pairs.shape[1], out_c // 4
    words: list[int] = []
    for k in range(blocks):
        rows = list(range(4 * k, 4 * k + 4))
        words += [int(start[r]) for r in rows] + [8 * groups]
        words += [int(v) for v in pairs[rows].transpose(1, 0, 2).reshape(-1)]
        for i, r in enumerate(rows):
            words += [int(stage[r, 1]), int(stage[r, 2]), int(e[r]) | ((blocks - 1 - k) << 8 if i == 3 else 0)]
    for r in range(4 * blocks, out_c):
        words += [int(start[r]), *(int(v) for v in pairs[r].reshape(-1)), int(stage[r, 1]), int(stage[r, 2]),
                  int(e[r])]
    return ((np.array(words, np.int64) + 2**31) % 2**32 - 2**31).astype(np.int32)


def pointwise_records(op, g) -> np.ndarray | None:
    """The records of edgec_conv2d_s8_pointwise_dsp_rec for a DSP pointwise layer, or None (the 2 x 2 block kernel):
    in_c <= PW_REC_MAX_K (and at least 4 channels when in_c > 8), room for int16 weights, an exact output stage
    (started at the bias folded with the input zero point: the records multiply raw inputs), the full int8 clamp,
    every channel live (dead channels are cheaper in the block kernel, which copies their constant output), pre <= 8
    on every channel. in_c <= 8: fully_connected.dsp_fc_records, else pointwise_block_records."""
    chosen = _fast_kernel(op)
    if chosen is None or chosen["function"] != "edgec_conv2d_s8_pointwise_dsp" or int4_weights(op, g):
        return None
    w = g.t(op.inputs[1]).data
    if w is None or not g.meta.get("kernels", {}).get("conv_weights16"):
        return None
    out_c, in_c = w.shape[0], w.shape[1] * w.shape[2] * w.shape[3]
    p = op.params
    if in_c > PW_REC_MAX_K or (in_c > 8 and out_c < 4) or p["act_min"] != -128 or p["act_max"] != 127:
        return None
    w2 = w.reshape(out_c, in_c)
    if not np.all(np.any(w2 != 0, axis=1)):
        return None
    stage = dsp_output_stage(op, g, 0, folded_bias(op, g, 0))
    if stage is None:
        return None
    # in_c <= 8: one record per channel, the FC records kernel's depth <= 8 layout (the same words)
    return dsp_fc_records(w2, stage) if in_c <= 8 else pointwise_block_records(w2, stage)


HOST_KERNEL = "conv2d_s8_host"
HOST_K_STEP = 8  # EDGEC_CONV_HOST_K_STEP: K padded with zero weights to a multiple of this
HOST_MAX_K = 4608  # EDGEC_CONV_HOST_MAX_K: the im2col of 4 pixels is on the host's stack
HOST_MAX_C = 4096  # EDGEC_CONV_HOST_MAX_C: and their accumulators


def host_conv_arrays(op, g) -> tuple[np.ndarray, np.ndarray]:
    """The host kernel's compile-time arrays: the weights as int16 [out_c, k_pad] (K = k_h k_w in_c, zeros past
    it), and bias_folded[o] = bias[o] + input_offset * sum_k w[o, k] (int64 here; host_conv_choice checks it fits
    int32)."""
    w = g.t(op.inputs[1]).data.astype(np.int64)
    oc = w.shape[0]
    k = w.size // oc
    k_pad = -(-k // HOST_K_STEP) * HOST_K_STEP
    w16 = np.zeros((oc, k_pad), np.int16)
    w16[:, :k] = w.reshape(oc, k)
    bias = np.zeros(oc, np.int64)
    if len(op.inputs) > 2 and op.inputs[2]:
        bias += g.t(op.inputs[2]).data.astype(np.int64)
    folded = bias + op.params["input_offset"] * w.reshape(oc, k).sum(axis=1)
    return w16, folded

def host_conv_choice(op, g, what: str) -> KernelChoice | None:
    """The host kernel for a groups-1 conv (`what` names it in the reason), or None when its K exceeds the stack
    im2col or the folded bias does not fit int32 (then the portable kernel)."""
    w = g.t(op.inputs[1])
    k = w.shape[1] * w.shape[2] * w.shape[3]
    if k > HOST_MAX_K or w.shape[0] > HOST_MAX_C or w.data is None or not host_output_stage_ok(op, g):
        return None
    k_pad = -(-k // HOST_K_STEP) * HOST_K_STEP
    folded = host_conv_arrays(op, g)[1]
    if folded.size and (folded.min() < -(2**31) or folded.max() >= 2**31):
        return None
    return KernelChoice(HOST_KERNEL, "edgec_conv2d_s8_host",
                        f"host: {what} as int16 dot products gcc -O2 vectorizes (input zero point folded into the "
                        f"bias, 4 pixels per pass over the weights, K {k} padded to {k_pad})")


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

    def backward(self, op, g, b) -> None:
        """conv2d_backward (below): g_x when needed, the first weight_channels input channels of each filter
        (within its group) and the bias when trained (int8_common.weight_layer_backward)."""
        weight_layer_backward(op, g, b)

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
        inputs to int16 once, then computes 2 pixels x 2 output channels per SXTB16/SMLAD step. With Helium, the
        MVE kernels (runtime/conv2d_s8_mve.c). On the host, every int8 conv with groups 1 and K <= HOST_MAX_K:
        runtime/conv2d_s8_host.c, int16 dot products gcc vectorizes (the input zero point folded into the bias at
        compile time, 4 pixels per pass over the weights)."""
        if _groups(op, g) != 1:
            return None
        if target.core == "host":
            return host_conv_choice(op, g, "conv")
        if target.mve:
            w = g.t(op.inputs[1]).shape
            if w[0] <= MVE_LANES_MAX_OUT and w[1] * w[2] * w[3] <= MVE_LANES_MAX_K:
                return KernelChoice("conv2d_s8_mve", "edgec_conv2d_s8_lanes_mve",
                                    f"{target.core} MVE: {w[0]} output channels as vector lanes, one VLDRB.S32 + "
                                    f"VMLA.S32 per 4 channels and tap (K = {w[1] * w[2] * w[3]})")
            if _pointwise(op, g):
                return KernelChoice("conv2d_s8_mve", "edgec_conv2d_s8_pointwise_mve",
                                    f"{target.core} MVE: 1x1 conv, 4 pixels x 2 channels x 16 inputs per "
                                    "8 VMLADAVA.S8 step")
            return KernelChoice("conv2d_s8_mve", "edgec_conv2d_s8_im2col_mve",
                                f"{target.core} MVE: im2col of 4 pixels (int8), 4 pixels x 2 channels x 16 inputs "
                                "per 8 VMLADAVA.S8 step")
        if not target.dsp:
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
        frozen = ctx.frozen_ptr(op.inputs[1])
        if frozen != "NULL":  # a partially trained conv: the trained slice in SRAM, the rest in flash (portable)
            assert _fast_kernel(op) is None, "a trained conv runs the portable kernel"
            fields.update(weights_frozen=frozen, weight_split=g.t(op.inputs[1]).mutable_channels)
        params = ctx.params_struct(op, "edgec_conv2d_s8_params", fields)
        if region is not None:
            return f"edgec_conv2d_s8_region(&{params}, {region}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"
        chosen = _fast_kernel(op)
        if chosen is not None and chosen["kernel"] == HOST_KERNEL:  # in place: the pointwise conv's own buffer
            w16, bias = host_conv_arrays(op, g)
            source = ctx.ptr(op.outputs[0]) if ctx.plan.is_in_place(op.name) else ctx.ptr(op.inputs[0])
            return (f"{chosen['function']}(&{params}, {ctx.const_array(op, 'weights16', w16, 'int16_t')}, "
                    f"{ctx.const_array(op, 'bias_folded', bias)}, {host_requant_arg(op, g, ctx)}, "
                    f"{host_vector_args(op, g, ctx, 0, True)}, {source}, {ctx.ptr(op.outputs[0])});")
        if chosen is not None and chosen["function"] == "edgec_conv2d_s8_lanes_mve":  # in place when pointwise
            source = ctx.ptr(op.outputs[0]) if ctx.plan.is_in_place(op.name) else ctx.ptr(op.inputs[0])
            wt = ctx.const_array(op, "weights_lanes", lanes_weights(op, g), "int8_t")
            out_c = g.t(op.inputs[1]).shape[0]
            bias = (np.asarray(g.t(op.inputs[2]).data, np.int64).reshape(-1) if len(op.inputs) > 2 and op.inputs[2]
                    else np.zeros(out_c, np.int64))
            rec = ctx.const_array(op, "lanes_records", mve_lane_records(op, bias))
            return f"{chosen['function']}(&{params}, {rec}, {wt}, {source}, {ctx.ptr(op.outputs[0])});"
        if chosen is not None:  # in place: input and output are the same buffer; the scratch holds the pixels
            source = ctx.ptr(op.outputs[0]) if ctx.plan.is_in_place(op.name) else ctx.ptr(op.inputs[0])
            rec = pointwise_records(op, g)
            if rec is not None:  # few input channels: an FC over the pixels (runtime/conv2d_s8_fc_dsp.h)
                return (f"edgec_conv2d_s8_pointwise_dsp_rec(&{params}, {ctx.const_array(op, 'dsp_rec', rec)}, "
                        f"{source}, {ctx.ptr(op.outputs[0])});")
            mve = chosen["kernel"].endswith("_mve")
            scratch = f"(({'int8_t' if mve else 'int16_t'} *)(edgec_arena.bytes + {ctx.plan.scratch_offset(op.name)}))"
            if mve:  # + per channel the bias folded with the zero point (runtime/edgec_mve.h), M and the shifts
                folded = ctx.const_array(op, "mve_channels", mve_channel_words(op, g))
                return (f"{chosen['function']}(&{params}, {folded}, {mve_live(op, g, ctx)}, {source}, "
                        f"{ctx.ptr(op.outputs[0])}, {scratch});")
            stage = dsp_stage(op, g, ctx)
            return f"{chosen['function']}(&{params}, {stage}, {source}, {ctx.ptr(op.outputs[0])}, {scratch});"
        if ctx.plan.is_in_place(op.name):  # the output is in the input's buffer; one input pixel of scratch
            pixel = f"((int8_t *)(edgec_arena.bytes + {ctx.plan.scratch_offset(op.name)}))"
            return f"edgec_conv2d_s8_pointwise_inplace(&{params}, {ctx.ptr(op.outputs[0])}, {pixel});"
        return f"edgec_conv2d_s8(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def in_place_inputs(self, op, g):
        """In place (runtime: edgec_conv2d_s8_pointwise_inplace, or the DSP kernel) when the conv is pointwise
        (_pointwise), where output pixel p reads input pixel p only. Any channel counts: forward over the pixels
        when out_c <= in_c, backward when out_c > in_c."""
        return (0,) if (not is_float(op, g) and not is_int16(op, g) and _pointwise(op, g)
                        and not int4_weights(op, g)) else ()

    def kernels_for(self, op, g):
        """+ runtime/conv2d_s8_fc_dsp.c when the pointwise DSP layer runs as an FC over its pixels"""
        extra = ["conv2d_s8_fc_dsp"] if pointwise_records(op, g) is not None else []
        return super().kernels_for(op, g) + extra

    def scratch_bytes(self, op, g, *, in_place):
        if int4_weights(op, g):
            return row_bytes(op, g)  # one output channel's filter, unpacked
        chosen = _fast_kernel(op)
        if pointwise_records(op, g) is not None:
            return 0  # the FC records kernel: the inputs stay in registers (in place: a copy on the stack)
        if chosen is not None and chosen["kernel"] == HOST_KERNEL:
            return 0  # the host kernel's im2col is on the stack (runtime/conv2d_s8_host.h)
        if chosen is not None and chosen["function"] == "edgec_conv2d_s8_lanes_mve":
            return 0  # a pixel's sums stay in registers
        if chosen is not None:
            w = g.t(op.inputs[1]).shape
            if chosen["kernel"].endswith("_mve"):  # 4 pixels x ceil16(K) int8 (also the saved copy when in place)
                return 4 * (-(-(w[1] * w[2] * w[3]) // 16) * 16)
            k4 = -(-(w[1] * w[2] * w[3]) // 4) * 4  # DSP: 2 pixels x ceil4(K) int16 (likewise)
            return 2 * 2 * k4  # bytes
        return g.t(op.inputs[0]).shape[3] if in_place else 0  # one input pixel

    def macs(self, op, g):
        w, y = g.t(op.inputs[1]), g.t(op.outputs[0])
        return y.size * w.shape[1] * w.shape[2] * w.shape[3]

    # ---- int16 (16x8): acc = bias + sum w * x in int64 (zero points 0), y = clamp(MBQM64(acc)) (int16_common) --
    kernel_s16 = "conv2d_s16"
    constraints_s16 = [io_int16, weights_int8_symmetric_s16, bias_int64, groups_divide, fused_activation_supported,
                       valid_padding_attr, rescale_shift_in_range, taps_in_range]

    def prepare_s16(self, op, g):
        prepare_conv_s16(op, g)

    def reference_s16(self, op, g, inputs):
        x, w = inputs[0], inputs[1]
        y = g.t(op.outputs[0])
        assert x is not None and w is not None
        oc, kh, kw, icg = w.shape
        groups = x.shape[3] // icg
        win = padded_windows(x.astype(np.int64), op, kh, kw, y.shape[1], y.shape[2], 0)
        n, oh, ow = win.shape[:3]
        win = win.reshape(n, oh, ow, kh, kw, groups, icg)
        wg = w.astype(np.int64).reshape(groups, oc // groups, kh, kw, icg)
        acc = np.einsum("nyxhwgi,gohwi->nyxgo", win, wg).reshape(n, oh, ow, oc)
        if len(inputs) > 2 and inputs[2] is not None:
            acc = acc + inputs[2].astype(np.int64)
        return [requantize_s16(acc, op)]

    def emit_s16(self, op, g, ctx):
        params = ctx.params_struct(op, "edgec_conv2d_s16_params", conv_fields_s16(op, g, ctx))
        return f"edgec_conv2d_s16(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

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



# ---- training: conv2d_backward (docs/training.md; the shared maths is in int8_common) ---------------------------

def backward_geometry(op, g) -> dict:
    """The geometry of a conv-like backward op (inputs [x, g_y, mask, w, bias], x's shape in attrs["input_shape"]:
    x itself is None when the weights are frozen), with TFLite's padding (the odd pixel after)."""
    a = op.attrs
    x, y, w = a["input_shape"], g.t(op.inputs[1]).shape, g.t(op.inputs[3]).shape
    d_h, d_w = a.get("dilation_h", 1), a.get("dilation_w", 1)
    return dict(batches=x[0], in_h=x[1], in_w=x[2], in_c=x[3], out_h=y[1], out_w=y[2], out_c=y[3],
                k_h=w[1], k_w=w[2], stride_h=a["stride_h"], stride_w=a["stride_w"], dilation_h=d_h, dilation_w=d_w,
                pad_top=pad_before(x[1], y[1], w[1], a["stride_h"], d_h),
                pad_left=pad_before(x[2], y[2], w[2], a["stride_w"], d_w))


def _outputs_of_taps(in_size: int, out: int, k: int, stride: int, dilation: int, pad: int):
    """For input row iy and kernel row ky: the output row oy that reads iy through tap ky (iy = oy * stride - pad
    + ky * dilation) and whether there is one, as [in_size, k] arrays (oy clipped into range where there is not)."""
    t = np.arange(in_size)[:, None] + pad - np.arange(k)[None, :] * dilation
    valid = (t >= 0) & (t % stride == 0) & (t // stride < out)
    return np.clip(t // stride, 0, out - 1), valid


def _inputs_of_taps(out: int, in_size: int, k: int, stride: int, dilation: int, pad: int):
    """For output row oy and kernel row ky: the input row it reads and whether it is inside the input, [out, k]."""
    t = np.arange(out)[:, None] * stride - pad + np.arange(k)[None, :] * dilation
    return np.clip(t, 0, in_size - 1), (t >= 0) & (t < in_size)


def window_input_grad(geo: dict, g_acc: np.ndarray, taps: np.ndarray, out_channel: np.ndarray,
                      inv_sx) -> np.ndarray:
    """Step 2 of a conv-like backward op in float32, the kernels' order: for each input element (n, iy, ix, i),
    S = sum over ky asc, kx asc (taps that map to an output pixel), then j asc, of taps[ky, kx, j, i] *
    g_acc[n, oy, ox, out_channel[j, i]], sequential from 0.0f; g_x = S * inv_sx. `taps` [k_h, k_w, J, in_c]: the
    float32 weights; `out_channel` [J, in_c]: the output channel each term reads."""
    oy, vy = _outputs_of_taps(geo["in_h"], geo["out_h"], geo["k_h"], geo["stride_h"], geo["dilation_h"],
                              geo["pad_top"])
    ox, vx = _outputs_of_taps(geo["in_w"], geo["out_w"], geo["k_w"], geo["stride_w"], geo["dilation_w"],
                              geo["pad_left"])
    s = np.zeros((geo["batches"], geo["in_h"], geo["in_w"], geo["in_c"]), np.float32)
    for ky in range(geo["k_h"]):
        for kx in range(geo["k_w"]):
            valid = (vy[:, ky][:, None] & vx[:, kx][None, :])[None, :, :, None]
            if not valid.any():
                continue  # adding +0.0 to a sum that started at +0.0 changes no bit: skipping is the same
            rows = g_acc[:, oy[:, ky]][:, :, ox[:, kx]]  # [N, in_h, in_w, out_c]: the output pixel of each input
            for j in range(out_channel.shape[0]):
                s = s + np.where(valid, taps[ky, kx, j] * rows[..., out_channel[j]], np.float32(0))
    return (s * np.float32(inv_sx)).astype(np.float32)


def window_weight_grad(geo: dict, x: np.ndarray, input_offset: int, g_acc: np.ndarray, out_channels: np.ndarray,
                       in_channel: np.ndarray) -> np.ndarray:
    """Step 3's gradients of a conv-like backward op in float32, the kernels' order: G[r, ky, kx, s] = sum over
    the output pixels p asc (n, oy, ox row-major), taps inside the input only, of g_acc[p, out_channels[r]] *
    (float)(x[n, iy, ix, in_channel[r, s]] + input_offset), sequential from 0.0f."""
    iy, vy = _inputs_of_taps(geo["out_h"], geo["in_h"], geo["k_h"], geo["stride_h"], geo["dilation_h"],
                             geo["pad_top"])
    ix, vx = _inputs_of_taps(geo["out_w"], geo["in_w"], geo["k_w"], geo["stride_w"], geo["dilation_w"],
                             geo["pad_left"])
    xs = (x.astype(np.int32) + input_offset).astype(np.float32)
    grads = np.zeros((len(out_channels), geo["k_h"], geo["k_w"], in_channel.shape[1]), np.float32)
    for n in range(geo["batches"]):
        for oy in range(geo["out_h"]):
            for ox in range(geo["out_w"]):
                valid = (vy[oy][:, None] & vx[ox][None, :])[None, :, :, None]
                window = xs[n][iy[oy][:, None], ix[ox][None, :]]  # [k_h, k_w, in_c]
                terms = g_acc[n, oy, ox, out_channels][:, None, None, None] * window[:, :, in_channel].transpose(
                    2, 0, 1, 3)  # [r, k_h, k_w, s]
                grads = grads + np.where(valid, terms, np.float32(0))
    return grads


def _conv_trained(w_shape, weight_channels: int) -> np.ndarray:
    trained = np.zeros(w_shape, bool)
    trained[..., :weight_channels] = True
    return trained


@register
class Conv2DBackward(WeightBackward, Operator):
    """conv2d_backward: inputs [x (None when the weights are frozen), g_y, mask, w, bias], outputs [g_x] or [];
    updates the trained weights and bias in place (runtime/conv2d_s8_backward.c).
        g_acc[p, o] = (mask(p, o) ? g_y[p, o] : 0) * s_x s_w[o]
        g_x[n, iy, ix, i] = (1 / s_x) * sum_{ky, kx, o in i's group} w[o, ky, kx, i - base] * g_acc[n, oy, ox, o]
        G[o, ky, kx, i] = sum_p g_acc[p, o] * (x[n, iy, ix, base + i] - zp_x),  w += QAS step (i < weight_channels)
        G_b[o] = sum_p g_acc[p, o],  bias += QAS step"""

    type = "conv2d_backward"
    kernel = "conv2d_s8_backward"
    quantization = Conv2D.quantization  # unused: the op is never quantized (it is made by the training builder)

    def prepare(self, op, g):
        geo = backward_geometry(op, g)
        w = g.t(op.inputs[3]).shape
        op.params.update(pad_top=geo["pad_top"], pad_left=geo["pad_left"])
        prepare_weight_backward(op, g, 0, _conv_trained(w, op.attrs["weight_channels"]))

    def grads(self, op, g, inputs) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """(g_x or None, G [out_c, k_h, k_w, trained in-group channels] or None, G_b or None), in float32 the
        kernel's way, from the weights before the update."""
        x, g_y, mask, w = inputs[0], inputs[1], inputs[2], inputs[3]
        assert g_y is not None and mask is not None and w is not None
        geo = backward_geometry(op, g)
        oc, _, _, icg = w.shape
        ocg = oc // (geo["in_c"] // icg)
        g_acc = grad_acc(op, g_y, mask)
        g_x = grad = grad_b = None
        if op.outputs:
            i = np.arange(geo["in_c"])
            out_channel = (i // icg)[None, :] * ocg + np.arange(ocg)[:, None]  # [ocg, in_c]
            taps = w.astype(np.float32)[out_channel, :, :, (i % icg)[None, :]]  # [ocg, in_c, k_h, k_w]
            g_x = window_input_grad(geo, g_acc, taps.transpose(2, 3, 0, 1), out_channel, op.params["inv_sx"])
        wc = min(op.attrs["weight_channels"], icg)
        if wc > 0:
            assert x is not None
            o = np.arange(oc)
            in_channel = (o // ocg)[:, None] * icg + np.arange(wc)[None, :]
            grad = window_weight_grad(geo, x, op.params["input_offset"], g_acc, o, in_channel)
        if op.attrs["train_bias"]:
            grad_b = bias_grad(g_acc)
        return g_x, grad, grad_b

    def reference(self, op, g, inputs, rng: np.ndarray | None = None):
        """[g_x] (or []). It ALSO applies the step: the weights (inputs[3]) and the bias (inputs[4]) are the live
        arrays of the trained tensors and are updated in place; `rng` (uint32 [1], the model's generator state)
        is advanced in place by stochastic rounding."""
        g_x, grad, grad_b = self.grads(op, g, inputs)
        assert inputs[3] is not None
        index, channel = self.update_index(op, inputs[3].shape)
        apply_updates(op, inputs, index, channel, grad, grad_b, rng)
        return [g_x] if g_x is not None else []

    def update_index(self, op, w_shape) -> tuple[np.ndarray, np.ndarray]:
        """(flat index into the weights, output channel), [out_c, k_h, k_w, wc]: the trained weights in update
        order (o asc, ky asc, kx asc, i < wc asc; wc = min(weight_channels, in-group channels))."""
        oc, k_h, k_w, icg = w_shape
        wc = min(op.attrs["weight_channels"], icg)
        index = ((np.arange(oc)[:, None, None, None] * k_h + np.arange(k_h)[None, :, None, None]) * k_w
                 + np.arange(k_w)[None, None, :, None]) * icg + np.arange(wc)[None, None, None, :]
        return index, np.broadcast_to(np.arange(oc)[:, None, None, None], index.shape)

    def emit(self, op, g, ctx):
        fields = backward_geometry(op, g)
        fields.update(groups=fields["in_c"] // g.t(op.inputs[3]).shape[3], **backward_fields(op, ctx))
        frozen = ctx.frozen_ptr(op.inputs[3])
        if frozen != "NULL":  # only the trained slice in SRAM (weight_channels of them per filter row)
            assert g.t(op.inputs[3]).mutable_channels == op.attrs["weight_channels"]
            fields["weights_frozen"] = frozen
        if op.attrs.get("saved_channels"):  # the saved input holds only the trained channels (channel_slice)
            fields["saved_c"] = op.attrs["saved_channels"]
        params = ctx.params_struct(op, "edgec_conv2d_s8_backward_params", fields)
        scratch = backward_scratch(op, ctx, self.scratch_bytes(op, g, in_place=False) > 0)
        half = "_f16" if is_half(g, op.inputs[1]) else ""  # g_y and g_x stored in fp16 (--gradients fp16)
        return backward_call(op, ctx, f"edgec_conv2d_s8_backward{half}", params, scratch)

    def scratch_bytes(self, op, g, *, in_place):
        """g_x: the g_acc rows of a block of 4 output pixels (4 out_c floats); trained weights: one output
        channel's g_acc over the output pixels (batches out_h out_w floats); the larger (runtime/
        conv2d_s8_backward.c). With fp16 gradients g_x is gathered per input pixel: in_c floats instead."""
        y = g.t(op.inputs[1]).shape
        gx = (op.attrs["input_shape"][3] if is_half(g, op.inputs[1]) else 4 * y[3]) if op.outputs else 0
        trained = op.inputs[0] is not None and min(op.attrs["weight_channels"], g.t(op.inputs[3]).shape[3]) > 0
        return 4 * max(gx, y[0] * y[1] * y[2] if trained else 0)

    def macs(self, op, g):
        """dX: out pixels x out_c x k_h k_w in_c/groups; dW: out pixels x out_c x k_h k_w x trained channels."""
        y, w = g.t(op.inputs[1]), g.t(op.inputs[3]).shape
        dx = y.size * w[1] * w[2] * w[3] if op.outputs else 0
        return dx + y.size * w[1] * w[2] * min(op.attrs["weight_channels"], w[3])
