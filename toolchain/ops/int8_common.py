"""What the int8 weighted operators share (CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV, FULLY_CONNECTED): the rules
for their weights and bias, and the rescale of their int32 accumulators to int8.

    y[o] = clamp(zp_y + MBQM(acc[o], M[o], shift[o]), act_min, act_max)   M[o], shift[o] from s_x * s_w[o] / s_y

computed at compile time by `prepare_rescale` (TFLite's fixed-point multiplier per output channel, or, for an ONNX
QDQ model, onnxruntime's float32 rescale, `onnxruntime_rounding`) and applied by `requantize` in the references.
These read operators and tensors (scales, zero points, attrs, params), so they live here beside the ops and not in
fixedpoint.py, which holds the integer maths itself on plain numbers and arrays and knows nothing of the IR.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..fixedpoint import (
    activation_range,
    float32_parts,
    multiply_by_quantized_multiplier,
    onnxruntime_scale,
    quantize_multiplier,
    requantize_float32,
)
from .base import PatchKind, rule_text
from .int4_common import INT4_KERNELS


def weights_int8_symmetric(op, g) -> bool:
    """weights are int8 (or int4 for CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED) with zero point 0
    (symmetric), per tensor or per output channel"""
    w = g.t(op.inputs[1])
    int4_ok = w.dtype == "int4" and op.type in INT4_KERNELS
    return (w.dtype == "int8" or int4_ok) and w.is_const and w.quant is not None and not np.any(w.quant.zero_point)


def bias_int32(op, g) -> bool:
    """bias, when present, is a constant int32 tensor"""
    return len(op.inputs) < 3 or op.inputs[2] is None or (g.t(op.inputs[2]).dtype == "int32"
                                                           and g.t(op.inputs[2]).is_const)


def channel_multipliers(op, g) -> tuple[np.ndarray, np.ndarray]:
    """(M, shift) per output channel from s_x * s_w[c] / s_y, in double precision as TFLite computes it."""
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    assert w.quant is not None
    channels = y.shape[-1]
    w_scales = w.quant.scale if w.quant.scale.size > 1 else np.repeat(w.quant.scale, channels)
    pairs = [quantize_multiplier(float(np.float64(x.scale) * np.float64(s) / np.float64(y.scale))) for s in w_scales]
    return np.array([p[0] for p in pairs], dtype=np.int32), np.array([p[1] for p in pairs], dtype=np.int32)


def onnxruntime_rounding(op) -> bool:
    """attrs["rounding"] == "onnxruntime" (the ONNX QDQ importer sets it): rescale like onnxruntime's MLAS, in
    float32 with ties to even (fixedpoint.requantize_float32), instead of TFLite's fixed-point multiplier."""
    return op.type in ("conv2d", "depthwise_conv2d", "fully_connected") and op.attrs.get("rounding") == "onnxruntime"


def onnxruntime_multipliers(op, g) -> tuple[np.ndarray, np.ndarray]:
    """(m, e) per output channel: onnxruntime's float32 scale (s_x * s_w[c]) / s_y = m * 2^e."""
    x, w, y = g.t(op.inputs[0]), g.t(op.inputs[1]), g.t(op.outputs[0])
    assert w.quant is not None
    w_scales = w.quant.scale if w.quant.scale.size > 1 else np.repeat(w.quant.scale, y.shape[-1])
    return float32_parts(onnxruntime_scale(x.scale, w_scales, y.scale))


def requantize(acc: np.ndarray, op, g) -> np.ndarray:
    """int32 accumulators [..., C] -> int8 outputs, with op.params' multipliers, zero point and clamp."""
    p = op.params
    if onnxruntime_rounding(op):
        y = requantize_float32(acc, p["multiplier"], p["shift"]) + p["output_offset"]
        return np.clip(y, p["act_min"], p["act_max"]).astype(np.int8)
    y = multiply_by_quantized_multiplier(acc, p["multiplier"], p["shift"]) + p["output_offset"]
    return np.clip(y, p["act_min"], p["act_max"]).astype(np.int8)


def prepare_rescale(op, g) -> None:
    """The constants every conv-like op needs: per-channel (M, shift), zero points, activation clamp."""
    x, y = g.t(op.inputs[0]), g.t(op.outputs[0])
    multiplier, shift = onnxruntime_multipliers(op, g) if onnxruntime_rounding(op) else channel_multipliers(op, g)
    act_min, act_max = activation_range(op.attrs.get("activation", "NONE"), y.scale, y.zero_point)
    op.params.update(multiplier=multiplier, shift=shift, input_offset=-x.zero_point, output_offset=y.zero_point,
                     act_min=act_min, act_max=act_max)


# ---- training: the backward ops of the int8 weight layers (conv2d, depthwise_conv2d, fully_connected) ----------
#
# The contract is docs/training.md. Gradients are float32 in real units; the backward op of a layer y = layer(x, w,
# bias) has inputs [x (None when the weights are frozen), g_y, mask_of(y), w, bias] and outputs [g_x] or []. With
#     g_acc[p, o] = (mask(p, o) ? g_y[p, o] : 0) * acc_scale[o],      acc_scale[o] = s_x * s_w[o]
# (the gradient with respect to the int32 accumulator of output (p, o), straight through the requantization and,
# where the clamp did not bite, the activation), the gradients are
#     dL/dx_real = (1 / s_x) * sum w_q * g_acc          dL/dw_q = sum g_acc * (x_q - zp_x)      dL/db_q = sum g_acc
# and the QAS step of a stored integer is -lr * (its gradient) / (its scale)^2 (toolchain/train/update.py).
#
# Optimizer state (--momentum M > 0, --weights shadow) is three more inputs, [velocity_w, velocity_b, shadow] (each
# None when not kept; all three absent for plain SGD on int8 weights, whose graph and C are then those of a model
# without the option): mutable float32 tensors of the trained slice only, laid out in the update order (entry k is
# the k-th weight the update loop visits, frozen channels' slots included), made by the gradient rule.

#: the optional state inputs of a weight layer's backward op, after [x, g_y, mask, w, bias]
STATE_INPUTS = ("velocity_w", "velocity_b", "shadow")

#: attrs of the forward op the backward op does not keep: its kernel choice, patch stage, .tflite position and label
BACKWARD_DROPPED_ATTRS = ("kernel_choice", "portable_reason", "patch", "tflite_op", "tflite_index", "tflite_outputs",
                          "label")


#: the layers whose partially trained weights keep only the trained slice in SRAM (their forward and backward
#: kernels read two weight sources: runtime/conv2d_s8.c, conv2d_s8_backward.c), groups 1 only; a grouped conv, a
#: depthwise or a fully connected layer keeps its whole weight tensor in SRAM
SLICED_IN_SRAM = ("conv2d",)


def weight_layer_backward(op, g, b) -> None:
    """The gradient rule of an int8 weight layer: one `<type>_backward` op that computes g_x (when some trained
    parameter lies below x) and updates the layer's trained weights and bias in place."""
    x, y = op.inputs[0], op.outputs[0]
    w = op.inputs[1]
    bias = op.inputs[2] if len(op.inputs) > 2 else None
    layer = b.layer(op)
    weight_channels = int(layer.weight_channels)
    train_bias = bool(layer.train_bias) and bias is not None
    outputs = [b.new_tensor(f"{op.name}_grad_input", g.t(x).shape)] if b.needs_grad(x) else []
    if not outputs and weight_channels == 0 and not train_bias:
        return  # nothing trained here and nothing below: no op
    xt = g.t(x)
    # a conv (groups 1: the kernels' two-source path is tested there only) trained over some of its input channels
    # keeps only that slice in SRAM, and saves only those channels of its input for the weight gradient
    sliced = op.type in SLICED_IN_SRAM and 0 < weight_channels < xt.shape[-1] == g.t(w).shape[-1]
    if weight_channels > 0:
        w = b.param(w, weight_channels if sliced else 0)
    if train_bias:
        bias = b.param(bias)
    attrs = {k: v for k, v in op.attrs.items() if k not in BACKWARD_DROPPED_ATTRS}
    attrs.update(weight_channels=weight_channels, train_bias=train_bias, rounding=b.rounding, lr=float(b.lr),
                 input_shape=list(xt.shape), input_scale=xt.scale, input_zero_point=xt.zero_point)
    momentum, shadow = float(getattr(b, "momentum", 0.0)), getattr(b, "weights", "int8") == "shadow"
    if momentum:
        attrs["momentum"] = momentum
    if shadow:
        attrs["weights"] = "shadow"
    saved = x if weight_channels > 0 else None
    if sliced:  # groups 1: the trained channels are x's first ones; only what G reads is kept until the backward op
        saved = b.saved_slice(x, weight_channels)
        if saved != x:
            attrs["saved_channels"] = weight_channels
    bw = b.add_op(f"{op.type}_backward", [saved, b.grad_of(y), b.mask_of(y), w, bias], outputs, attrs)
    if outputs:
        b.add_grad(x, outputs[0])
    if not (momentum or shadow) or (weight_channels == 0 and not train_bias):
        return
    from .base import REGISTRY

    data = np.asarray(g.t(w).data)
    index, _ = REGISTRY[bw.type].update_index(bw, data.shape)  # type: ignore[attr-defined]  # in update order
    trained_w = weight_channels > 0 and index.size > 0
    state: list[str | None] = [None, None, None]
    if momentum and trained_w:
        state[0] = b.state(f"{w}/velocity", np.zeros(index.shape, np.float32))
    if momentum and train_bias:
        assert bias is not None
        state[1] = b.state(f"{bias}/velocity", np.zeros(g.t(bias).shape, np.float32))
    if shadow and trained_w:
        state[2] = b.state(f"{w}/shadow", data.reshape(-1)[index].astype(np.float32))
    if any(t is not None for t in state):
        bw.inputs.extend(state)


def prepare_weight_backward(op, g, axis: int, trained: np.ndarray) -> None:
    """op.params of a weight layer's backward op (docs/training.md), computed in float64 and stored float32:
    acc_scale[o] = s_x s_w[o], inv_sx = 1 / s_x, input_offset = -zp_x, coef_w[o] = -lr / s_w[o]^2 and
    coef_b[o] = -lr / (s_x s_w[o])^2 (0 for a frozen channel: update.qas_factors' rule, or a coefficient that is
    not a finite float32), bias_max[o] and rounding (0 nearest, 1 stochastic).
    `axis`: the weights' output-channel axis; `trained`: a bool array of the weights' shape, the weights this op
    may change (the first weight_channels input channels).

    bias_max[o]: the largest |bias| that keeps every later inference inside the int32 accumulator whatever the
    training does to the weights: 2^31 - 1 - (sum of |w| over the frozen weights + 127 per trained weight) *
    max|x - zp_x| (fixedpoint.accumulator_extremes' bound), never below the bias's |b| now (a model that already
    overflows keeps its bias) and never negative."""
    from ..fixedpoint import accumulator_extremes
    from ..train.update import WEIGHT_MAX, qas_factors

    a = op.attrs
    w = g.t(op.inputs[3])
    assert w.quant is not None and w.data is not None
    data = np.asarray(w.data)
    channels = data.shape[axis]
    s_x = float(a["input_scale"])
    s_w = np.broadcast_to(np.asarray(w.quant.scale, np.float64).reshape(-1), (channels,))
    _, _, frozen = qas_factors(s_w, s_x, np.moveaxis(data, axis, 0))
    lr = float(a["lr"])
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        coef_w = (-lr / s_w**2).astype(np.float32)
        coef_b = (-lr / (s_x * s_w) ** 2).astype(np.float32)
    frozen = frozen | ~np.isfinite(coef_w) | ~np.isfinite(coef_b)
    channel_live = np.expand_dims(~frozen, [d for d in range(data.ndim) if d != axis])
    worst = np.where(trained & channel_live, WEIGHT_MAX, np.abs(data.astype(np.int64)))
    peaks, _, _ = accumulator_extremes(worst, axis, int(a["input_zero_point"]), None)
    bias_max = np.maximum(2**31 - 1 - peaks, 0)
    if op.inputs[4] is not None:
        bias_max = np.maximum(bias_max, np.abs(np.asarray(g.t(op.inputs[4]).data, np.int64).reshape(-1)))
    op.params.update(
        acc_scale=(s_x * s_w).astype(np.float32), inv_sx=np.float32(1.0 / s_x),
        input_offset=-int(a["input_zero_point"]),
        coef_w=np.where(frozen, 0, coef_w).astype(np.float32), coef_b=np.where(frozen, 0, coef_b).astype(np.float32),
        bias_max=np.minimum(bias_max, 2**31 - 1).astype(np.int32),
        rounding={"nearest": 0, "stochastic": 1}[a["rounding"]], momentum=np.float32(a.get("momentum", 0.0)))


def mask_bits(mask: np.ndarray, shape) -> np.ndarray:
    """The clamp mask (uint8, bit e of element e, LSB first) as a bool array of `shape`."""
    size = int(np.prod(shape))
    return np.unpackbits(np.asarray(mask, np.uint8), bitorder="little")[:size].astype(bool).reshape(shape)


def grad_acc(op, g_y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Step 1: g_acc[p, o] = (mask(p, o) ? g_y[p, o] : 0.0f) * acc_scale[o], float32, g_y's shape."""
    g_y = np.asarray(g_y, np.float32)
    kept = np.where(mask_bits(mask, g_y.shape), g_y, np.float32(0))
    return (kept * op.params["acc_scale"]).astype(np.float32)


def bias_grad(g_acc: np.ndarray) -> np.ndarray:
    """G_b[o] = sum over the output pixels p asc of g_acc[p, o], sequential in float32 from 0.0f."""
    rows = g_acc.reshape(-1, g_acc.shape[-1])
    total = np.zeros(rows.shape[1], np.float32)
    for row in rows:
        total = total + row
    return total


def state_inputs(inputs: list) -> dict[str, np.ndarray | None]:
    """The optimizer state arrays of a backward op's inputs (STATE_INPUTS; None when not kept)."""
    return {name: (inputs[5 + k] if len(inputs) > 5 + k else None) for k, name in enumerate(STATE_INPUTS)}


def apply_weight_updates(op, weights: np.ndarray, index: np.ndarray, channel: np.ndarray, grads: np.ndarray,
                         rng: np.ndarray | None, velocity: np.ndarray | None = None,
                         shadow: np.ndarray | None = None) -> None:
    """Step 3 on the live weights, in place: entry k is the weight at flat (row-major) index `index[k]` of
    output channel `channel[k]`, with gradient `grads[k]`, k in the update order. Channels whose coef_w is 0 are
    skipped (no step, no draw, no state change: a frozen channel is never touched); the others move by
    step = G * coef_w[o] with update_nearest, or update_stochastic drawing one number per weight in that order
    from `rng` (a uint32 array of one element, the model's generator state, advanced in place).
    `velocity` (momentum) and `shadow` (fp32 shadow weights): the live state arrays, entry k for weight k, updated
    in place: v[k] = momentum_velocity(v[k], step), then the weight moves by v[k] instead of the step; with a
    shadow, update_shadow(shadow[k], that step) gives the weight (elementwise rules: the order does not matter)."""
    from ..train.update import momentum_velocity, update_nearest, update_shadow, update_stochastic

    assert weights.flags.c_contiguous
    coef = op.params["coef_w"][channel]
    live = coef != 0
    index = index[live]
    steps = (np.asarray(grads, np.float32)[live] * coef[live]).astype(np.float32)
    flat = weights.reshape(-1)  # a view: the caller's array changes
    if velocity is not None:
        v = velocity.reshape(-1)  # a view
        v[live] = momentum_velocity(v[live], steps, float(op.params["momentum"]))
        steps = v[live]
    if shadow is not None:
        s = shadow.reshape(-1)
        s[live], flat[index] = update_shadow(s[live], steps)
        return
    if op.params["rounding"] == 1:
        if rng is None:
            raise ValueError(f"{op.type}: stochastic rounding needs the generator state (rng=)")
        flat[index], state = update_stochastic(flat[index], steps, int(rng[0]))
        rng[0] = state
    else:
        flat[index] = update_nearest(flat[index], steps)


def apply_bias_update(op, bias: np.ndarray, grad_bias: np.ndarray, velocity: np.ndarray | None = None) -> None:
    """Step 4 on the live bias, in place: b = update_bias(b, G_b * coef_b[o], bias_max[o]) for the channels whose
    coef_b is not 0; with momentum (`velocity`, updated in place) the bias moves by
    v[o] = momentum_velocity(v[o], step, momentum, 2^30) instead."""
    from ..train.update import BIAS_STEP_LIMIT, momentum_velocity, update_bias

    coef = op.params["coef_b"]
    live = coef != 0
    step = (grad_bias[live] * coef[live]).astype(np.float32)
    if velocity is not None:
        velocity[live] = momentum_velocity(velocity[live], step, float(op.params["momentum"]), BIAS_STEP_LIMIT)
        step = velocity[live]
    bias[live] = update_bias(bias[live], step, op.params["bias_max"][live])


def apply_updates(op, inputs: list, index: np.ndarray, channel: np.ndarray, grad: np.ndarray | None,
                  grad_b: np.ndarray | None, rng: np.ndarray | None) -> None:
    """Steps 3 and 4 of a backward op's reference on its live inputs (weights inputs[3], bias inputs[4], the
    optimizer state after them): `index`/`channel` the trained weights in update order (update_index)."""
    state = state_inputs(inputs)
    if grad is not None:
        assert inputs[3] is not None
        apply_weight_updates(op, inputs[3], index.reshape(-1), channel.reshape(-1), grad.reshape(-1), rng,
                             state["velocity_w"], state["shadow"])
    if grad_b is not None:
        assert inputs[4] is not None
        apply_bias_update(op, inputs[4], grad_b, state["velocity_b"])


def backward_fields(op, ctx) -> dict:
    """The C struct fields every weight layer's backward kernel shares (runtime/*_s8_backward.h)."""
    p, a = op.params, op.attrs
    return dict(input_offset=p["input_offset"], weight_channels=a["weight_channels"],
                train_bias=int(a["train_bias"]), rounding=p["rounding"],
                inv_sx=f"{float(p['inv_sx'])!r}f",  # the float32 value exactly (repr round-trips)
                weights=ctx.ptr(op.inputs[3]),
                acc_scale=ctx.const_array(op, "acc_scale", p["acc_scale"], "float"),
                coef_w=ctx.const_array(op, "coef_w", p["coef_w"], "float"),
                coef_b=ctx.const_array(op, "coef_b", p["coef_b"], "float"),
                bias_max=ctx.const_array(op, "bias_max", p["bias_max"]),
                **state_fields(op, ctx))


def state_fields(op, ctx) -> dict:
    """The optimizer-state fields of the struct, only those kept (none for plain SGD on int8 weights: the
    struct's initializer, and so the generated C, is then the same as without the fields)."""
    fields: dict = {}
    for name, tensor in zip(STATE_INPUTS, op.inputs[5:]):
        if tensor is not None:
            fields[name] = ctx.ptr(tensor)
    if fields.get("velocity_w") or fields.get("velocity_b"):
        fields["momentum"] = f"{float(op.params['momentum'])!r}f"  # the float32 value exactly
    return fields


def backward_call(op, ctx, function: str, params: str, scratch: str = "NULL") -> str:
    """`function(&params, x, g_y, mask, weights to update or NULL, bias to update or NULL, g_x or NULL, scratch,
    &edgec_train_rng);` (the generated model.c defines the generator state edgec_train_rng)."""
    a = op.attrs
    x, g_y, mask, w, bias = op.inputs[:5]
    args = [f"&{params}", ctx.ptr(x), ctx.ptr(g_y), ctx.ptr(mask),
            ctx.ptr(w) if a["weight_channels"] > 0 else "NULL", ctx.ptr(bias) if a["train_bias"] else "NULL",
            ctx.ptr(op.outputs[0]) if op.outputs else "NULL", scratch, "&edgec_train_rng"]
    return f"{function}({', '.join(args)});"


def backward_scratch(op, ctx, needed: bool | None = None) -> str:
    """The float scratch of a backward op with scratch_bytes > 0 (`needed`; by default: it computes g_x), else
    NULL."""
    if not (bool(op.outputs) if needed is None else needed):
        return "NULL"
    return f"((float *)(edgec_arena.bytes + {ctx.plan.scratch_offset(op.name)}))"


class WeightBackward:
    """What the three `<layer>_backward` ops share (a mixin before Operator): their facts, and that they always
    run their own prepare, reference and emit (is_float would call an op float32 whose first input, x, is None
    and whose output g_x is float32: these ops mix int8 and float32 by design)."""

    fuses_activation = False
    patch_kind: PatchKind = None
    not_exportable: str | None = "a training op (the backward pass of an int8 layer) has no TFLite form"
    backward: Callable[..., None] | None = None
    constraints: list = []

    def run_reference(self, op, g, inputs, rng: np.ndarray | None = None):
        """The reference (which also updates the live weights and bias in `inputs` in place); `rng` (uint32 [1],
        the model's generator state, advanced in place) is needed for stochastic rounding."""
        return self.reference(op, g, inputs, rng=rng)  # type: ignore[attr-defined]

    def run_prepare(self, op, g):
        return self.prepare(op, g)  # type: ignore[attr-defined]

    def run_emit(self, op, g, ctx):
        return self.emit(op, g, ctx)  # type: ignore[attr-defined]

    def kernel_for(self, op, g):
        return self.kernel  # type: ignore[attr-defined]

    def check(self, op, g):
        return [rule_text(c) for c in self.constraints if not c(op, g)]

    def infer_shape(self, op, g):
        return [tuple(op.attrs["input_shape"])] if op.outputs else []

def folded_bias(op, g, channel_axis: int) -> np.ndarray:
    """bias[c] + input_offset * sum of channel c's weights, wrapped to int32 (modulo 2^32): the start value of the
    Helium kernels (runtime/edgec_mve.h), which multiply the raw int8 inputs. Equal to the portable kernel's sum
    modulo 2^32, so exactly equal whenever that int32 sum does not overflow (fixedpoint.accumulator_extremes)."""
    w = g.t(op.inputs[1]).data
    assert w is not None
    sums = np.moveaxis(w.astype(np.int64), channel_axis, 0).reshape(w.shape[channel_axis], -1).sum(axis=1)
    folded = sums * int(op.params["input_offset"])
    if len(op.inputs) > 2 and op.inputs[2]:
        bias = g.t(op.inputs[2]).data
        assert bias is not None
        folded = folded + bias.astype(np.int64).reshape(-1)
    return ((folded + 2**31) % 2**32 - 2**31).astype(np.int32)

def mve_lane_records(op, start: np.ndarray) -> np.ndarray:
    """The Helium lanes kernels' per-group records (runtime/conv2d_s8_mve.h, depthwise_conv2d_s8_mve.h): per group
    of 4 output channels 16 int32, the accumulators' starts, the multipliers, max(shift, 0) and min(shift, 0) (the
    VSHL and VRSHL counts of edgec_mve.h's MBQM), zeros past the last channel."""
    c = start.shape[0]
    m = np.broadcast_to(np.asarray(op.params["multiplier"], np.int64).reshape(-1), (c,))
    s = np.broadcast_to(np.asarray(op.params["shift"], np.int64).reshape(-1), (c,))
    rows = np.zeros((4, -(-c // 4) * 4), np.int64)
    rows[:, :c] = [start, m, np.maximum(s, 0), np.minimum(s, 0)]
    return rows.reshape(4, -1, 4).transpose(1, 0, 2).astype(np.int32).copy()


def host_requant_table(op, out_c: int) -> np.ndarray | None:
    """The host kernels' requantization constants (runtime/edgec_host.h), int32 [out_c, 4]: M, left = max(shift,
    0), right = max(-shift, 0), half = 2^(right - 1) or 0. None when the host output stage does not apply (onnxruntime
    rounding: the kernels then call edgec_requantize; a shift beyond 31 either way or a negative M: the portable
    kernel)."""
    if onnxruntime_rounding(op):
        return None
    m = np.broadcast_to(np.asarray(op.params["multiplier"], np.int64).reshape(-1), (out_c,))
    s = np.broadcast_to(np.asarray(op.params["shift"], np.int64).reshape(-1), (out_c,))
    left, right = np.maximum(s, 0), np.maximum(-s, 0)
    if out_c and (m.min() < 0 or left.max() > 31 or right.max() > 31):
        return None
    half = np.where(right > 0, np.left_shift(1, np.maximum(right - 1, 0)), 0)
    return np.stack([m, left, right, half], axis=1).astype(np.int32)


def host_requant_arg(op, g, ctx) -> str:
    """The host kernels' `requant` argument: the output stage's constant table, or NULL (onnxruntime's rounding)."""
    table = host_requant_table(op, g.t(op.outputs[0]).shape[-1])
    return "NULL" if table is None else ctx.const_array(op, "requant", table)


def host_output_stage_ok(op, g) -> bool:
    """The host kernels run TFLite's rounding through edgec_host.h (its table) and onnxruntime's through the
    portable edgec_requantize; a TFLite layer whose table does not apply (a shift beyond 31) stays portable."""
    return onnxruntime_rounding(op) or host_requant_table(op, g.t(op.outputs[0]).shape[-1]) is not None


HOST_VBLOCK = 16  # EDGEC_HOST_VBLOCK: channels per call of the host's vector output stage (runtime/edgec_host.h)


def host_vector_stage(op, g, channel_axis: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The host kernels' vector output stage (runtime/edgec_host.h edgec_host_out16), or None (the scalar one).
    Per output channel c, with M, right = max(-shift, 0), sh = 31 + right and |acc| <= B (fixedpoint.
    accumulator_extremes): TFLite's result floor((acc M + C) / 2^sh), C = 2^30 + half 2^31 - [acc < 0, right > 0]
    2^31 (edgec_host.h), is computed in double as acc m + c + (acc >> 31) cd with m = M / 2^sh, c = (2^30 + half
    2^31 + K 2^sh) / 2^sh, cd = [right > 0] 2^31 / 2^sh, then truncated to int32 and offset by off = zp_y - K.
    Exact (checked here on Python integers): every value is an integer times 2^-sh below 2^53 times that, so no
    operation rounds; K = floor((B M + 2^31) / 2^sh) + 1 makes the sum positive, so truncation is floor; it stays
    below 2^31. The sign of acc stands for the sign of acc M + 2^30 when M = 0 or M >= 2^30 (at acc M + 2^30 = 0
    both give the same y). A channel whose y is the same at both ends of acc's range, bias[c] -+ (B - |bias[c]|) (y is
    monotone in acc), is that constant:
    m = cd = 0, c = 1, off = zp_y + y - 1. Any other channel (a left shift, or a bound past the double's 53 bits:
    typically near-zero weights beside a large bias, shifts past 21) is fixed up: the vector stage computes 1 there
    and the kernel then requantizes it through the scalar stage. Returns ([m; c; cd] float64 [3, out_c], int32
    [off[0..out_c), n_fix, the n_fix channels]); with fewer than HOST_VBLOCK channels (a divisor of it) the arrays
    are repeated to HOST_VBLOCK columns, for the kernels that run the stage over several pixels at once. None for
    onnxruntime's rounding, other channel counts below HOST_VBLOCK or more than a quarter of the channels to fix
    up."""
    from ..fixedpoint import accumulator_extremes

    out_c = g.t(op.outputs[0]).shape[-1]
    table = host_requant_table(op, out_c)
    w = g.t(op.inputs[1]).data
    if table is None or (out_c < HOST_VBLOCK and HOST_VBLOCK % out_c) or w is None or w.shape[channel_axis] != out_c:
        return None
    bias = g.t(op.inputs[2]).data if len(op.inputs) > 2 and op.inputs[2] else None
    peaks, biases, _ = accumulator_extremes(w, channel_axis, -int(op.params["input_offset"]), bias)
    signed = np.zeros(out_c, np.int64) if bias is None or bias.size != out_c else bias.astype(np.int64).reshape(-1)
    zp = int(op.params["output_offset"])
    consts, offs, fix = np.zeros((3, out_c), np.float64), np.zeros(out_c, np.int32), []
    for c in range(out_c):
        m, left, right, half = (int(v) for v in table[c])
        bound, sh = int(peaks[c]), 31 + right
        consts[:, c] = [0.0, 1.0, 0.0]  # a constant or fixed-up channel
        if left or 0 < m < 2**30:
            fix.append(c)
            continue
        sway = bound - int(biases[c])  # acc is within bias[c] +- sway
        ends = [(t + (half - (t < 0 and right > 0)) * 2**31) >> sh
                for t in ((int(signed[c]) - sway) * m + 2**30, (int(signed[c]) + sway) * m + 2**30)]
        if ends[0] == ends[1]:
            offs[c] = zp + ends[0] - 1
            continue
        k = (bound * m + 2**31) // 2**sh + 1
        top = bound * m + 2**30 + half * 2**31 + k * 2**sh  # the largest sum; the smallest is > 0
        if top >= 2**53 or top // 2**sh + 1 >= 2**31 or abs(zp - k) >= 2**30:
            fix.append(c)
            continue
        consts[:, c] = [m / 2.0**sh, (2**30 + half * 2**31 + k * 2**sh) / 2.0**sh, (2**31 if right else 0) / 2.0**sh]
        offs[c] = zp - k
    if 4 * len(fix) > out_c:
        return None
    if out_c < HOST_VBLOCK:  # 1, 2, 4 or 8 channels: the constants repeated, 16 / out_c pixels per block
        consts, offs = np.tile(consts, HOST_VBLOCK // out_c), np.tile(offs, HOST_VBLOCK // out_c)
    return consts, np.concatenate([offs, np.array([len(fix), *fix], np.int32)])


def host_vector_args(op, g, ctx, channel_axis: int, tiled: bool) -> str:
    """The host kernels' `vq, voff` arguments: host_vector_stage's arrays, or NULL, NULL (also for fewer than
    HOST_VBLOCK channels unless the kernel runs the repeated arrays: `tiled`)."""
    stage = host_vector_stage(op, g, channel_axis)
    if stage is None or (g.t(op.outputs[0]).shape[-1] < HOST_VBLOCK and not tiled):
        return "NULL, NULL"
    return f"{ctx.const_array(op, 'vq', stage[0], 'double')}, {ctx.const_array(op, 'voff', stage[1])}"


#: int32 words per output channel of runtime/edgec_dsp_out.h: start, multiplier, round, pre, right
DSP_OUT_WORDS = 5


def _channel_values(values, channels: int) -> list[int]:
    """A per-tensor (one value) or per-channel parameter as one int per channel."""
    a = np.asarray(values, dtype=np.int64).reshape(-1)
    return [int(v) for v in (np.repeat(a, channels) if a.size == 1 else a)]


def dsp_output_stage(op, g, channel_axis: int, start: np.ndarray, channels: list[int] | None = None
                     ) -> np.ndarray | None:
    """The compile-time output stage of the DSP kernels (runtime/edgec_dsp_out.h): per output channel c (those of
    `channels`, all by default) the int32 words (start[c], M, round = 2^(e-1) + zp_y 2^e, pre = left + 1, e), or None
    when it would not be exact for some accumulator the layer can reach, and the kernel requantizes as the portable
    one. Exact when (checked here on Python integers, per channel, with |acc| <= B from
    fixedpoint.accumulator_extremes): TFLite's rounding; e >= 1; B 2^(left+1) <= 2^31 - 1 (the doubled, shifted
    accumulator fits int32); |round| + |SRDHM| + 1 <= 2^31 - 1 with |SRDHM| <= (B 2^left M + 2^30) / 2^31 + 1."""
    from ..fixedpoint import accumulator_extremes

    if onnxruntime_rounding(op):
        return None
    w = g.t(op.inputs[1]).data
    assert w is not None
    count = w.shape[channel_axis]
    bias = g.t(op.inputs[2]).data if len(op.inputs) > 2 and op.inputs[2] else None
    peaks, _, _ = accumulator_extremes(w, channel_axis, -int(op.params["input_offset"]), bias)
    multipliers = _channel_values(op.params["multiplier"], count)
    shifts = _channel_values(op.params["shift"], count)
    zp = int(op.params["output_offset"])
    rows = []
    for c in (range(count) if channels is None else channels):
        m, shift, bound = multipliers[c], shifts[c], int(peaks[c])
        left, e = max(shift, 0), max(-shift, 0)
        if not 1 <= e <= 31 or not 0 <= m < 2**31 or bound << (left + 1) > 2**31 - 1:
            return None
        rnd = (1 << (e - 1)) + zp * (1 << e)
        if abs(rnd) + ((bound << left) * m + 2**30) // 2**31 + 2 > 2**31 - 1:
            return None
        rows.append([int(start[c]), m, rnd, left + 1, e])
    return np.array(rows, dtype=np.int64).reshape(-1, DSP_OUT_WORDS).astype(np.int32)


RECORDS_MAX_PRE = 8  # w << pre must fit int16


def record_weight_pairs(w: np.ndarray, stage: np.ndarray, width: int
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The DSP records kernels' per-row words (the FC's, runtime/fully_connected_s8_dsp.h, and the pointwise conv's,
    runtime/conv2d_s8_fc_dsp.h), with each row's pre = left + 1 (stage column 3) folded in: its int16 weights w << pre,
    zero past the depth up to `width` (a multiple of 4) inputs, as the words (w0, w2), (w1, w3) of each group of 4
    inputs, low half first ([rows, width / 4, 2]); its start << pre mod 2^32 (as int32) and its e. None when some
    row's pre is over RECORDS_MAX_PRE or under 1."""
    rows, depth = w.shape
    pre = stage[:, 3].astype(np.int64)
    if pre.max(initial=0) > RECORDS_MAX_PRE or pre.min(initial=1) < 1:
        return None
    padded = np.zeros((rows, width), np.int64)
    padded[:, :depth] = w.astype(np.int64) << pre[:, None]
    halves = padded.reshape(rows, width // 4, 4)[:, :, [0, 2, 1, 3]].reshape(rows, width // 4, 2, 2) & 0xFFFF
    start = ((stage[:, 0].astype(np.int64) << pre) + 2**31) % 2**32 - 2**31
    return halves[..., 0] | (halves[..., 1] << 16), start, stage[:, 4].astype(np.int64)
