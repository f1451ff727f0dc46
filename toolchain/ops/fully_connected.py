"""FULLY_CONNECTED: int8 matrix-vector product (TFLite: FullyConnected / FullyConnectedPerChannel).

The input is read as [batches, depth] with depth = weights.shape[1] (TFLite flattens leading dims).
    acc[b,o] = bias[o] + sum_d w[o,d] * (x[b,d] - zp_x);   y[b,o] = clamp(zp_y + MBQM(acc, M, shift))
TFLite Micro rescales with double rounding here like everywhere; LiteRT's reference FC rounds once, which is
why LiteRT and TFLM differ by 1-2 LSB on FC-heavy models (docs/numerics.md).
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
from .float_common import activate, activation_fields, all_float32, float_bias, weights_const_f32
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


def weights_are_2d(op, g) -> bool:
    """weights are a constant 2-D [out, depth] tensor and the input size is a multiple of depth"""
    w, x = g.t(op.inputs[1]), g.t(op.inputs[0])
    return w.is_const and len(w.shape) == 2 and x.size % w.shape[1] == 0


HOST_KERNEL = "fully_connected_s8_host"
HOST_STEP = 8  # EDGEC_FC_HOST_STEP: depth padded with zero weights to a multiple of this
HOST_MAX_DEPTH = 16384  # EDGEC_FC_HOST_MAX_DEPTH: the int16 input row is on the host's stack
HOST_MAX_OUT = 4096  # EDGEC_FC_HOST_MAX_OUT: and the row of sums


def _pad(depth: int) -> int:
    return -(-depth // HOST_STEP) * HOST_STEP


def host_fc_arrays(op, g) -> tuple[np.ndarray, np.ndarray]:
    """The host kernel's compile-time arrays: the weights as int16 [out_c, d_pad] (zeros past depth) and
    bias_folded[o] = bias[o] + input_offset * sum_d w[o, d] (int64 here; choose_kernel checks it fits int32)."""
    w = g.t(op.inputs[1]).data.astype(np.int64)
    w16 = np.zeros((w.shape[0], _pad(w.shape[1])), np.int16)
    w16[:, :w.shape[1]] = w
    bias = np.zeros(w.shape[0], np.int64)
    if len(op.inputs) > 2 and op.inputs[2]:
        bias += g.t(op.inputs[2]).data.astype(np.int64)
    return w16, bias + op.params["input_offset"] * w.sum(axis=1)



def dsp_fc_weights16(w: np.ndarray) -> np.ndarray:
    """The DSP FC kernel's int16 weights (runtime/fully_connected_s8_dsp.h, edgec_fully_connected_s8_dsp_w16): the
    first 4 floor(out_c / 4) rows by blocks of 4, the first 4 floor(depth / 4) inputs by groups of 4, each group
    the 4 rows' (w[4g], w[4g + 2], w[4g + 1], w[4g + 3])."""
    rows, depth = w.shape[0] // 4 * 4, w.shape[1] // 4 * 4
    blocks = w[:rows, :depth].astype(np.int16).reshape(rows // 4, 4, depth // 4, 4)[..., [0, 2, 1, 3]]
    return blocks.transpose(0, 2, 1, 3).reshape(-1)

REC_PAD = 256  # EDGEC_FC_REC_PAD: a depth > 8 not a multiple of 4 is read from a padded copy of this many bytes


def dsp_fc_records(w: np.ndarray, stage: np.ndarray) -> np.ndarray | None:
    """The records of edgec_fully_connected_s8_dsp_rec (runtime/fully_connected_s8_dsp.h): every word the kernel reads
    but the input, in its order, with each row's pre = left + 1 folded into its weights (w << pre, int16) and start
    (start << pre mod 2^32). None when some row's pre is over 8 (w << pre would not fit int16). depth <= 8: one record
    of 8 words per row; else blocks of 4 rows, then one block of the out_c % 4 last rows."""
    out_c, depth = w.shape
    shifted = record_weight_pairs(w, stage, 8 if depth <= 8 else 4 * -(-depth // 4))
    if shifted is None:
        return None
    pairs, start, e = shifted  # pairs[r, group]: the words (w0, w2), (w1, w3) of row r's group of 4 inputs
    words: list[int] = []
    if depth <= 8:
        for r in range(out_c):
            j = out_c - 1 - r  # rows left after this one: the row ending a turn of 4 holds the turns left
            words += [int(start[r]), *(int(v) for v in pairs[r].reshape(-1)), int(stage[r, 1]), int(stage[r, 2]),
                      int(e[r]) | ((j // 4) << 8 if j % 4 == 0 else 0)]
    else:
        groups = pairs.shape[1]
        blocks = out_c // 4
        # blocks of 4 rows (the last R counts the blocks left), then one block of the out_c % 4 last rows
        spans = [(4 * k, 4, blocks - 1 - k) for k in range(blocks)]
        if out_c % 4:
            spans.append((4 * blocks, out_c % 4, 0))
        for first, n, left in spans:
            rows = list(range(first, first + n))
            words += [int(start[r]) for r in rows] + [4 * groups]
            words += [int(v) for v in pairs[rows].transpose(1, 0, 2).reshape(-1)]  # per group, each row's 2 words
            for i, r in enumerate(rows):
                words += [int(stage[r, 1]), int(stage[r, 2]), int(e[r]) | (left << 8 if i == 3 else 0)]
    return ((np.array(words, np.int64) + 2**31) % 2**32 - 2**31).astype(np.int32)


def dsp_fc_records_for(op, g, stage: np.ndarray | None) -> tuple[np.ndarray | None, str]:
    """(the layer's records for edgec_fully_connected_s8_dsp_rec or None, why): what emit takes and report.json's
    kernel_reason says. `stage`: the layer's DSP output stage (int8_common.dsp_output_stage) or None."""
    w, p = g.t(op.inputs[1]), op.params
    out_c, depth = w.shape
    if not g.meta.get("kernels", {}).get("conv_weights16") or w.data is None:
        return None, "int8 weights (no room for int16 ones)"
    if stage is None:
        return None, "int8 weights and TFLite's requantization: no compile-time output stage is exact for this layer"
    older = "int16 weights" if out_c >= 4 and depth >= 4 else "int8 weights (fewer than 4 rows or inputs)"
    if p["act_min"] != -128 or p["act_max"] != 127:
        return None, f"{older}: a narrowed clamp, not the records kernel"
    if depth > 8 and depth % 4 and depth > REC_PAD:
        return None, f"{older}: a depth over {REC_PAD} not a multiple of 4, not the records kernel"
    records = dsp_fc_records(w.data, stage)
    if records is None:
        return None, f"{older}: a left shift over 7, not the records kernel"
    # the loops' instructions per turn of 4 groups of 4 inputs (runtime/fully_connected_s8_dsp.h)
    tails = {1: "a 1-row block, 24 per 16 MACs", 2: "a 2-row block, 34 per 32 MACs", 3: "a 3-row block, 42 per 48 MACs"}
    how = ("the input in registers, 10.5 instructions per 8 MACs" if depth <= 8 else
           ", ".join((["4-row blocks, 54 instructions per 64 MACs"] if out_c >= 4 else [])
                     + ([tails[out_c % 4]] if out_c % 4 else [])))
    return records, f"compile-time records: LDM, int16 weights, the stage's shift folded in, {how}"


@register
class FullyConnected(Operator):
    type = "fully_connected"
    kernel = "fully_connected_s8"
    constraints = [io_int8, per_tensor_activations, weights_are_2d, weights_int8_symmetric, bias_int32,
                   fused_activation_supported]

    fuses_activation = True
    patch_kind = None
    # weights [units, in]: one scale per output unit
    quantization = Quantization(output="calibrated", weight_axis=0)
    not_exportable = None

    def backward(self, op, g, b) -> None:
        """fully_connected_backward (below): g_x when needed, the weights of the first weight_channels inputs
        and the bias when trained (int8_common.weight_layer_backward)."""
        if is_float(op, g):  # the float32 classifier head of a training graph (plain SGD, fp32 weights)
            from .fully_connected_f32_backward import head_backward

            return head_backward(op, g, b)
        weight_layer_backward(op, g, b)

    def export_tflite(self, op, g, w, ins):
        return "FULLY_CONNECTED", ins, "FullyConnectedOptions", dict(
            fusedActivationFunction=w.activation(op), keepNumDims=bool(op.attrs.get("keep_num_dims", False)))

    def infer_shape(self, op, g):
        x, w = g.t(op.inputs[0]), g.t(op.inputs[1])
        if op.attrs.get("keep_num_dims"):
            return [(*x.shape[:-1], w.shape[0])]
        return [(x.size // w.shape[1], w.shape[0])]

    def prepare(self, op, g):
        prepare_rescale(op, g)
        w = g.t(op.inputs[1])
        assert w.quant is not None
        op.params["per_channel"] = int(w.quant.scale.size > 1)
        if not op.params["per_channel"]:
            op.params["multiplier"] = op.params["multiplier"][:1]
            op.params["shift"] = op.params["shift"][:1]

    def reference(self, op, g, inputs):
        x, w = inputs[0], inputs[1]
        bias = inputs[2] if len(inputs) > 2 else None
        assert x is not None and w is not None
        depth = w.shape[1]
        acc = (x.astype(np.int64).reshape(-1, depth) + op.params["input_offset"]) @ w.astype(np.int64).T
        if bias is not None:
            acc = acc + bias.astype(np.int64)
        return [requantize(acc, op, g).reshape(g.t(op.outputs[0]).shape)]

    def choose_kernel(self, op, g, target: KernelTarget) -> KernelChoice | None:
        """With Helium (M55), every int8 FC: runtime/fully_connected_s8_mve.c loads 16 inputs once for 4 output
        rows and adds each row's 16 products with one VMLADAVA.S8, from the bias folded with the zero point at
        compile time. On another core with DSP: runtime/fully_connected_s8_dsp.c widens 4 inputs (minus the zero
        point) once per word and multiplies them into 4 output rows with SMLAD. No scratch either way. On the host,
        runtime/fully_connected_s8_host.c: int16 dot products gcc vectorizes, the input zero point folded into the
        bias at compile time, 4 output rows per pass over the input."""
        if target.core == "host":
            w = g.t(op.inputs[1])
            if (w.shape[1] > HOST_MAX_DEPTH or w.shape[0] > HOST_MAX_OUT or w.data is None
                    or not host_output_stage_ok(op, g)):
                return None
            folded = host_fc_arrays(op, g)[1]
            if folded.max(initial=0) >= 2**31 or folded.min(initial=0) < -(2**31):
                return None
            return KernelChoice(HOST_KERNEL, "edgec_fully_connected_s8_host",
                                f"host: int16 dot products gcc -O2 vectorizes (input zero point folded into the bias, "
                                f"4 output rows per pass, depth {w.shape[1]} padded to {_pad(w.shape[1])})")
        if target.mve:
            return KernelChoice("fully_connected_s8_mve", "edgec_fully_connected_s8_mve",
                                f"{target.core} MVE: 4 output rows x 16 inputs per VMLADAVA.S8 step, "
                                "the zero point folded into the bias at compile time")
        if not target.dsp:
            return None
        return KernelChoice("fully_connected_s8_dsp", "edgec_fully_connected_s8_dsp",
                            f"{target.core} DSP: 4 output rows x 4 inputs per SXTB16/SMLAD block")

    def emit(self, op, g, ctx):
        x, w = g.t(op.inputs[0]), g.t(op.inputs[1])
        p = op.params
        fields = dict(batches=x.size // w.shape[1], depth=w.shape[1], out_c=w.shape[0],
                      input_offset=p["input_offset"], output_offset=p["output_offset"],
                      act_min=p["act_min"], act_max=p["act_max"], per_channel=p["per_channel"],
                      weights=ctx.ptr(op.inputs[1]),
                      bias=ctx.ptr(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] else "NULL",
                      multiplier=ctx.const_array(op, "multiplier", p["multiplier"]),
                      shift=ctx.const_array(op, "shift", p["shift"]))
        if onnxruntime_rounding(op):
            fields["rounding"] = 1  # onnxruntime's float32 rescale (int8_common.onnxruntime_rounding)
        if int4_weights(op, g):  # packed int4 weights: runtime/fully_connected_s4.c
            return emit_s4(op, g, ctx, "edgec_fully_connected_s8_params", fields)
        params = ctx.params_struct(op, "edgec_fully_connected_s8_params", fields)
        chosen = op.attrs.get("kernel_choice")  # the same parameters for the DSP kernel (FC has no patch stage)
        if chosen and chosen["kernel"] == HOST_KERNEL:
            w16, bias = host_fc_arrays(op, g)
            return (f"{chosen['function']}(&{params}, {ctx.const_array(op, 'weights16', w16, 'int16_t')}, "
                    f"{ctx.const_array(op, 'bias_folded', bias)}, {host_requant_arg(op, g, ctx)}, "
                    f"{host_vector_args(op, g, ctx, 0, False)}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});")
        function = chosen["function"] if chosen else "edgec_fully_connected_s8"
        if chosen and chosen["kernel"].endswith("_mve"):  # + the bias folded with the zero point (edgec_mve.h)
            folded = ctx.const_array(op, "bias_folded", folded_bias(op, g, 0))
            return f"{function}(&{params}, {folded}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"
        if chosen:  # the DSP kernel: its output stage computed here (runtime/edgec_dsp_out.h), starting at the bias
            stage = dsp_output_stage(op, g, 0, folded_bias(op, g, 0))  # folded with the zero point: raw inputs
            io = f"{ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])}"
            w16_ok = g.meta.get("kernels", {}).get("conv_weights16") and w.data is not None
            records, _ = dsp_fc_records_for(op, g, stage)
            if records is not None:  # the compile-time records (fully_connected_s8_dsp.h, _dsp_rec)
                return f"edgec_fully_connected_s8_dsp_rec(&{params}, {ctx.const_array(op, 'dsp_rec', records)}, {io});"
            if (stage is not None and w16_ok and w.shape[0] >= 4 and w.shape[1] >= 4):  # + the int16 weights
                # (runtime/fully_connected_s8_dsp.h, edgec_fully_connected_s8_dsp_w16)
                w16 = ctx.const_array(op, "weights16", dsp_fc_weights16(w.data), "int16_t")
                return (f"edgec_fully_connected_s8_dsp_w16(&{params}, {ctx.const_array(op, 'dsp_out', stage)}, "
                        f"{w16}, {io});")
            staged = "NULL" if stage is None else ctx.const_array(op, "dsp_out", stage)
            return f"{function}(&{params}, {staged}, {io});"
        return f"{function}(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    def scratch_bytes(self, op, g, *, in_place):
        return row_bytes(op, g) if int4_weights(op, g) else 0  # int4: one output's weights, unpacked

    def macs(self, op, g):
        x, w = g.t(op.inputs[0]), g.t(op.inputs[1])
        return (x.size // w.shape[1]) * w.shape[0] * w.shape[1]

    # ---- int16 (16x8): y[b,o] = clamp(MBQM64(bias[o] + sum_d w[o,d] x[b,d])), int64 sum (int16_common) --------
    kernel_s16 = "fully_connected_s16"
    constraints_s16 = [io_int16, weights_are_2d, weights_int8_symmetric_s16, bias_int64, fused_activation_supported,
                       rescale_shift_in_range, taps_in_range]

    def prepare_s16(self, op, g):
        prepare_rescale_s16(op, g)
        op.params["per_channel"] = int(g.t(op.inputs[1]).quant.scale.size > 1)  # type: ignore[union-attr]

    def reference_s16(self, op, g, inputs):
        x, w = inputs[0], inputs[1]
        assert x is not None and w is not None
        acc = x.astype(np.int64).reshape(-1, w.shape[1]) @ w.astype(np.int64).T
        if len(inputs) > 2 and inputs[2] is not None:
            acc = acc + inputs[2].astype(np.int64)
        return [requantize_s16(acc, op).reshape(g.t(op.outputs[0]).shape)]

    def emit_s16(self, op, g, ctx):
        x, w = g.t(op.inputs[0]), g.t(op.inputs[1])
        fields = dict(batches=x.size // w.shape[1], depth=w.shape[1], out_c=w.shape[0],
                      per_channel=op.params["per_channel"], **weighted_fields_s16(op, ctx))
        params = ctx.params_struct(op, "edgec_fully_connected_s16_params", fields)
        return f"edgec_fully_connected_s16(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"

    # ---- float32: y[b,o] = sum_d x[b,d] * w[o,d] (d ascending) + bias[o]; clamp ------------------------------
    kernel_f32 = "fully_connected_f32"
    constraints_f32 = [all_float32, weights_are_2d, weights_const_f32, fused_activation_supported]

    def reference_f32(self, op, g, inputs):
        x, w = inputs[0], inputs[1]
        bias = inputs[2] if len(inputs) > 2 else None
        assert x is not None and w is not None
        acc = x.astype(np.float64).reshape(-1, w.shape[1]) @ w.astype(np.float64).T
        if bias is not None:
            acc = acc + bias.astype(np.float64)
        return [activate(op, acc).reshape(g.t(op.outputs[0]).shape)]

    def emit_f32(self, op, g, ctx):
        x, w = g.t(op.inputs[0]), g.t(op.inputs[1])
        fields = dict(batches=x.size // w.shape[1], depth=w.shape[1], out_c=w.shape[0], **activation_fields(op),
                      weights=ctx.ptr(op.inputs[1]), bias=float_bias(op, ctx))
        params = ctx.params_struct(op, "edgec_fully_connected_f32_params", fields)
        return f"edgec_fully_connected_f32(&{params}, {ctx.ptr(op.inputs[0])}, {ctx.ptr(op.outputs[0])});"


# ---- training: fully_connected_backward (docs/training.md; the shared maths is in int8_common) -----------------

@register
class FullyConnectedBackward(WeightBackward, Operator):
    """fully_connected_backward: inputs [x (None when the weights are frozen), g_y, mask, w, bias], outputs [g_x]
    or []; updates the trained weights and bias in place (runtime/fully_connected_s8_backward.c).
        g_acc[b, o] = (mask(b, o) ? g_y[b, o] : 0) * s_x s_w[o]
        g_x[b, i] = (1 / s_x) * sum_o w[o, i] * g_acc[b, o]
        G[o, i] = sum_b g_acc[b, o] * (x[b, i] - zp_x),  w += QAS step (i < weight_channels)
        G_b[o] = sum_b g_acc[b, o],  bias += QAS step"""

    type = "fully_connected_backward"
    kernel = "fully_connected_s8_backward"
    quantization = FullyConnected.quantization  # unused: the op is never quantized (the training builder makes it)

    def prepare(self, op, g):
        w = g.t(op.inputs[3]).shape
        trained = np.zeros(w, bool)
        trained[:, :op.attrs["weight_channels"]] = True
        prepare_weight_backward(op, g, 0, trained)

    def grads(self, op, g, inputs) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
        """(g_x or None, G [out_c, trained inputs] or None, G_b or None), float32 the kernel's way, from the
        weights before the update."""
        x, g_y, mask, w = inputs[0], inputs[1], inputs[2], inputs[3]
        assert g_y is not None and mask is not None and w is not None
        out_c, depth = w.shape
        g_acc = grad_acc(op, g_y, mask).reshape(-1, out_c)
        g_x = grad = grad_b = None
        if op.outputs:  # S[b, i] = sum over o asc, sequential from 0.0f
            wf = w.astype(np.float32)
            s = np.zeros((g_acc.shape[0], depth), np.float32)
            for o in range(out_c):
                s = s + wf[o][None, :] * g_acc[:, o][:, None]
            g_x = (s * op.params["inv_sx"]).astype(np.float32).reshape(op.attrs["input_shape"])
        wc = min(op.attrs["weight_channels"], depth)
        if wc > 0:  # G[o, i] = sum over the batches b asc
            assert x is not None
            xs = (x.reshape(-1, depth)[:, :wc].astype(np.int32) + op.params["input_offset"]).astype(np.float32)
            grad = np.zeros((out_c, wc), np.float32)
            for row, xb in zip(g_acc, xs, strict=True):
                grad = grad + row[:, None] * xb[None, :]
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
        """(flat index into the weights, output channel), [out_c, wc]: the trained weights in update order (o asc,
        i < wc asc; wc = min(weight_channels, depth))."""
        out_c, depth = w_shape
        index = np.arange(out_c)[:, None] * depth + np.arange(min(op.attrs["weight_channels"], depth))[None, :]
        return index, np.broadcast_to(np.arange(out_c)[:, None], index.shape)

    def emit(self, op, g, ctx):
        w = g.t(op.inputs[3]).shape
        fields = dict(batches=g.t(op.inputs[1]).size // w[0], depth=w[1], out_c=w[0], **backward_fields(op, ctx))
        params = ctx.params_struct(op, "edgec_fully_connected_s8_backward_params", fields)
        scratch = backward_scratch(op, ctx, self.scratch_bytes(op, g, in_place=False) > 0)
        return backward_call(op, ctx, "edgec_fully_connected_s8_backward", params, scratch)

    def scratch_bytes(self, op, g, *, in_place):
        """One batch row's g_acc (out_c floats), for g_x or trained weights."""
        w = g.t(op.inputs[3]).shape
        trained = op.inputs[0] is not None and min(op.attrs["weight_channels"], w[1]) > 0
        return 4 * w[0] if op.outputs or trained else 0

    def macs(self, op, g):
        """dX: batches x out_c x depth; dW: batches x out_c x trained inputs."""
        y, w = g.t(op.inputs[1]), g.t(op.inputs[3]).shape
        return (y.size * w[1] if op.outputs else 0) + y.size * min(op.attrs["weight_channels"], w[1])
