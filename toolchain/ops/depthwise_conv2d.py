"""DEPTHWISE_CONV_2D: int8 depthwise convolution (TFLite: DepthwiseConvPerChannel).

Output channel o = i * depth_multiplier + m sees only input channel i; weights are [1, k_h, k_w, out_c].
    acc[o] = bias[o] + sum_{ky,kx} w[ky,kx,o] * (x[iy,ix,i] - zp_x);  y[o] = clamp(zp_y + MBQM(acc[o], M[o], s[o]))
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
    is_half,
    is_int16,
    per_tensor_activations,
    register,
)
from .conv2d import (
    backward_geometry,
    conv_fields_s16,
    conv_kernel_fields,
    conv_output_shape,
    padded_windows,
    prepare_conv,
    prepare_conv_s16,
    window_input_grad,
    window_weight_grad,
)
from .float_common import (
    activate,
    activation_fields,
    all_float32,
    float_bias,
    weights_const_f32,
    window_geometry,
    windows_f64,
)
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
    prepare_weight_backward,
    requantize,
    weight_layer_backward,
    weights_int8_symmetric,
)
from .int16_common import (
    bias_int64,
    io_int16,
    requantize_s16,
    rescale_shift_in_range,
    taps_in_range,
    weights_int8_symmetric_s16,
)
from .window import valid_padding_attr

#: the largest kernel side the DSP kernel takes (EDGEC_DW_DSP_MAX_K in runtime/depthwise_conv2d_s8_dsp.h: its
#: per-channel weight words live on the stack)
DSP_MAX_K = 8


def plane_bytes(out_h: int, out_w: int, k_h: int, k_w: int, stride_h: int, stride_w: int, in_c: int = 1) -> int:
    """The DSP kernel's scratch: input channel planes with their zero-point border, the rows and columns the outputs
    read, each row padded to a word plus one byte (a 3-tap word read ends one byte past its taps), 4 planes when the
    input has 4 channels or more and a plane is at most 128 bytes (4 channels copied per pass), else 1, then the
    3x3 path's column sums (2 out_h int32); the same number as edgec_depthwise_conv2d_s8_dsp_plane_bytes (a test
    compares them)."""
    rows = (out_h - 1) * stride_h + k_h
    row_bytes = ((out_w - 1) * stride_w + k_w + 1 + 3) & ~3
    planes = 4 if in_c >= 4 and rows * row_bytes <= 128 else 1
    return planes * rows * row_bytes + 8 * out_h


#: int32 per output channel of the 3x3 records (EDGEC_DW3X3_WORDS in runtime/depthwise_conv2d_s8_dsp.h)
DW3X3_WORDS = 9


def _halves(bottom: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Two int16 values per int32 word (bottom half, top half), as the kernel's dw_halves."""
    return ((bottom.astype(np.int64) & 0xFFFF) | ((top.astype(np.int64) & 0xFFFF) << 16)).astype(np.uint32)


def pack_3x3_records(w: np.ndarray, stage: np.ndarray) -> np.ndarray | None:
    """The DSP kernel's 3x3 records from int8 taps w [3, 3, C] and the output stage [C, 5] (start, M, round, pre,
    e; int8_common.dsp_output_stage), per output channel: the taps scaled by 2^pre as int16 halves ((w00, w02),
    (w10, w12), (w20, w22), (w01, w11), (w21, 0)), the start scaled by 2^pre (modulo 2^32), M, round, e: the same
    words as edgec_depthwise_conv2d_s8_dsp_3x3_pack (tests/host/test_depthwise_conv2d_s8_dsp.py compares them).
    The pre-shift moves into the taps because the stage holds only when acc 2^pre fits int32. None when some
    channel's pre is outside [0, 8] (|w| 2^pre would leave int16)."""
    pre = stage[:, 3].astype(np.int64)
    if (pre < 0).any() or (pre > 8).any():
        return None
    s = w.astype(np.int64) << pre  # [3, 3, C], channel c scaled by 2^pre[c]
    start = (stage[:, 0].astype(np.int64) << pre) & 0xFFFFFFFF
    cols = [_halves(s[0, 0], s[0, 2]), _halves(s[1, 0], s[1, 2]), _halves(s[2, 0], s[2, 2]),
            _halves(s[0, 1], s[1, 1]), _halves(s[2, 1], np.zeros_like(pre)), start.astype(np.uint32),
            stage[:, 1].astype(np.uint32), stage[:, 2].astype(np.uint32), stage[:, 4].astype(np.uint32)]
    return np.stack(cols, axis=1).view(np.int32).reshape(-1, DW3X3_WORDS)


def dsp_3x3_records(op, g, stage: np.ndarray | None) -> np.ndarray | None:
    """pack_3x3_records of a 3x3 layer with a compile-time stage (edgec_depthwise_conv2d_s8_dsp_3x3), else None."""
    w = g.t(op.inputs[1]).data
    if stage is None or w is None or tuple(w.shape[1:3]) != (3, 3):
        return None
    return pack_3x3_records(w[0], stage)


#: int32 per group of 4 channels of the channels-last records (EDGEC_DWCL_WORDS in runtime/depthwise_conv2d_s8_dsp.h)
DWCL_WORDS = 38


def pack_cl_records(w: np.ndarray, stage: np.ndarray, input_offset: int) -> np.ndarray | None:
    """The channels-last kernel's records (edgec_depthwise_conv2d_s8_dsp_cl) from int8 taps w [3, 3, C], the output
    stage [C, 5] (start = bias + input_offset sum(w), M, round, pre, e) and the input offset: for each group of 4
    channels (ceil(C / 4), the last one's missing channels zero) 20 words: the biases scaled by 2^pre (modulo 2^32:
    for windows partly outside the input the kernel subtracts the zero point per tap, so their start is the bias),
    the stage's starts (the zero point folded in: wholly inside windows) scaled alike, then M, round, e channel by
    channel (the last group of 4 whole channels flags itself by bit 31 of its fourth e, which ends the
    kernel's group loop); after all of them, per group 18 words, per tap (ky, kx) in row order the 4 weights scaled by
    2^pre as int16 halves (w0, w2), (w1, w3). The same words as edgec_depthwise_conv2d_s8_dsp_cl_pack
    (tests/host/test_depthwise_conv2d_s8_dsp.py compares them). None when some pre is outside [0, 8]."""
    c = w.shape[2]
    pre = stage[:, 3].astype(np.int64)
    if (pre < 0).any() or (pre > 8).any():
        return None
    groups = (c + 3) // 4
    sums = w.astype(np.int64).reshape(9, c).sum(axis=0)
    bias = (stage[:, 0].astype(np.int64) - int(input_offset) * sums) % 2**32
    head = np.zeros((groups, 20), np.int64)
    taps = np.zeros((groups, 18), np.int64)
    scaled = (w.astype(np.int64).reshape(9, c) << pre) & 0xFFFF  # [tap, channel] as int16 halves' bits
    for o in range(c):
        grp, j = divmod(o, 4)
        head[grp, j] = (int(bias[o]) << int(pre[o])) % 2**32
        head[grp, 4 + j] = (int(stage[o, 0]) << int(pre[o])) % 2**32  # the start with the zero point folded in
        head[grp, 8 + 3 * j:11 + 3 * j] = [int(stage[o, 1]) % 2**32, int(stage[o, 2]) % 2**32, int(stage[o, 4])]
        taps[grp, (j & 1)::2] |= scaled[:, o] << (16 if j & 2 else 0)
    if c >= 4:  # the last whole group's flag: bit 31 of its channel 3's e (ASR by a register reads the bottom byte)
        head[c // 4 - 1, 19] |= 1 << 31
    words = np.concatenate([head.reshape(-1), taps.reshape(-1)]).astype(np.uint32)
    return words.view(np.int32)


def dsp_cl_records(op, g) -> np.ndarray | None:
    """pack_cl_records of a 3x3 layer with depth multiplier 1 and a compile-time stage, else None."""
    w = g.t(op.inputs[1]).data
    if w is None or tuple(w.shape[1:3]) != (3, 3) or op.attrs["depth_multiplier"] != 1:
        return None
    stage = dsp_output_stage(op, g, 3, folded_bias(op, g, 3))
    if stage is None:
        return None
    return pack_cl_records(w[0], stage, int(op.params["input_offset"]))


def _inside(out_n: int, in_n: int, stride: int, pad: int) -> list[int]:
    """Per output row (column) of a 3-tap window: how many of its taps are inside the input."""
    return [max(0, min(3, in_n - (o * stride - pad)) - max(0, pad - o * stride)) for o in range(out_n)]


def dw_cost_cl(in_h: int, in_w: int, c: int, out_h: int, out_w: int, stride_h: int, stride_w: int, pad_top: int,
               pad_left: int) -> int:
    """Instructions of the channels-last 3x3 kernel on the emulated Cortex-M4, counted from its loops
    (runtime/depthwise_conv2d_s8_dsp.c): per group of 4 channels 30 + s + 8 T (T = nr nt taps of the window
    inside the input in nr rows and nt columns, s its 1 to 4 pointer steps; 3 fewer for a wholly inside window
    when C % 4 == 0), per output pixel about 16 (9 for those) and per call (a row's run of wholly inside windows,
    or one border pixel; every pixel when C % 4 != 0) about 60, about 400 per layer; a last group of 1-3 channels
    runs in C, about 25 + 14 T per channel. Within 1 % of the measured counts of vww's layers."""
    rows, cols = _inside(out_h, in_h, stride_h, pad_top), _inside(out_w, in_w, stride_w, pad_left)
    whole, rest = divmod(c, 4)
    total = 400
    for nr in rows:
        for nt in cols:
            t = nr * nt
            steps = 1 if nr == 1 or nt == 1 else (3 if nr == 2 or nt == 2 else 4)
            if t == 9 and not rest:  # wholly inside, the pixel loop and the output pointer kept in assembly
                total += 9 + whole * (27 + steps + 8 * t)
            else:
                total += 16 + whole * (30 + steps + 8 * t) + rest * (25 + 14 * t)
    x_lo = min(out_w, -(-pad_left // stride_w))
    x_hi = min(out_w, (in_w + pad_left - 3) // stride_w + 1) if in_w + pad_left >= 3 else 0
    calls = out_w if rest else x_lo + (out_w - max(x_hi, x_lo)) + (1 if x_hi > x_lo else 0)
    return total + 60 * out_h * calls


def dw_cost_plane(in_h: int, in_w: int, c: int, out_h: int, out_w: int, stride_h: int, stride_w: int,
                  pad_top: int, pad_left: int) -> int:
    """Instructions of the plane kernel's 3x3 path with its records on the emulated Cortex-M4, from its loops'
    counts (docs/kernels.md): per channel the plane copy, per column pair (stride_w 1) 32 per row and about 70 of
    setup, per single column 19.5 (stride_h 1), 22.5 (stride_h 2) or 27 per row and about 50, about 30 of channel
    setup."""
    rows = (out_h - 1) * stride_h + 3
    row_bytes = ((out_w - 1) * stride_w + 3 + 1 + 3) & ~3
    y_end, x_end = min(in_h, rows - pad_top), min(in_w, row_bytes - pad_left)
    if c >= 4 and rows * row_bytes <= 128:
        copy = 4.2 * y_end * x_end
    elif y_end > 2 * x_end:
        copy = x_end * (10 + 2.75 * y_end) + 20
    else:
        copy = y_end * (10 + 2.5 * x_end) + 20
    pairs, singles = (out_w // 2, out_w % 2) if stride_w == 1 else (0, out_w)
    single = {1: 19.5, 2: 22.5}.get(stride_h, 27.0)
    per_channel = copy + pairs * (32 * out_h + 70) + singles * (single * out_h + 50) + 30
    return int(c * per_channel)


def dw_cl_choice(op, g) -> tuple[bool, str]:
    """Whether the channels-last kernel takes a 3x3 layer (depth multiplier 1, a stage whose pre-shifts are at
    most 8), by the two kernels' counted costs, and the reason in words."""
    x, w, y = g.t(op.inputs[0]).shape, g.t(op.inputs[1]).shape, g.t(op.outputs[0]).shape
    if tuple(w[1:3]) != (3, 3) or op.attrs["depth_multiplier"] != 1 or dsp_cl_records(op, g) is None:
        return False, ""
    pads = op.params["pad_top"], op.params["pad_left"]
    geo = (x[1], x[2], x[3], y[1], y[2], op.attrs["stride_h"], op.attrs["stride_w"], *pads)
    cl, plane = dw_cost_cl(*geo), dw_cost_plane(*geo)
    return cl < plane, f"counted cost channels last {cl:,} vs planes {plane:,} instructions"


def dsp_plane_bytes(op, g) -> int:
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    return plane_bytes(y.shape[1], y.shape[2], w.shape[1], w.shape[2], op.attrs["stride_h"], op.attrs["stride_w"],
                       x.shape[3])


def mve_plane(op, g) -> tuple[int, bool]:
    """The Helium kernel's scratch in bytes and whether it takes the layer, as edgec_depthwise_conv2d_s8_mve_plane_bytes
    and _fits compute them: a plane of rows (out_h - 1) s_h + k_h by (out_w - 1) s_w + k_w bytes plus 3 steps of its
    4-output groups (along y when the output is taller than wide, else along x); the layer fits when it has at most
    16 taps, dilation 1, and a window plus 3 group steps spans at most 255 bytes (the gathers' 8-bit offsets)."""
    w, y = g.t(op.inputs[1]).shape, g.t(op.outputs[0]).shape
    sh, sw = op.attrs["stride_h"], op.attrs["stride_w"]
    rows, row_bytes = (y[1] - 1) * sh + w[1], (y[2] - 1) * sw + w[2]
    step_b = sh * row_bytes if y[1] > y[2] else sw
    fits = (op.attrs.get("dilation_h", 1) == op.attrs.get("dilation_w", 1) == 1 and w[1] * w[2] <= 16
            and (w[1] - 1) * row_bytes + w[2] - 1 + 3 * step_b <= 255)
    return rows * row_bytes + 3 * step_b, fits


#: the Helium lanes kernel's largest k_h (its row pointers, runtime/depthwise_conv2d_s8_mve.c)
MVE_LANES_MAX_K_H = 16
#: the plane kernel keeps layers with at least this many output pixels per channel (when they fit it): there its
#: per-channel setup is spread over many outputs (measured on vww, the plane kernel's asm group loop against the
#: lanes kernel's pixel pairs: 24x24x32, plane 214,641 instructions against lanes 237,981; 12x12x64, plane 158,019
#: against lanes 112,216; kws's 25x5x64, plane 146,895 against lanes 104,035)
MVE_PLANE_MIN_PIXELS = 24 * 24


def mve_lanes_ok(op, g, may_be_in_place: bool) -> bool:
    """The lanes kernel takes the layer: depth multiplier 1, dilation 1, k_h <= 16, and in place only with batches
    1 and rows intact until the ring copies them (host_ring_ok: the same schedule)."""
    x, w, y = g.t(op.inputs[0]).shape, g.t(op.inputs[1]).shape, g.t(op.outputs[0]).shape
    a, p = op.attrs, op.params
    if (a["depth_multiplier"] != 1 or a.get("dilation_h", 1) != 1 or a.get("dilation_w", 1) != 1
            or w[1] > MVE_LANES_MAX_K_H
            or (y[1] * y[2] >= MVE_PLANE_MIN_PIXELS and (mve_plane(op, g)[1] or not mve_lanes_pairs(op, g)))):
        return False
    return not may_be_in_place or (x[0] == 1 and host_ring_ok(x[1], x[2], y[1], y[2], w[1], a["stride_h"], 1,
                                                                p["pad_top"]))


def mve_lanes_pairs(op, g) -> bool:
    """The lanes kernel's pixel-pair path (runtime/depthwise_conv2d_s8_mve.c, lanes_dw_3x3_pair) on a layer of at
    least 32 channels: 3x3, stride_w 1, C % 4 == 0, TFLite's rounding."""
    w = g.t(op.inputs[1]).shape
    return ((w[1], w[2]) == (3, 3) and op.attrs["stride_w"] == 1 and w[3] % 4 == 0 and w[3] >= 32
            and not onnxruntime_rounding(op))


def lanes_dw_weights(op, g) -> np.ndarray:
    """The lanes kernel's weights: [1, k_h, k_w, C] regrouped to [ceil4(C) / 4][k_h k_w][4], zeros past C."""
    w = g.t(op.inputs[1]).data
    assert w is not None
    c = w.shape[3]
    taps = w[0].reshape(-1, c)
    padded = np.zeros((taps.shape[0], -(-c // 4) * 4), np.int8)
    padded[:, :c] = taps
    return padded.reshape(taps.shape[0], -1, 4).transpose(1, 0, 2).copy()


def mve_ring_bytes(op, g) -> int:
    """edgec_depthwise_conv2d_s8_mve_ring_bytes: k_h + 1 rows of (out_w - 1) s_w + k_w columns x C bytes"""
    w, y = g.t(op.inputs[1]).shape, g.t(op.outputs[0]).shape
    return (w[1] + 1) * ((y[2] - 1) * op.attrs["stride_w"] + w[2]) * y[3]


def _fast_kernel(op) -> dict | None:
    """The DSP kernel chosen for this layer (toolchain/kernels.py), unless it runs in a patch stage (region)."""
    return op.attrs.get("kernel_choice") if "patch" not in op.attrs else None


def multiplier_matches_channels(op, g) -> bool:
    """output channels = input channels x depth multiplier, weights shaped [1, k_h, k_w, out_c]"""
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    return w.shape[0] == 1 and w.shape[3] == y.shape[3] == x.shape[3] * op.attrs["depth_multiplier"]


HOST_KERNEL = "depthwise_conv2d_s8_host"
HOST_MAX_RING = 65536  # EDGEC_DW_HOST_MAX_RING: int16 values of the row ring (and its row of zero points), on the stack
HOST_MAX_K_H = 64  # the kernel's rows[] table
HOST_MAX_TAPS = 4096  # EDGEC_DW_HOST_MAX_TAPS: the int32 tap sum cannot overflow
HOST_BLOCK = 8  # EDGEC_DW_HOST_BLOCK: channels per vector block (c_pad, a multiple of it)


def host_ring_ok(in_h: int, in_w: int, out_h: int, out_w: int, k_h: int, stride_h: int, dilation_h: int,
                 pad_top: int) -> bool:
    """In place, the host kernel copies input rows to its ring just before output row y needs them (every row up
    to the window's last, y stride_h - pad_top + (k_h - 1) dilation_h): true when each such row is still intact
    then, i.e. the y out_w output pixels written so far end at or before the row's first pixel. The ring's
    rows are evicted only once no later window reads them (a window spans (k_h - 1) dilation_h + 1 rows)."""
    span, next_row = (k_h - 1) * dilation_h + 1, 0
    for y in range(out_h):
        last = min(y * stride_h - pad_top + span - 1, in_h - 1)
        if next_row <= last and y * out_w > next_row * in_w:
            return False
        next_row = max(next_row, last + 1)
    return True


def host_dw_geometry(op, g) -> tuple[int, int, int]:
    """The host kernel's ring: rows span = (k_h - 1) dilation_h + 1, columns wp = (out_w - 1) stride_w +
    (k_w - 1) dilation_w + 1, channels c_pad = out_c rounded up to HOST_BLOCK."""
    w, y, a = g.t(op.inputs[1]).shape, g.t(op.outputs[0]).shape, op.attrs
    span = (w[1] - 1) * a.get("dilation_h", 1) + 1
    wp = (y[2] - 1) * a["stride_w"] + (w[2] - 1) * a.get("dilation_w", 1) + 1
    return span, wp, -(-y[3] // HOST_BLOCK) * HOST_BLOCK


def host_dw_arrays(op, g) -> tuple[np.ndarray, np.ndarray]:
    """The host kernel's compile-time arrays: the weights as int16 [k_h k_w, c_pad] (zeros past out_c) and the
    bias with the input zero point folded in (int8_common.folded_bias, modulo 2^32), zeros past out_c."""
    w = g.t(op.inputs[1]).data
    assert w is not None
    c_pad = host_dw_geometry(op, g)[2]
    taps, c = w.shape[1] * w.shape[2], w.shape[3]
    w16 = np.zeros((taps, c_pad), np.int16)
    w16[:, :c] = w.reshape(taps, c)
    folded = np.zeros(c_pad, np.int32)
    folded[:c] = folded_bias(op, g, 3)
    return w16, folded


def host_depthwise_choice(op, g, may_be_in_place: bool) -> KernelChoice | None:
    """The host kernel for a depthwise conv with depth multiplier 1 whose row ring fits HOST_MAX_RING; when the
    layer may run in place, only with batches 1 and rows that stay intact until copied (host_ring_ok)."""
    x, w, y = g.t(op.inputs[0]).shape, g.t(op.inputs[1]).shape, g.t(op.outputs[0]).shape
    a, p = op.attrs, op.params
    if (a["depth_multiplier"] != 1 or w[1] > HOST_MAX_K_H or w[1] * w[2] > HOST_MAX_TAPS
            or g.t(op.inputs[1]).data is None or not host_output_stage_ok(op, g)):
        return None
    span, wp, c_pad = host_dw_geometry(op, g)
    if (span + 1) * wp * c_pad > HOST_MAX_RING:
        return None
    if may_be_in_place and (x[0] != 1 or not host_ring_ok(
            x[1], x[2], y[1], y[2], w[1], a["stride_h"], a.get("dilation_h", 1), p["pad_top"])):
        return None
    return KernelChoice(HOST_KERNEL, "edgec_depthwise_conv2d_s8_host",
                        f"host: input rows widened to int16 with zero-point padding, {c_pad // HOST_BLOCK} blocks "
                        f"of {HOST_BLOCK} channels as int32 lanes gcc -O2 vectorizes (zero point folded into the bias)")


@register
class DepthwiseConv2D(Operator):
    type = "depthwise_conv2d"
    kernel = "depthwise_conv2d_s8"
    constraints = [io_int8, per_tensor_activations, weights_int8_symmetric, bias_int32, fused_activation_supported,
                   valid_padding_attr, multiplier_matches_channels]

    fuses_activation = True
    patch_kind = "window"
    # weights [1, k_h, k_w, out_c]: one scale per output channel, the last axis
    quantization = Quantization(output="calibrated", weight_axis=3)
    not_exportable = None

    def backward(self, op, g, b) -> None:
        """depthwise_conv2d_backward (below): g_x when needed, the filters of the output channels of the first
        weight_channels input channels and the bias when trained (int8_common.weight_layer_backward)."""
        weight_layer_backward(op, g, b)

    def window_size(self, op, g):
        w = g.t(op.inputs[1])
        return w.shape[1], w.shape[2], op.attrs.get("dilation_h", 1), op.attrs.get("dilation_w", 1)

    def export_tflite(self, op, g, w, ins):
        a = op.attrs
        return "DEPTHWISE_CONV_2D", ins, "DepthwiseConv2DOptions", dict(
            padding=w.padding(op), strideH=a["stride_h"], strideW=a["stride_w"],
            dilationHFactor=a.get("dilation_h", 1), dilationWFactor=a.get("dilation_w", 1),
            depthMultiplier=a["depth_multiplier"], fusedActivationFunction=w.activation(op))

    def infer_shape(self, op, g):
        return [conv_output_shape(op, g, g.t(op.inputs[1]).shape[3])]

    def prepare(self, op, g):
        prepare_conv(op, g)

    def reference(self, op, g, inputs):
        x, w = inputs[0], inputs[1]
        bias = inputs[2] if len(inputs) > 2 else None
        assert x is not None and w is not None
        y = g.t(op.outputs[0])
        _, kh, kw, oc = w.shape
        dm = op.attrs["depth_multiplier"]
        win = padded_windows(x.astype(np.int64) + op.params["input_offset"], op, kh, kw, y.shape[1], y.shape[2], 0)
        win = np.repeat(win, dm, axis=-1)  # input channel i feeds outputs i*dm .. i*dm+dm-1
        acc = np.einsum("nyxhwc,hwc->nyxc", win, w[0].astype(np.int64))
        if bias is not None:
            acc = acc + bias.astype(np.int64)
        return [requantize(acc, op, g)]

    def choose_kernel(self, op, g, target: KernelTarget) -> KernelChoice | None:
        """On a core with DSP, every int8 depthwise conv with dilation 1 and kernel sides up to DSP_MAX_K:
        runtime/depthwise_conv2d_s8_dsp.c copies one input channel at a time into a zero-point-bordered plane and
        multiplies along x with SMLAD. Dilation > 1 keeps the portable kernel: the plane's neighbouring bytes are
        not neighbouring taps, so there is no SMLAD pairing to gain (and no model at hand uses it)."""
        w = g.t(op.inputs[1])
        kh, kw = w.shape[1], w.shape[2]
        if target.core == "host":
            return host_depthwise_choice(op, g, self.in_place_inputs(op, g) != ())
        if target.mve and mve_lanes_ok(op, g, self.in_place_inputs(op, g) != ()):
            return KernelChoice("depthwise_conv2d_s8_mve", "edgec_depthwise_conv2d_s8_lanes_mve",
                                f"{target.core} MVE: channels as vector lanes, VMUL + VADD per 4 channels and tap of "
                                f"the {kh}x{kw} window, from a ring of zero-point-bordered input rows")
        if target.mve and mve_plane(op, g)[1]:
            return KernelChoice("depthwise_conv2d_s8_mve", "edgec_depthwise_conv2d_s8_mve",
                                f"{target.core} MVE: channel planes with a zero-point border, one gather VLDRB of the "
                                f"{kh}x{kw} window and one VMLADAV.S8 per output, 4 outputs requantized per vector")
        if (not target.dsp or op.attrs.get("dilation_h", 1) != 1 or op.attrs.get("dilation_w", 1) != 1
                or kh > DSP_MAX_K or kw > DSP_MAX_K):
            return None
        cl, why = dw_cl_choice(op, g)
        if cl:
            return KernelChoice("depthwise_conv2d_s8_dsp", "edgec_depthwise_conv2d_s8_dsp_cl",
                                f"{target.core} DSP: channels last, 4 channels per SXTAB16 pair (SMLABB/SMLATT), the "
                                f"window's taps outside the input skipped, no plane ({why}; not in place)")
        if (kh, kw) == (3, 3) and op.attrs["stride_w"] == 1:
            how = ("3x3 stride 1: 2 outputs per SXTB16 pair, each plane row split once for 3 output rows "
                   "(17.5 instructions per 18 MACs at stride_h 1)")
        elif (kh, kw) == (3, 3):
            how = (f"3x3 stride {op.attrs['stride_w']}: one output per SXTB16 pair, SMLAD + SMLABB a row "
                   "(rolling over the rows at stride_h 1 and 2)")
        else:
            how = f"{kh}x{kw}: SMLAD per 4 taps of a row, SMLABB for the rest"
        if why:
            how += f"; {why}"
        return KernelChoice("depthwise_conv2d_s8_dsp", "edgec_depthwise_conv2d_s8_dsp",
                            f"{target.core} DSP: channel planes with a zero-point border, {how}")

    def emit(self, op, g, ctx, region: str | None = None):
        """`region`: a C expression for an `edgec_region *` (patch stage, patch.py), else the whole layer."""
        fields = conv_kernel_fields(op, g, ctx)
        fields["depth_multiplier"] = op.attrs["depth_multiplier"]
        if int4_weights(op, g):  # packed int4 weights: runtime/depthwise_conv2d_s4.c (never in a patch stage)
            return emit_s4(op, g, ctx, "edgec_depthwise_conv2d_s8_params", fields)
        chosen = _fast_kernel(op) if region is None else None
        if chosen is not None and chosen["function"] == "edgec_depthwise_conv2d_s8_dsp_cl":
            # channels last: the group records hold the taps, the biases and the stage (never in place)
            records = dsp_cl_records(op, g)
            assert records is not None and not ctx.plan.is_in_place(op.name), op.name
            fields.update(weights="NULL", bias="NULL", multiplier="NULL", shift="NULL")
            params = ctx.params_struct(op, "edgec_depthwise_conv2d_s8_params", fields)
            rec = ctx.const_array(op, "dwcl", records)
            return (f"edgec_depthwise_conv2d_s8_dsp_cl(&{params}, {rec}, {ctx.ptr(op.inputs[0])}, "
                    f"{ctx.ptr(op.outputs[0])});")
        if chosen is not None and chosen["function"] == "edgec_depthwise_conv2d_s8_dsp":
            # 3x3 with a compile-time stage: the per-channel records hold the taps, the start and the stage, so the
            # kernel reads neither the int8 weights, the bias nor the multipliers (left out of flash)
            records = dsp_3x3_records(op, g, dsp_output_stage(op, g, 3, folded_bias(op, g, 3)))
            if records is not None:
                fields.update(weights="NULL", bias="NULL", multiplier="NULL", shift="NULL")
                params = ctx.params_struct(op, "edgec_depthwise_conv2d_s8_params", fields)
                plane = f"((int8_t *)(edgec_arena.bytes + {ctx.plan.scratch_offset(op.name)}))"
                source = ctx.ptr(op.outputs[0]) if ctx.plan.is_in_place(op.name) else ctx.ptr(op.inputs[0])
                rec = ctx.const_array(op, "dw3x3", records)
                return (f"edgec_depthwise_conv2d_s8_dsp_3x3(&{params}, {rec}, {source}, {ctx.ptr(op.outputs[0])}, "
                        f"{plane});")
        params = ctx.params_struct(op, "edgec_depthwise_conv2d_s8_params", fields)
        if region is not None:
            return (f"edgec_depthwise_conv2d_s8_region(&{params}, {region}, {ctx.ptr(op.inputs[0])}, "
                    f"{ctx.ptr(op.outputs[0])});")
        chosen = _fast_kernel(op)  # (None in a patch stage: the region path returned above)
        if chosen is not None and chosen["kernel"] == HOST_KERNEL:  # in place: input == output (a row ring)
            w16, folded = host_dw_arrays(op, g)
            source = ctx.ptr(op.outputs[0]) if ctx.plan.is_in_place(op.name) else ctx.ptr(op.inputs[0])
            tiled = w16.shape[1] == g.t(op.outputs[0]).shape[3]  # c = c_pad: a row of sums is contiguous
            return (f"{chosen['function']}(&{params}, {ctx.const_array(op, 'weights16', w16, 'int16_t')}, "
                    f"{ctx.const_array(op, 'bias_folded', folded)}, {host_requant_arg(op, g, ctx)}, "
                    f"{host_vector_args(op, g, ctx, 3, tiled)}, {source}, {ctx.ptr(op.outputs[0])});")
        if chosen is not None:  # in place: input and output are the same buffer; the plane is the saved channel
            plane = f"((int8_t *)(edgec_arena.bytes + {ctx.plan.scratch_offset(op.name)}))"
            source = ctx.ptr(op.outputs[0]) if ctx.plan.is_in_place(op.name) else ctx.ptr(op.inputs[0])
            if chosen["function"] == "edgec_depthwise_conv2d_s8_lanes_mve":  # the ring is the scratch
                folded_values = folded_bias(op, g, 3)
                folded = ctx.const_array(op, "bias_folded", folded_values)
                # TFLite's rounding: the requantization records (onnxruntime's: NULL, the kernel's generic path)
                rec_arg = ("NULL" if onnxruntime_rounding(op)
                           else ctx.const_array(op, "lanes_records", mve_lane_records(op, folded_values)))
                wr = ctx.const_array(op, "weights_lanes", lanes_dw_weights(op, g), "int8_t")
                return (f"{chosen['function']}(&{params}, {folded}, {rec_arg}, {wr}, {source}, "
                        f"{ctx.ptr(op.outputs[0])}, {plane});")
            if chosen["kernel"].endswith("_mve"):  # + the bias folded with the zero point (runtime/edgec_mve.h)
                folded = ctx.const_array(op, "bias_folded", folded_bias(op, g, 3))
                return f"{chosen['function']}(&{params}, {folded}, {source}, {ctx.ptr(op.outputs[0])}, {plane});"
            # the DSP kernel: its output stage and zero-point-folded bias computed here (runtime/edgec_dsp_out.h)
            stage = dsp_output_stage(op, g, 3, folded_bias(op, g, 3))
            staged = "NULL" if stage is None else ctx.const_array(op, "dsp_out", stage)
            return f"{chosen['function']}(&{params}, {staged}, {source}, {ctx.ptr(op.outputs[0])}, {plane});"
        if ctx.plan.is_in_place(op.name):  # the output is in the input's buffer; one channel plane of scratch
            plane = f"((int8_t *)(edgec_arena.bytes + {ctx.plan.scratch_offset(op.name)}))"
            return f"edgec_depthwise_conv2d_s8_inplace(&{params}, {ctx.ptr(op.outputs[0])}, {plane});"
        return f"edgec_depthwise_conv2d_s8(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def in_place_inputs(self, op, g):
        """In place (runtime: edgec_depthwise_conv2d_s8_inplace, or the DSP kernel) when each output channel reads
        one input channel (depth multiplier 1) and the output has no more pixels than the input."""
        if is_float(op, g) or is_int16(op, g) or op.attrs["depth_multiplier"] != 1 or int4_weights(op, g):
            return ()
        chosen = _fast_kernel(op)
        if chosen is not None and chosen["function"] == "edgec_depthwise_conv2d_s8_dsp_cl":
            return ()  # channels last reads every input pixel's window after earlier outputs are written
        x, y = g.t(op.inputs[0]).shape, g.t(op.outputs[0]).shape
        return (0,) if y[0] == x[0] and y[1] * y[2] <= x[1] * x[2] and y[3] == x[3] else ()

    def scratch_bytes(self, op, g, *, in_place):
        if int4_weights(op, g):
            return row_bytes(op, g)  # one output channel's taps, unpacked
        chosen = _fast_kernel(op)  # (None in a patch stage: the region path returned above)
        if chosen is not None and chosen["kernel"] == HOST_KERNEL:
            return 0  # the host kernel's row ring is on the stack (runtime/depthwise_conv2d_s8_host.h)
        if chosen is not None and chosen["function"] == "edgec_depthwise_conv2d_s8_lanes_mve":
            return mve_ring_bytes(op, g)
        if chosen is not None and chosen["function"] == "edgec_depthwise_conv2d_s8_dsp_cl":
            return 0
        if chosen is not None and chosen["kernel"].endswith("_mve"):
            return mve_plane(op, g)[0]
        if chosen is not None:
            return dsp_plane_bytes(op, g)  # in place or not: the kernel always works from a bordered plane
        x = g.t(op.inputs[0]).shape
        return x[1] * x[2] if in_place else 0  # one input channel plane

    def macs(self, op, g):
        w, y = g.t(op.inputs[1]), g.t(op.outputs[0])
        return y.size * w.shape[1] * w.shape[2]

    # ---- int16 (16x8): acc[o] = bias[o] + sum w * x[i] in int64 (zero points 0; TFLite Micro takes an int64 bias
    # only), y = clamp(MBQM64(acc)) (int16_common); runtime/depthwise_conv2d_s16.c -----------------------------------
    kernel_s16 = "depthwise_conv2d_s16"
    constraints_s16 = [io_int16, weights_int8_symmetric_s16, bias_int64, fused_activation_supported,
                       valid_padding_attr, multiplier_matches_channels, rescale_shift_in_range, taps_in_range]

    def prepare_s16(self, op, g):
        prepare_conv_s16(op, g)

    def reference_s16(self, op, g, inputs):
        x, w = inputs[0], inputs[1]
        assert x is not None and w is not None
        y = g.t(op.outputs[0])
        _, kh, kw, _ = w.shape
        win = padded_windows(x.astype(np.int64), op, kh, kw, y.shape[1], y.shape[2], 0)
        win = np.repeat(win, op.attrs["depth_multiplier"], axis=-1)
        acc = np.einsum("nyxhwc,hwc->nyxc", win, w[0].astype(np.int64))
        if len(inputs) > 2 and inputs[2] is not None:
            acc = acc + inputs[2].astype(np.int64)
        return [requantize_s16(acc, op)]

    def emit_s16(self, op, g, ctx):
        params = ctx.params_struct(op, "edgec_depthwise_conv2d_s16_params", conv_fields_s16(op, g, ctx))
        return f"edgec_depthwise_conv2d_s16(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    # ---- float32: acc[o] = sum_{ky,kx} x[i] * w[o] (taps outside the input skipped) + bias[o]; clamp -------
    kernel_f32 = "depthwise_conv2d_f32"
    constraints_f32 = [all_float32, weights_const_f32, fused_activation_supported, valid_padding_attr,
                       multiplier_matches_channels]

    def reference_f32(self, op, g, inputs):
        x, w = inputs[0], inputs[1]
        bias = inputs[2] if len(inputs) > 2 else None
        assert x is not None and w is not None
        _, kh, kw, _ = w.shape
        win, _ = windows_f64(x, op, g, kh, kw)
        win = np.repeat(win, op.attrs["depth_multiplier"], axis=-1)  # input channel i feeds outputs i*dm ..
        acc = np.einsum("nyxhwc,hwc->nyxc", win, w[0].astype(np.float64), optimize=True)
        if bias is not None:
            acc = acc + bias.astype(np.float64)
        return [activate(op, acc)]

    def emit_f32(self, op, g, ctx):
        w = g.t(op.inputs[1])
        fields = window_geometry(op, g, w.shape[1], w.shape[2])
        fields.update(depth_multiplier=op.attrs["depth_multiplier"], **activation_fields(op),
                      weights=ctx.ptr(op.inputs[1]), bias=float_bias(op, ctx))
        params = ctx.params_struct(op, "edgec_depthwise_conv2d_f32_params", fields)
        return f"edgec_depthwise_conv2d_f32(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"


# ---- training: depthwise_conv2d_backward (docs/training.md; the shared maths is in int8_common and conv2d) -------

def _trained_outputs(op, out_c: int) -> int:
    """The output channels whose filters are trained: those of the first weight_channels input channels."""
    return min(op.attrs["weight_channels"] * op.attrs["depth_multiplier"], out_c)


@register
class DepthwiseConv2DBackward(WeightBackward, Operator):
    """depthwise_conv2d_backward: inputs [x (None when the weights are frozen), g_y, mask, w, bias], outputs
    [g_x] or []; updates the trained weights and bias in place (runtime/depthwise_conv2d_s8_backward.c).
    Output channel o = i * mult + m reads input channel i:
        g_acc[p, o] = (mask(p, o) ? g_y[p, o] : 0) * s_x s_w[o]
        g_x[n, iy, ix, i] = (1 / s_x) * sum_{ky, kx, m} w[0, ky, kx, i*mult + m] * g_acc[n, oy, ox, i*mult + m]
        G[o, ky, kx] = sum_p g_acc[p, o] * (x[n, iy, ix, o / mult] - zp_x),  w += QAS step (o < wc * mult)
        G_b[o] = sum_p g_acc[p, o],  bias += QAS step"""

    type = "depthwise_conv2d_backward"
    kernel = "depthwise_conv2d_s8_backward"
    quantization = DepthwiseConv2D.quantization  # unused: never quantized (the training builder makes it)

    def prepare(self, op, g):
        geo = backward_geometry(op, g)
        w = g.t(op.inputs[3]).shape
        op.params.update(pad_top=geo["pad_top"], pad_left=geo["pad_left"])
        trained = np.zeros(w, bool)
        trained[..., :_trained_outputs(op, w[3])] = True
        prepare_weight_backward(op, g, 3, trained)

    def grads(self, op, g, inputs) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """(g_x or None, G [trained output channels, k_h, k_w, 1] or None, G_b or None), float32 the kernel's
        way, from the weights before the update."""
        x, g_y, mask, w = inputs[0], inputs[1], inputs[2], inputs[3]
        assert g_y is not None and mask is not None and w is not None
        geo = backward_geometry(op, g)
        mult = op.attrs["depth_multiplier"]
        g_acc = grad_acc(op, g_y, mask)
        g_x = grad = grad_b = None
        if op.outputs:
            out_channel = np.arange(geo["in_c"])[None, :] * mult + np.arange(mult)[:, None]  # [mult, in_c]
            taps = w[0].astype(np.float32)[:, :, out_channel]  # [k_h, k_w, mult, in_c]
            g_x = window_input_grad(geo, g_acc, taps, out_channel, op.params["inv_sx"])
        trained = _trained_outputs(op, geo["out_c"])
        if trained > 0:
            assert x is not None
            o = np.arange(trained)
            grad = window_weight_grad(geo, x, op.params["input_offset"], g_acc, o, (o // mult)[:, None])
        if op.attrs["train_bias"]:
            grad_b = bias_grad(g_acc)
        return g_x, grad, grad_b

    def reference(self, op, g, inputs, rng: np.ndarray | None = None):
        """[g_x] (or []). It ALSO applies the step: the weights (inputs[3]) and the bias (inputs[4]) are the live
        arrays of the trained tensors and are updated in place; `rng` (uint32 [1], the model's generator state)
        is advanced in place by stochastic rounding. The update order is o asc, ky asc, kx asc."""
        g_x, grad, grad_b = self.grads(op, g, inputs)
        assert inputs[3] is not None
        index, channel = self.update_index(op, inputs[3].shape)
        apply_updates(op, inputs, index, channel, grad, grad_b, rng)
        return [g_x] if g_x is not None else []

    def update_index(self, op, w_shape) -> tuple[np.ndarray, np.ndarray]:
        """(flat index into the weights, output channel), [r, k_h, k_w]: the trained weights in update order (o
        < r asc, ky asc, kx asc; r = the trained output channels)."""
        _, k_h, k_w, out_c = w_shape
        r = _trained_outputs(op, out_c)
        index = ((np.arange(k_h)[None, :, None] * k_w + np.arange(k_w)[None, None, :]) * out_c
                 + np.arange(r)[:, None, None])  # [o, k_h, k_w]
        return index, np.broadcast_to(np.arange(r)[:, None, None], index.shape)

    def emit(self, op, g, ctx):
        fields = backward_geometry(op, g)
        fields.update(depth_multiplier=op.attrs["depth_multiplier"], **backward_fields(op, ctx))
        params = ctx.params_struct(op, "edgec_depthwise_conv2d_s8_backward_params", fields)
        if is_half(g, op.inputs[1]):  # fp16 g_y and g_x: one kernel, in place or not, through a plane of scratch
            a = op.attrs
            plane = f"((float *)(edgec_arena.bytes + {ctx.plan.scratch_offset(op.name)}))"
            args = [f"&{params}", ctx.ptr(op.inputs[0]), ctx.ptr(op.inputs[1]), ctx.ptr(op.inputs[2]),
                    ctx.ptr(op.inputs[3]) if a["weight_channels"] > 0 else "NULL",
                    ctx.ptr(op.inputs[4]) if a["train_bias"] else "NULL",
                    ctx.ptr(op.outputs[0]) if op.outputs else "NULL", plane, "&edgec_train_rng"]
            return f"edgec_depthwise_conv2d_s8_backward_f16({', '.join(args)});"
        if ctx.plan.is_in_place(op.name):  # g_x over g_y, one channel's g_acc plane of scratch
            a = op.attrs
            plane = f"((float *)(edgec_arena.bytes + {ctx.plan.scratch_offset(op.name)}))"
            args = [f"&{params}", ctx.ptr(op.inputs[0]), ctx.ptr(op.outputs[0]), ctx.ptr(op.inputs[2]),
                    ctx.ptr(op.inputs[3]) if a["weight_channels"] > 0 else "NULL",
                    ctx.ptr(op.inputs[4]) if a["train_bias"] else "NULL", plane, "&edgec_train_rng"]
            return f"edgec_depthwise_conv2d_s8_backward_inplace({', '.join(args)});"
        scratch = backward_scratch(op, ctx, self.scratch_bytes(op, g, in_place=False) > 0)
        return backward_call(op, ctx, "edgec_depthwise_conv2d_s8_backward", params, scratch)

    def in_place_inputs(self, op, g):
        """g_x over g_y (input 1) when each output channel reads one input channel (depth multiplier 1, so g_x
        and g_y have the same channels C, any stride): runtime's edgec_depthwise_conv2d_s8_backward_inplace works
        a channel at a time through a plane of scratch; element (pixel p, channel c) of either tensor is at
        p * C + c, so writing channel c of g_x overwrites only channel c of g_y, already copied to the plane. The
        planner takes it only where it lowers the arena."""
        return (1,) if op.outputs and op.attrs["depth_multiplier"] == 1 else ()

    def scratch_bytes(self, op, g, *, in_place):
        """One channel's g_acc plane (batches x out_h x out_w floats): in place always (the channel's g_y before
        g_x overwrites it), else when weights are trained (runtime/depthwise_conv2d_s8_backward.c; g_x keeps its
        g_acc rows of 16 channels on the stack)."""
        y = g.t(op.inputs[1]).shape
        trained = op.inputs[0] is not None and _trained_outputs(op, y[3]) > 0
        # fp16 gradients: always (the f16 kernel works through the plane)
        return 4 * y[0] * y[1] * y[2] if in_place or trained or is_half(g, op.inputs[1]) else 0

    def macs(self, op, g):
        """dX: out pixels x out_c x k_h k_w; dW: out pixels x trained out channels x k_h k_w."""
        y, w = g.t(op.inputs[1]), g.t(op.inputs[3]).shape
        pixels = y.size // w[3]
        return (y.size * w[1] * w[2] if op.outputs else 0) + pixels * _trained_outputs(op, w[3]) * w[1] * w[2]
