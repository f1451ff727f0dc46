"""edgec's int8 training step (the numpy executor edgec.train.run) against an independent PyTorch reference
(tests/train/torch_step.py: exact int8 forward, float64 autograd on straight-through surrogates, QAS, nearest
rounding), each side keeping its own parameters from step to step.

The surrogates are checked first: each one's value lies within 0.51 LSB of the int8 output it stands for (inside
the clamp), so torch's geometry (TFLite SAME padding, strides, groups, depth multiplier) and scales are the
layer's. Per op: tiny int8 models (one or two layers and a FULLY_CONNECTED head, random odd shapes): conv stride 2
SAME (TFLite's asymmetric padding) and VALID, partial input channels, depthwise multiplier 1 and 2, an int8 FC, a
global average pool, a residual add with a MEAN. Every step: every int8 tensor equal (0 LSB), the logits and the
real-unit gradients of every tensor within 1e-5 relative, edgec's pre-rounding steps (recorded where its backward
ops hand them to update_nearest / update_bias) within 1e-5 relative of torch's, the updated int8 weights and
int32 biases equal, the float32 head within 1e-5 relative of torch's float64 SGD.
Whole model: MLPerf ResNet-8 with a new 10-class head, schemes last:2, bias and head, 10 steps on 10 MNIST
digits: losses within 1e-4, int8 / int32 parameters equal after every step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from oneop import ACT, PAD, ModelBuilder, conv_out_hw
from torch_step import TorchTrainer, edgec_gradients, edgec_step, relative_error, tie_distance

from edgec.driver import compile_model
from edgec.ir import Graph
from edgec.train.graph import TrainingOptions, build_training_graph, find_head
from edgec.train.run import TrainState
from edgec.train.scheme import LayerTraining, Scheme, parse_scheme, weight_layers

TOL = 1e-5
LR = 0.002  # per-op models: the head's logits stay a few units (a saturated softmax's gradients are noise)
LOSS_TOL = 1e-4
#: a torch step this close to k + 1/2 LSB (absolute, or relative to the step: the float32 sums' precision) may
#: round the other way in edgec's float32: counted and reported, the torch side then carries on with edgec's value
TIE = 1e-4
#: the surrogate's real value is the int8 output before its final rounding: within half an LSB, plus the rounding of
#: the fixed-point multipliers and of the float32 scales
SURROGATE_LSB = 0.51
#: --gradients fp16 (docs/training.md, "fp16 gradients"): every stored gradient below the logits is rounded to IEEE
#: half (relative error at most 2^-11 = 4.9e-4 each), and the roundings compound through the layers and the sums, so
#: gradients, steps and ties are compared within 3e-3 relative of the largest value instead of 1e-5
FP16_TOL = 3e-3
MEASURED: list[str] = []  # the figures of every case (printed with -s)


# ---- tiny models ---------------------------------------------------------------------------------------------------

class Net:
    """A ModelBuilder model under construction: int8 layers with random weights and calibrated-looking scales."""

    def __init__(self, seed: int, shape: tuple[int, ...], scale: float = 0.03, zero_point: int = -5):
        self.rng = np.random.default_rng(seed)
        self.b = ModelBuilder()
        self.n = 0
        self.x = self.b.input("x", shape, scale=scale, zero_point=zero_point)
        self.info = {self.x: (shape, scale)}

    def _act(self, shape, scale, act):
        self.n += 1
        zp = -128 if act in ("RELU", "RELU6") else int(self.rng.integers(-20, 20))
        t = self.b.activation(f"t{self.n}", shape, scale=scale, zero_point=zp)
        self.info[t] = (shape, scale)
        return t

    def _wb(self, shape, axis, s_x, s_w_max=0.002):
        oc = shape[axis]
        s_w = self.rng.uniform(0.15, 1.0, size=oc).astype(np.float32) * np.float32(s_w_max)
        w = self.b.const(f"w{self.n}", self.rng.integers(-127, 128, size=shape, dtype=np.int8), scale=s_w,
                         zero_point=np.zeros(oc, np.int64), axis=axis)
        bias = self.b.const(f"b{self.n}", self.rng.integers(-2000, 2000, size=oc).astype(np.int32),
                            scale=(s_x * s_w).astype(np.float32), zero_point=np.zeros(oc, np.int64))
        return w, bias, float(np.mean(s_w))

    def conv(self, src, oc, k, stride, padding, act="RELU", depthwise=False, mult=1):
        (n, h, w, c), s_x = self.info[src]
        oh, ow = conv_out_hw(h, w, k, stride, 1, padding)
        out_c = c * mult if depthwise else oc
        wshape = (1, *k, out_c) if depthwise else (oc, *k, c)
        wt, bias, s_w = self._wb(wshape, 3 if depthwise else 0, s_x)
        taps = k[0] * k[1] * (1 if depthwise else c)
        y = self._act((n, oh, ow, out_c), s_x * s_w * 70 * 60 * np.sqrt(taps) / 50, act)
        common = dict(padding=PAD[padding], strideH=stride, strideW=stride, dilationHFactor=1, dilationWFactor=1,
                      fusedActivationFunction=ACT[act])
        if depthwise:
            self.b.op("DEPTHWISE_CONV_2D", [src, wt, bias], [y], "DepthwiseConv2DOptions", depthMultiplier=mult,
                      **common)
        else:
            self.b.op("CONV_2D", [src, wt, bias], [y], "Conv2DOptions", **common)
        return y

    def fc(self, src, oc, act="NONE", output=False):
        shape, s_x = self.info[src]
        depth = int(np.prod(shape[1:]))
        # a head's logits of a few units (its float32 copy is what trains): softmax neither flat nor saturated
        wt, bias, s_w = self._wb((oc, depth), 0, s_x, 3 / (s_x * 60 * 73 * np.sqrt(depth)) if output else 0.002)
        y = self._act((1, oc), s_x * s_w * 70 * 60 * np.sqrt(depth) / 50, act)
        self.b.op("FULLY_CONNECTED", [src, wt, bias], [y], "FullyConnectedOptions", fusedActivationFunction=ACT[act])
        if output:
            self.b.output(y)
        return y

    def flatten(self, src):
        shape, s = self.info[src]
        self.n += 1
        size = int(np.prod(shape[1:]))
        y = self.b.activation(f"t{self.n}", (1, size), scale=s, zero_point=self._zp(src))
        self.info[y] = ((1, size), s)
        self.b.op("RESHAPE", [src, self.b.const(f"shape{self.n}", np.asarray([1, size], np.int32))], [y])
        return y

    def _zp(self, t):
        return int(self.b.sg.tensors[t].quantization.zeroPoint[0])

    def avg_pool(self, src):
        (n, h, w, c), s = self.info[src]
        self.n += 1
        y = self.b.activation(f"t{self.n}", (n, 1, 1, c), scale=s, zero_point=self._zp(src))
        self.info[y] = ((n, 1, 1, c), s)
        self.b.op("AVERAGE_POOL_2D", [src], [y], "Pool2DOptions", padding=PAD["VALID"], strideH=1, strideW=1,
                  filterHeight=h, filterWidth=w, fusedActivationFunction=0)
        return y

    def mean(self, src):
        (n, h, w, c), s = self.info[src]
        self.n += 1
        y = self.b.activation(f"t{self.n}", (n, c), scale=s * 0.7, zero_point=self._zp(src) // 2)
        self.info[y] = ((n, c), s * 0.7)
        self.b.op("MEAN", [src, self.b.const(f"axes{self.n}", np.asarray([1, 2], np.int32))], [y],
                  "ReducerOptions", keepDims=False)
        return y

    def add(self, a, b, act="RELU"):
        shape, s = self.info[a]
        y = self._act(shape, 1.3 * max(s, self.info[b][1]), act)
        self.b.op("ADD", [a, b], [y], "AddOptions", fusedActivationFunction=ACT[act])
        return y

    def head(self, src, classes=3):
        return self.fc(self.flatten(src) if len(self.info[src][0]) > 2 else src, classes, output=True)


def compiled(tmp_path: Path, model: bytes) -> Graph:
    path = tmp_path / "model.tflite"
    path.write_bytes(model)
    return compile_model(path, "host", kernels="portable").graph


# ---- the comparison ------------------------------------------------------------------------------------------------

def compare_steps(tg: Graph, inputs: list[tuple[np.ndarray, int]], what: str, tol: float = TOL) -> dict:
    """Run both sides over the samples (each keeping its own parameters); assert agreement at every step (gradients
    and steps within `tol` relative) and return the measured figures."""
    state, torch_side = TrainState.of(tg), TorchTrainer(tg)
    meta = tg.meta["training"]
    features = tg.ops[meta["forward_ops"] - 2].inputs[0]  # the dequantize before the head reads the int8 features
    stats = dict(steps=0, loss=0.0, logits=0.0, grads=0.0, grad_tensors=0, step_rel=0.0, steps_recorded=0,
                 params_equal=0, weights_moved=0, biases_moved=0, ties=0, head=0.0, max_logit=0.0,
                 surrogate_lsb=0.0)
    for k, (x, label) in enumerate(inputs):
        before = {n: v.copy() for n, v in state.params.items()}
        theirs = edgec_step(tg, state, x, label)
        ours = torch_side.step(x, label)
        where = f"{what} step {k}"
        assert np.array_equal(theirs.values[features], ours.int8[features]), f"{where}: int8 features differ"
        for t, v in ours.int8.items():
            if t in theirs.values and tg.t(t).dtype == "int8":
                assert np.array_equal(theirs.values[t], v), f"{where}: int8 tensor {t} differs"
        assert abs(theirs.loss - ours.loss) <= LOSS_TOL * max(1.0, abs(ours.loss)), \
            f"{where}: loss {theirs.loss} vs torch {ours.loss}"
        stats["loss"] = max(stats["loss"], abs(theirs.loss - ours.loss))
        for op, lsb in ours.surrogate_lsb.items():  # the surrogates model the int8 ops (geometry, padding, scales)
            assert lsb <= SURROGATE_LSB, f"{where}: {op}'s torch surrogate is {lsb:.3f} LSB off the int8 output"
            stats["surrogate_lsb"] = max(stats["surrogate_lsb"], lsb)
        stats["logits"] = max(stats["logits"], relative_error(theirs.logits, ours.logits))
        stats["max_logit"] = max(stats["max_logit"], float(np.abs(ours.logits).max()))
        # real-unit gradients of every tensor both sides have
        their_grads = edgec_gradients(tg, theirs.values)
        for t, gt in ours.grads.items():
            if t in their_grads:
                err = relative_error(their_grads[t], gt, floor=ours.grad_scale.get(t, 0.0))
                assert err <= tol, f"{where}: dL/d{t} {err:.3g} relative ({tg.t(t).shape})"
                stats["grads"] = max(stats["grads"], err)
                stats["grad_tensors"] += 1
        # pre-rounding steps, where edgec's backward ops hand them to update_nearest / update_bias
        for name, layer in torch_side.layers.items():
            for rule, param in (("update_nearest", layer.weights), ("update_bias", layer.bias)):
                recorded = [s for op, calls in theirs.steps.items() if op.startswith(f"{name}/")
                            for r, s in calls if r == rule]
                if not recorded or param not in ours.steps:
                    continue
                theirs_step = np.concatenate(recorded)
                ours_step = _trained_in_order(layer, ours.steps[param], rule)
                err = relative_error(theirs_step, ours_step)
                assert err <= tol, f"{where}: {name} {rule} steps {err:.3g} relative"
                stats["step_rel"] = max(stats["step_rel"], err)
                stats["steps_recorded"] += theirs_step.size
        # the updated parameters
        assert ours.bias_saturated == 0, f"{where}: a bias reached the torch side's bias_max"
        for name in meta["params"]:
            a, b = state.params[name], torch_side.params[name]
            if a.dtype == np.float32:
                err = relative_error(a, b)
                assert err <= tol, f"{where}: head parameter {name} {err:.3g} relative"
                stats["head"] = max(stats["head"], err)
                continue
            step = ours.steps.get(name)
            diff = a.astype(np.int64) != b.astype(np.int64)
            if diff.any():
                limit = 255.0 if a.dtype == np.int8 else 2.0**30
                near = (tie_distance(step, limit) <= np.maximum(TIE, tol * np.abs(step)))[diff]
                stats["ties"] += int(near.sum())
                bad = np.flatnonzero(diff)[~near]
                assert bad.size == 0, (f"{where}: {name}: {bad.size} of {a.size} differ, e.g. edgec "
                                       f"{a.reshape(-1)[bad[0]]} torch {b.reshape(-1)[bad[0]]} (torch step "
                                       f"{step.reshape(-1)[bad[0]]:.6f})")
                b[...] = a  # a tie went edgec's way: carry on from the same parameters
            stats["params_equal"] += a.size
            moved = int(np.sum(a != before[name]))
            stats["weights_moved" if a.dtype == np.int8 else "biases_moved"] += moved
        stats["steps"] += 1
    MEASURED.append(f"{what}: {stats}")
    print(MEASURED[-1])
    return stats


def _trained_in_order(layer, step: np.ndarray, rule: str) -> np.ndarray:
    """torch's steps of the trained slice in the spec's order (o asc, ky, kx, i asc; depthwise o asc, ky, kx)."""
    if rule == "update_bias":
        return step.reshape(-1)
    c = layer.weight_channels
    if layer.op.type == "depthwise_conv2d":
        sel = step[0, :, :, :c * layer.op.attrs["depth_multiplier"]]  # [ky, kx, o]
        return np.moveaxis(sel, 2, 0).reshape(-1)  # o asc, then ky, kx (no channel is frozen in these models)
    return step[..., :c].reshape(-1)


def random_samples(tg: Graph, n: int, seed: int) -> list[tuple[np.ndarray, int]]:
    rng = np.random.default_rng(seed)
    shape = tg.t(tg.inputs[0]).shape
    classes = tg.meta["training"]["classes"]
    return [(rng.integers(-128, 128, size=shape).astype(np.int8), int(rng.integers(0, classes))) for _ in range(n)]


def training_graph(g: Graph, layers: dict[int, LayerTraining], lr: float, **options) -> Graph:
    """The training graph keeping the model's own head, training the weight layers chosen by index."""
    head, _ = find_head(g)
    ops = weight_layers(g, head)
    return build_training_graph(g, Scheme("test", {ops[i].name: lt for i, lt in layers.items()}),
                                TrainingOptions(lr=lr, rounding="nearest", **options))


# ---- per op --------------------------------------------------------------------------------------------------------

def _conv_net(seed, shape, oc, k, stride, padding, act, depthwise=False, mult=1):
    net = Net(seed, shape)
    y = net.conv(net.x, oc, k, stride, padding, act, depthwise=depthwise, mult=mult)
    net.head(y)
    return net.b.build()


CASES = {
    # name: (the model, {weight layer index: what it trains})
    "conv_s2_same": (lambda: _conv_net(1, (1, 9, 11, 3), 5, (3, 3), 2, "SAME", "RELU"), {0: LayerTraining(True, 3)}),
    "conv_valid_partial": (lambda: _conv_net(2, (1, 7, 9, 5), 7, (3, 2), 1, "VALID", "NONE"),
                           {0: LayerTraining(True, 2)}),
    "conv_s2_same_even_4x4": (lambda: _conv_net(3, (1, 10, 8, 3), 4, (4, 4), 2, "SAME", "RELU6"),
                              {0: LayerTraining(False, 3)}),
    "depthwise_m1_s2_same": (lambda: _conv_net(4, (1, 9, 7, 5), 0, (3, 3), 2, "SAME", "RELU", True, 1),
                             {0: LayerTraining(True, 5)}),
    "depthwise_m2_valid_partial": (lambda: _conv_net(5, (1, 7, 8, 3), 0, (3, 3), 1, "VALID", "NONE", True, 2),
                                   {0: LayerTraining(True, 2)}),
    "fc_relu_partial": (lambda: _fc_net(6), {0: LayerTraining(True, 9)}),
    "bias_only_two_layers": (lambda: _two_conv_net(7), {0: LayerTraining(True, 0), 1: LayerTraining(True, 0)}),
    "global_avg_pool": (lambda: _pool_net(8), {0: LayerTraining(True, 3)}),
    "residual_add_mean": (lambda: _residual_net(9), {0: LayerTraining(True, 4), 1: LayerTraining(True, 3)}),
}


def _fc_net(seed):
    net = Net(seed, (1, 13))
    net.head(net.fc(net.x, 7, "RELU"))
    return net.b.build()


def _two_conv_net(seed):
    net = Net(seed, (1, 9, 9, 3))
    y = net.conv(net.x, 5, (3, 3), 2, "SAME", "RELU")
    net.head(net.conv(y, 3, (3, 3), 1, "VALID", "NONE"))
    return net.b.build()


def _pool_net(seed):
    net = Net(seed, (1, 7, 9, 3))
    net.head(net.avg_pool(net.conv(net.x, 5, (3, 3), 1, "SAME", "RELU")))
    return net.b.build()


def _residual_net(seed):
    net = Net(seed, (1, 7, 7, 3))
    a = net.conv(net.x, 5, (3, 3), 1, "SAME", "RELU")
    b = net.conv(a, 5, (3, 3), 1, "SAME", "NONE")
    net.head(net.mean(net.add(a, b, "RELU")))
    return net.b.build()


@pytest.mark.parametrize("case", sorted(CASES))
def test_op_against_torch(tmp_path, case):
    make, layers = CASES[case]
    tg = training_graph(compiled(tmp_path, make()), layers, lr=LR)
    stats = compare_steps(tg, random_samples(tg, 3, seed=len(case)), case)
    assert stats["grad_tensors"] > 3 * 2, "too few gradients compared"
    assert stats["weights_moved"] + stats["biases_moved"] > 0, "no int8 parameter moved: the updates prove nothing"


OPTIMIZERS = {"momentum": dict(momentum=0.9), "shadow": dict(weights="shadow"),
              "momentum_shadow": dict(momentum=0.9, weights="shadow")}


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("case", ["conv_valid_partial", "depthwise_m2_valid_partial", "fc_relu_partial",
                                  "global_avg_pool"])
def test_optimizer_state_against_torch(tmp_path, case, optimizer):
    """Momentum (PyTorch's convention on the torch side: buf = M buf + grad, p -= lr buf; the head by
    torch.optim.SGD) and fp32 shadow weights: edgec's velocities equal -lr * torch's buffers and its shadows
    torch's float64 shadows within 1e-5 relative, the int8 / int32 parameters equal, after every one of 5 steps."""
    make, layers = CASES[case]
    tg = training_graph(compiled(tmp_path, make()), layers, lr=LR, **OPTIMIZERS[optimizer])
    state_names = tg.meta["training"]["state"]
    assert state_names
    stats = compare_steps(tg, random_samples(tg, 5, seed=len(case)), f"{case} {optimizer}")
    assert stats["weights_moved"] + stats["biases_moved"] > 0, "no int8 parameter moved: the updates prove nothing"
    assert stats["head"] <= TOL and stats["steps"] == 5


@pytest.mark.parametrize("case", ["conv_s2_same", "global_avg_pool", "residual_add_mean"])
def test_head_scheme_against_torch(tmp_path, case):
    """The head alone (a linear probe): runs without the int8 layers' backward ops."""
    tg = training_graph(compiled(tmp_path, CASES[case][0]()), {}, lr=LR)
    stats = compare_steps(tg, random_samples(tg, 4, seed=1), f"{case} head")
    assert stats["grad_tensors"] >= 4 and stats["head"] <= TOL


@pytest.mark.parametrize("case", ["conv_s2_same", "depthwise_m1_s2_same", "bias_only_two_layers",
                                  "residual_add_mean"])
def test_fp16_gradients_against_torch(tmp_path, case):
    """fp16 gradient storage against torch's float64: forward 0 LSB, gradients and steps within FP16_TOL, the
    int8 / int32 parameters equal but for steps within FP16_TOL of a rounding tie (counted)."""
    make, layers = CASES[case]
    tg = training_graph(compiled(tmp_path, make()), layers, lr=LR, gradients="fp16")
    assert any(t.dtype == "float16" for t in tg.tensors.values())
    stats = compare_steps(tg, random_samples(tg, 3, seed=len(case)), f"{case} fp16", tol=FP16_TOL)
    assert stats["grad_tensors"] > 3 and stats["weights_moved"] + stats["biases_moved"] > 0


# ---- whole model ---------------------------------------------------------------------------------------------------

def mnist_samples(g: Graph, data_dir: Path, n: int) -> list[tuple[np.ndarray, int]]:
    """The first n MNIST digits, padded to 32x32, replicated to 3 channels, quantized with the model input's scale
    and zero point (the real value is the pixel, 0..255, the range the ResNet-8 was trained on)."""
    data = np.load(data_dir / "mnist-10k.npz")
    t = g.t(g.inputs[0])
    out = []
    for img, label in zip(data["images"][:n], data["labels"][:n]):
        real = np.repeat(np.pad(img.astype(np.float64), 2)[None, :, :, None], 3, axis=3)
        q = np.clip(np.round(real / t.scale) + t.zero_point, -128, 127).astype(np.int8)
        out.append((q, int(label)))
    return out


@pytest.mark.parametrize("scheme, lr, options", [("last:2", 0.1, {}), ("bias", 0.01, {}), ("head", 0.01, {}),
                                                 ("last:2", 0.01, dict(momentum=0.9)),
                                                 ("last:2", 0.1, dict(weights="shadow")),
                                                 ("bias", 0.01, dict(gradients="fp16"))],
                         ids=["last2", "bias", "head", "last2-momentum", "last2-shadow", "bias-fp16"])
def test_resnet8_ten_steps(shared_models, scheme, lr, options):
    g = compile_model(shared_models / "pretrainedResnet_quant.tflite", "host", kernels="portable").graph
    head, _ = find_head(g)
    options = dict(lr=lr, classes=10, rounding="nearest", **options)
    tg = build_training_graph(g, parse_scheme(scheme, g, head), TrainingOptions(**options))
    tol = FP16_TOL if options.get("gradients") == "fp16" else TOL
    stats = compare_steps(tg, mnist_samples(g, shared_models.parent.parent / "data", 10), f"resnet8 {scheme}", tol)
    assert stats["steps"] == 10 and stats["loss"] <= LOSS_TOL
