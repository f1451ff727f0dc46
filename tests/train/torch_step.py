"""An independent PyTorch reference of edgec's int8 training step (test helper, not part of the toolchain).

Written from the numerics contract of the training path (the int8 layers' backward, QAS, the update rules), not
from edgec's backward code, so that the two can check each other:

- forward: the exact int8 value of every tensor comes from the forward op's own numpy reference (edgec's inference
  reference, bit-exact with TFLM), evaluated with THIS trainer's parameters;
- backward: torch autograd (CPU, float64) on a straight-through surrogate of each forward op, in real units
  (real = s * (q - zp)). A weight layer's surrogate is its real pre-activation
      z[p, o] = s_x * s_w[o] * (sum (x_q - zp_x) * w_q + b_q) = s_w[o] * conv(x_real, w_q) + s_x * s_w[o] * b_q
  whose value is replaced by the exact int8 output's real value (z + (exact - z).detach()) and whose gradient is
  cut where the int8 output sits at or beyond its clamp (act_min < q < act_max passes). Add: the real sum (its
  clamp masked the same way); global average pool: the real mean (masked); MEAN: the real mean (not masked);
  RELU: the identity on real values (masked); reshape and dequantize: identities. The float32 head is a plain
  float64 linear layer, the loss torch's cross entropy.
- the parameters are leaves in the INTEGER domain (w_q, b_q as float64), so autograd yields dL/dw_q and dL/db_q
  directly, and the update is QAS: step = dL/dw_q * (-lr / s_w[o]^2), dL/db_q * (-lr / (s_x s_w[o])^2), then
  w <- clamp(w + round_half_away(clamp(step, +-255)), -127, 127) on the trained slice only (the first
  weight_channels input channels; depthwise: the output channels o < weight_channels * multiplier),
  b <- clamp(b + round_half_away(clamp(step, +-2^30)), -bmax, bmax). Channels whose weights are all zero or whose
  factors do not fit a float32 are frozen. The head: plain SGD in float64.
- momentum M (edgec --momentum): PyTorch's convention, a buffer of gradients, buf <- M buf + grad and
  p <- p - lr buf, with grad the QAS-scaled gradient k * dL/dq (k = 1 / s_w^2, 1 / (s_x s_w)^2) for the int8
  parameters, whose rounded step is then -lr buf; the head is updated by torch.optim.SGD(momentum=M) itself.
  edgec keeps v <- M v + step with step = -lr k dL/dq, so with a constant lr v = -lr buf exactly (by induction:
  v_0 = buf_0 = 0, v_t = M (-lr buf_{t-1}) - lr g_t = -lr (M buf_{t-1} + g_t)): the trainer publishes -lr buf
  under edgec's velocity names (in edgec's update order) for the comparison. (edgec clamps each step to +-255 LSB
  before it enters v; the compared runs stay far below, which the trainer asserts.)
- fp32 shadow weights (edgec --weights shadow): a float64 shadow s of each trained live weight, s <- clamp(s +
  clamp(step, +-255), -127, 127), w <- round_half_away(s); published under edgec's shadow names.

    tr = TorchTrainer(tg)                 # tg: a training graph (edgec.train.graph.build_training_graph)
    r = tr.step(x, label)                 # loss, logits, int8 values, real-unit gradients, steps; params updated
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from edgec.ir import Graph, Op
from edgec.ops import REGISTRY

WEIGHT_LAYERS = ("conv2d", "depthwise_conv2d", "fully_connected")
#: ops whose int8 output clamp cuts the gradient (a fused activation, or RELU's own clamp); MEAN does not
MASKED = ("conv2d", "depthwise_conv2d", "fully_connected", "add", "avg_pool2d", "relu")
F32_MAX = float(np.finfo(np.float32).max)


def round_half_away(t: np.ndarray) -> np.ndarray:
    return np.sign(t) * np.floor(np.abs(t) + 0.5)


@dataclass
class Layer:
    """What the trainer knows of one trained int8 layer."""

    op: Op
    weights: str
    bias: str | None
    weight_channels: int
    train_bias: bool
    coef_w: np.ndarray  # -lr / s_w^2 per output channel (0: frozen)
    coef_b: np.ndarray  # -lr / (s_x s_w)^2
    bias_max: np.ndarray
    k_w: np.ndarray  # the QAS factors 1 / s_w^2 and 1 / (s_x s_w)^2 (0: frozen)
    k_b: np.ndarray


@dataclass
class StepResult:
    loss: float
    logits: np.ndarray  # float64 [1, K]
    int8: dict[str, np.ndarray]  # the exact int8 value of every forward tensor
    grads: dict[str, np.ndarray]  # dL/d(real value) of every forward tensor a trained parameter lies below
    param_grads: dict[str, np.ndarray]  # dL/d(stored value) of every trained parameter (integer domain for int8)
    steps: dict[str, np.ndarray] = field(default_factory=dict)  # pre-rounding steps (LSB) of the int8 parameters
    bias_saturated: int = 0  # biases that hit +-bias_max (the bound is edgec's choice: tests keep this 0)
    #: per op, max |surrogate value / s_y + zp_y - exact int8| over outputs inside the clamp: the surrogate's own
    #: check (its geometry, padding, grouping and scales reproduce the int8 layer up to its final rounding)
    surrogate_lsb: dict[str, float] = field(default_factory=dict)
    #: per tensor, max |gradient| for a unit gradient on one logit: the floor of the gradients' relative errors
    #: (a nearly saturated softmax makes dL/dz tiny, where float32's p - 1 cancels)
    grad_scale: dict[str, float] = field(default_factory=dict)


class TorchTrainer:
    def __init__(self, tg: Graph):
        meta = tg.meta["training"]
        self.tg = tg
        self.lr = float(meta["lr"])
        if meta["rounding"] != "nearest":
            raise ValueError("the torch reference models nearest rounding only")
        self.momentum = float(meta.get("momentum", 0.0))
        self.shadow_weights = meta.get("weights", "int8") == "shadow"
        # the training-only forward ops (1-bit masks, the saved channel slices) only store what the backward ops
        # read: this reference differentiates the forward ops themselves
        self.forward = [op for op in tg.ops[:meta["forward_ops"]] if op.type not in ("clamp_mask", "channel_slice")]
        self.head = next(op for op in self.forward if op.name == f"{meta['head']}/head")
        self.layers: dict[str, Layer] = {}
        for op in self.forward:
            lt = meta["layers"].get(op.name)
            if op.type in WEIGHT_LAYERS and lt is not None:
                self.layers[op.name] = self._layer(op, lt["weight_channels"], lt["train_bias"])
        # the trainer's own copy of every trained parameter (int8 / int32 as stored, the head in float64)
        self.params: dict[str, np.ndarray] = {}
        for n in meta["params"]:
            d = tg.t(n).data
            self.params[n] = np.array(d, np.float64 if tg.t(n).dtype == "float32" else d.dtype, copy=True)
        # the optimizer state in PyTorch's own form: momentum buffers and shadows of the int8 parameters, full shape
        self.buf: dict[str, np.ndarray] = {}
        self.shadow: dict[str, np.ndarray] = {}
        for layer in self.layers.values():
            for name in (layer.weights, layer.bias):
                if name is not None:
                    self.buf[name] = np.zeros(tg.t(name).shape)
            self.shadow[layer.weights] = tg.t(layer.weights).data.astype(np.float64)
        self.head_leaves = [torch.tensor(self.params[n], requires_grad=True) for n in self.head.inputs[1:3]]
        self.head_sgd = torch.optim.SGD(self.head_leaves, lr=self.lr, momentum=self.momentum)

    def _layer(self, op: Op, weight_channels: int, train_bias: bool) -> Layer:
        tg = self.tg
        w = tg.t(op.inputs[1])
        assert w.data is not None and w.quant is not None
        axis = 3 if op.type == "depthwise_conv2d" else 0
        oc = w.shape[axis]
        s_w = np.broadcast_to(np.asarray(w.quant.scale, np.float64).reshape(-1), (oc,))
        s_x = float(tg.t(op.inputs[0]).scale)
        per_channel = np.moveaxis(w.data.astype(np.int64), axis, 0).reshape(oc, -1)
        with np.errstate(divide="ignore", over="ignore"):
            k_w, k_b = 1.0 / s_w**2, 1.0 / (s_x * s_w) ** 2
        frozen = (s_w <= 0) | ~(k_w <= F32_MAX) | ~(k_b <= F32_MAX) | ~np.any(per_channel != 0, axis=1)
        bias = op.inputs[2] if len(op.inputs) > 2 else None
        b_now = np.abs(tg.t(bias).data.astype(np.int64)) if bias else np.zeros(oc, np.int64)
        # |acc| <= |b| + 255 * sum |w|: the largest bias that keeps the int32 accumulator from overflowing
        bias_max = np.maximum((1 << 31) - 1 - 255 * np.abs(per_channel).sum(axis=1), b_now)
        return Layer(op=op, weights=op.inputs[1], bias=bias, weight_channels=weight_channels, train_bias=train_bias,
                     coef_w=np.where(frozen, 0.0, -self.lr * k_w), coef_b=np.where(frozen, 0.0, -self.lr * k_b),
                     bias_max=bias_max, k_w=np.where(frozen, 0.0, k_w), k_b=np.where(frozen, 0.0, k_b))

    # ---- one step ---------------------------------------------------------------------------------------------

    def step(self, x: np.ndarray, label: int) -> StepResult:
        tg = self.tg
        leaves: dict[str, torch.Tensor] = {n: torch.tensor(v.astype(np.float64), requires_grad=True)
                                           for n, v in self.params.items()}
        x = np.asarray(x).reshape(tg.t(tg.inputs[0]).shape)
        q: dict[str, np.ndarray] = {tg.inputs[0]: x}
        real: dict[str, torch.Tensor] = {tg.inputs[0]: self._real(tg.inputs[0], x)}
        logits = None
        surrogate_lsb: dict[str, float] = {}
        for op in self.forward:
            if op is self.head:
                logits = F.linear(real[op.inputs[0]], leaves[op.inputs[1]], leaves[op.inputs[2]])
                continue
            out = op.outputs[0]
            if op.type in ("dequantize", "reshape"):
                real[out] = real[op.inputs[0]].reshape(tg.t(out).shape)
                if op.type == "reshape":
                    q[out] = q[op.inputs[0]].reshape(tg.t(out).shape)
                continue
            exact = REGISTRY[op.type].run_reference(op, tg, [self._int_value(i, q) for i in op.inputs])[0]
            exact = np.asarray(exact).reshape(tg.t(out).shape)
            q[out] = exact
            z = self._surrogate(op, real, leaves)
            inside = (exact > op.params.get("act_min", -128)) & (exact < op.params.get("act_max", 127))
            if inside.any():
                yt = tg.t(out)
                lsb = z.detach().numpy() / float(yt.scale) + yt.zero_point - exact
                surrogate_lsb[op.name] = float(np.abs(lsb[inside]).max())
            y = z + (self._real(out, exact) - z).detach()  # the exact value, the surrogate's gradient
            if op.type in MASKED:
                p = op.params
                passes = torch.from_numpy((exact > p["act_min"]) & (exact < p["act_max"]))
                y = torch.where(passes, y, y.detach())
            real[out] = y
        assert logits is not None
        for t in real.values():
            if t.requires_grad:
                t.retain_grad()
        logits.retain_grad()
        loss = F.cross_entropy(logits, torch.tensor([int(label)]))
        loss.backward(retain_graph=True)
        grads = {n: t.grad.numpy().copy() for n, t in real.items() if t.requires_grad and t.grad is not None}
        grads[tg.meta["training"]["logits"]] = logits.grad.numpy().copy()
        param_grads = {n: t.grad.numpy().copy() if t.grad is not None else np.zeros(t.shape)
                       for n, t in leaves.items()}
        # each tensor's gradient for a unit gradient on one logit (the largest over the logits): the size its
        # gradient has when the loss gradient is O(1), the scale float32 rounding in the loss gradient works on
        tracked = [n for n, t in real.items() if t.requires_grad]
        scale = dict.fromkeys(tracked, 0.0)
        for k in range(logits.shape[1] if tracked else 0):
            units = torch.autograd.grad(logits[0, k], [real[n] for n in tracked], retain_graph=True,
                                        allow_unused=True)
            for n, u in zip(tracked, units):
                scale[n] = max(scale[n], float(u.abs().max()) if u is not None else 0.0)
        scale[tg.meta["training"]["logits"]] = 1.0
        result = StepResult(loss=float(loss.detach()), logits=logits.detach().numpy().copy(), int8=q, grads=grads,
                            param_grads=param_grads, surrogate_lsb=surrogate_lsb, grad_scale=scale)
        self._update(result)
        return result

    def _real(self, name: str, qv: np.ndarray) -> torch.Tensor:
        t = self.tg.t(name)
        return torch.from_numpy(float(t.scale) * (np.asarray(qv, np.float64) - t.zero_point))

    def _int_value(self, name: str | None, q: dict[str, np.ndarray]):
        if name is None:
            return None
        if name in self.params:
            return self.params[name]
        t = self.tg.t(name)
        return t.data if t.data is not None else q[name]

    def _surrogate(self, op: Op, real: dict[str, torch.Tensor], leaves: dict[str, torch.Tensor]) -> torch.Tensor:
        tg = self.tg
        if op.type in WEIGHT_LAYERS:
            return self._weight_layer(op, real, leaves)
        if op.type == "add":
            return real[op.inputs[0]] + real[op.inputs[1]]
        if op.type == "relu":
            return real[op.inputs[0]]
        if op.type in ("avg_pool2d", "mean"):
            x, y = tg.t(op.inputs[0]).shape, tg.t(op.outputs[0]).shape
            if len(x) != 4 or int(np.prod(y)) != x[0] * x[3] or (op.type == "avg_pool2d" and (
                    op.attrs["filter_h"] < x[1] or op.attrs["filter_w"] < x[2])):
                raise NotImplementedError(f"{op.type} {op.name}: only a global average over H, W is modelled")
            return real[op.inputs[0]].mean(dim=(1, 2)).reshape(y)
        raise NotImplementedError(f"the torch reference has no surrogate for {op.type} ({op.name})")

    def _weight_layer(self, op: Op, real: dict[str, torch.Tensor], leaves: dict[str, torch.Tensor]) -> torch.Tensor:
        """s_w[o] * layer(x_real, w_q) + s_x s_w[o] b_q: the real pre-activation, the weights in integer units."""
        tg = self.tg
        x_name, w_name = op.inputs[0], op.inputs[1]
        b_name = op.inputs[2] if len(op.inputs) > 2 else None
        w_t = tg.t(w_name)
        assert w_t.quant is not None
        w = leaves[w_name] if w_name in leaves else torch.from_numpy(w_t.data.astype(np.float64))
        x = real[x_name]
        oc = w_t.shape[3] if op.type == "depthwise_conv2d" else w_t.shape[0]
        s_w = torch.from_numpy(np.broadcast_to(np.asarray(w_t.quant.scale, np.float64).reshape(-1), (oc,)).copy())
        s_x = float(tg.t(x_name).scale)
        if op.type == "fully_connected":
            acc = F.linear(x.reshape(-1, w_t.shape[1]), w)
        else:
            a = op.attrs
            kh, kw = w_t.shape[1], w_t.shape[2]
            if op.type == "conv2d":
                wt, groups = w.permute(0, 3, 1, 2), x.shape[3] // w_t.shape[3]  # [oc, icg, kh, kw]
            else:
                wt, groups = w[0].permute(2, 0, 1).unsqueeze(1), x.shape[3]  # [oc, 1, kh, kw]; o // mult = i
            xc = x.permute(0, 3, 1, 2)
            dh, dw = a.get("dilation_h", 1), a.get("dilation_w", 1)
            if a["padding"] == "SAME":  # TFLite: the odd pixel of padding goes after (bottom / right)
                ph = _same_pad(x.shape[1], kh, a["stride_h"], dh)
                pw = _same_pad(x.shape[2], kw, a["stride_w"], dw)
                xc = F.pad(xc, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
            acc = F.conv2d(xc, wt, stride=(a["stride_h"], a["stride_w"]), dilation=(dh, dw),
                           groups=groups).permute(0, 2, 3, 1)
        z = acc * s_w
        if b_name is not None:
            b = leaves[b_name] if b_name in leaves else torch.from_numpy(tg.t(b_name).data.astype(np.float64))
            z = z + (s_x * s_w) * b
        return z.reshape(tg.t(op.outputs[0]).shape)

    # ---- the update -------------------------------------------------------------------------------------------

    def _momentum_step(self, name: str, grad: np.ndarray, live: np.ndarray, limit: float = 255.0) -> np.ndarray:
        """PyTorch's SGD momentum on the QAS-scaled gradient `grad`: buf <- M buf + grad, the step -lr buf (without
        momentum: -lr grad). Returns the step; publishes -lr buf under edgec's velocity name."""
        if not self.momentum:
            return -self.lr * grad
        self.buf[name] = np.where(live, self.momentum * self.buf[name] + grad, 0.0)
        step = -self.lr * self.buf[name]
        assert np.abs(step).max(initial=0) < limit, "edgec clamps steps before its velocity: not modelled here"
        return step

    def _update(self, r: StepResult) -> None:
        for layer in self.layers.values():
            op = layer.op
            if layer.weight_channels > 0:
                w = self.params[layer.weights]
                gw = r.param_grads[layer.weights]
                trained = np.zeros(w.shape, bool)
                if op.type == "depthwise_conv2d":
                    mult = op.attrs["depth_multiplier"]
                    trained[..., :layer.weight_channels * mult] = True
                    k = layer.k_w.reshape(1, 1, 1, -1)
                else:
                    trained[..., :layer.weight_channels] = True
                    k = layer.k_w.reshape((-1,) + (1,) * (w.ndim - 1))
                live = trained & (k != 0)
                step = self._momentum_step(layer.weights, np.where(live, gw * k, 0.0), live)
                r.steps[layer.weights] = step
                self._publish(layer, f"{layer.weights}/velocity", step)
                if self.shadow_weights:  # the shadow takes the step; the weight is the shadow rounded
                    sh = self.shadow[layer.weights]
                    sh[live] = np.clip(sh[live] + np.clip(step[live], -255.0, 255.0), -127.0, 127.0)
                    r.steps[layer.weights] = sh.copy()  # what is rounded: its ties are where the sides may differ
                    self._publish(layer, f"{layer.weights}/shadow", sh)
                    self.params[layer.weights] = np.where(live, round_half_away(sh), w).astype(np.int8)
                else:
                    moved = round_half_away(np.clip(np.nan_to_num(step, nan=0.0), -255.0, 255.0))
                    self.params[layer.weights] = np.clip(w.astype(np.int64) + moved, -127, 127).astype(np.int8)
            if layer.train_bias and layer.bias is not None:
                b = self.params[layer.bias]
                live = layer.k_b != 0
                step = self._momentum_step(layer.bias, np.where(live, r.param_grads[layer.bias] * layer.k_b, 0.0),
                                           live, 2.0**30)
                r.steps[layer.bias] = step
                if f"{layer.bias}/velocity" in self.params:
                    self.params[f"{layer.bias}/velocity"] = step.copy()
                new = b.astype(np.int64) + round_half_away(np.clip(step, -2.0**30, 2.0**30)).astype(np.int64)
                r.bias_saturated += int(np.sum(np.abs(new) > layer.bias_max))
                self.params[layer.bias] = np.clip(new, -layer.bias_max, layer.bias_max).astype(np.int32)
        # the head: torch.optim.SGD itself (PyTorch's momentum convention), on float64 leaves
        self.head_sgd.zero_grad()
        for n, leaf in zip(self.head.inputs[1:3], self.head_leaves):
            with torch.no_grad():
                leaf.copy_(torch.from_numpy(self.params[n]))
            leaf.grad = torch.from_numpy(np.asarray(r.param_grads[n], np.float64))
        self.head_sgd.step()
        for n, leaf in zip(self.head.inputs[1:3], self.head_leaves):
            self.params[n] = leaf.detach().numpy().copy()
            if self.momentum:  # edgec's v = -lr * PyTorch's momentum buffer
                self.params[f"{n}/velocity"] = -self.lr * self.head_sgd.state[leaf]["momentum_buffer"].numpy()

    def _publish(self, layer: Layer, name: str, full: np.ndarray) -> None:
        """A full-shape array of the trained slice, in edgec's update order under edgec's state tensor `name`
        (o asc, ky, kx, i asc; depthwise o asc, ky, kx), when edgec keeps that state."""
        if name not in self.params:
            return
        c = layer.weight_channels
        if layer.op.type == "depthwise_conv2d":
            sel = np.moveaxis(full[0, :, :, :c * layer.op.attrs["depth_multiplier"]], 2, 0)
        else:
            sel = full[..., :c]
        self.params[name] = np.array(sel, np.float64).reshape(self.params[name].shape)


def _same_pad(size: int, k: int, stride: int, dilation: int) -> int:
    """TFLite SAME: the total padding along one axis (out = ceil(size / stride))."""
    out = -(-size // stride)
    return max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)


def tie_distance(step: np.ndarray, limit: float = 255.0) -> np.ndarray:
    """How far each step lies from a rounding boundary (k + 1/2 LSB): where float32 and float64 may round apart."""
    s = np.abs(np.clip(step, -limit, limit))
    return np.abs(s - np.floor(s) - 0.5)


# ---- edgec's side, observed ---------------------------------------------------------------------------------------

@dataclass
class EdgecStep:
    loss: float
    logits: np.ndarray
    values: dict[str, np.ndarray]  # every tensor of the step (forward values, gradients, masks)
    steps: dict[str, list[tuple[str, np.ndarray]]]  # backward op -> the (rule, step) arrays handed to the update


def edgec_step(tg: Graph, state, x: np.ndarray, label: int) -> EdgecStep:
    """edgec's numpy training step (edgec.train.run, `state` updated) with every tensor kept, and the float32 steps
    its backward ops hand to update_nearest / update_bias recorded per op (nothing is recorded if an op rounds its
    steps some other way)."""
    import sys

    from edgec.train import run, update

    current: list[str | None] = [None]
    recorded: dict[str, list[tuple[str, np.ndarray]]] = {}
    patches: list[tuple[object, str, object, object]] = []
    for impl in {id(REGISTRY[op.type]): REGISTRY[op.type] for op in tg.ops}.values():
        def traced_run(op, g, inputs, *rest, _run=impl.run_reference, **kw):  # the op whose update runs
            current[0] = op.name
            return _run(op, g, inputs, *rest, **kw)

        patches.append((impl, "run_reference", None, traced_run))  # an instance attribute over the method
    for fn in ("update_nearest", "update_bias"):
        original = getattr(update, fn)

        def traced(w, step, *rest, _original=original, _fn=fn):
            assert current[0] is not None
            recorded.setdefault(current[0], []).append((_fn, np.array(step, np.float32).reshape(-1)))
            return _original(w, step, *rest)

        for mod in list(sys.modules.values()):
            if getattr(mod, "__name__", "").startswith("edgec") and getattr(mod, fn, None) is original:
                patches.append((mod, fn, original, traced))
    for obj, attr, _, new in patches:
        setattr(obj, attr, new)
    try:
        feeds = {tg.inputs[0]: np.asarray(x).reshape(tg.t(tg.inputs[0]).shape),
                 tg.inputs[1]: np.array([label], np.int32)}
        values = run._run(tg, state, tg.ops, feeds)
    finally:
        for obj, attr, old, _ in patches:
            if old is None:
                delattr(obj, attr)
            else:
                setattr(obj, attr, old)
    return EdgecStep(loss=float(values[tg.outputs[0]][0]), logits=values[tg.outputs[1]], values=values,
                     steps=recorded)


def edgec_gradients(tg: Graph, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The gradient edgec computed for each forward tensor t (real units): the last tensor a backward op writes
    named t/grad, t/grad#k or t/grad_sum..., the head's g_x for the features (through the dequantize alias), and
    g_logits."""
    import re

    meta = tg.meta["training"]
    backward = tg.ops[meta["forward_ops"]:]
    written = [o for op in backward for o in op.outputs]
    forward = tg.ops[:meta["forward_ops"]]
    tensors = [tg.inputs[0]] + [o for op in forward for o in op.outputs]
    grads: dict[str, np.ndarray] = {}
    for t in tensors:
        pattern = re.compile(re.escape(t) + r"/grad(_sum)?(#\d+)?")
        names = [o for o in written if pattern.fullmatch(o)]
        if names:
            grads[t] = values[names[-1]]
    for op in reversed(forward):  # dequantize: the gradient of its input is its output's
        if op.type == "dequantize" and op.inputs[0] not in grads and op.outputs[0] in grads:
            grads[op.inputs[0]] = grads[op.outputs[0]].reshape(tg.t(op.inputs[0]).shape)
    grads[meta["logits"]] = values[f"{meta['head']}/logits/grad"]
    return grads


def relative_error(a: np.ndarray, b: np.ndarray, floor: float = 0.0) -> float:
    """max |a - b| / max(max |b|, floor) (0 when both are 0)."""
    a, b = np.asarray(a, np.float64).reshape(-1), np.asarray(b, np.float64).reshape(-1)
    assert a.shape == b.shape, f"{a.shape} vs {b.shape}"
    top = max(float(np.abs(b).max(initial=0.0)), floor)
    worst = float(np.abs(a - b).max(initial=0.0))
    return worst / top if top > 0 else worst
