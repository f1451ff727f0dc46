"""edgec train on the host: the generated training step equals the numpy reference bit for bit (under ASan and
UBSan), the command writes what docs/training.md says, and bad input gets one clear message."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from run_cli import assert_error, edgec
from small_models import conv_dw_pool_fc, patch_stage_net

from edgec import host
from edgec.codegen import emit_c
from edgec.driver import compile_model
from edgec.memory import buffer_of, check_in_place, lifetimes, plan_memory, plan_records
from edgec.ops import REGISTRY
from edgec.train.graph import TrainingOptions, build_training_graph, find_head
from edgec.train.run import TrainState, infer, split_training_outputs, train_step
from edgec.train.scheme import parse_scheme
from edgec.verifier import verify

MNIST = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "mnist-10k.npz"


def training_graph(model: Path, scheme: str, **options):
    g = compile_model(model, "host", patch=False).graph
    head, _ = find_head(g)
    return g, verify(build_training_graph(g, parse_scheme(scheme, g, head), TrainingOptions(**options)))


def run_c_and_numpy(tmp_path: Path, tg, records: list, plan=None) -> TrainState:
    """The generated C (ASan + UBSan) and the numpy reference on the same records: every loss, every logit and
    every trained parameter the same bits (loss: 1e-6 relative, the C's logf). `plan`: the memory plan (default:
    plan_memory's)."""
    out = tmp_path / "c"
    exe = host.build(out, emit_c(tg, plan or plan_memory(tg), out), sanitize=True)
    losses, logits, params = split_training_outputs(host.run(exe, records), tg, len(records))
    state = TrainState.of(tg)
    for k, (x, label) in enumerate(records):
        if label[0] >= 0:
            loss, ref = train_step(tg, state, x, int(label[0]))
            assert abs(loss - losses[k]) <= 1e-6 * max(1.0, abs(loss)), (k, loss, losses[k])
        else:
            ref = infer(tg, state, x)
            assert losses[k] == 0.0
        assert np.array_equal(ref.reshape(-1).view(np.uint32), logits[k].view(np.uint32)), f"record {k}: logits"
    for name, value in params.items():
        assert np.array_equal(state.params[name].view(np.uint8), value.view(np.uint8)), name
    changed = [n for n in params if not np.array_equal(params[n], tg.t(n).data)]
    assert changed, "no parameter moved: the test would not see a wrong update"
    return state


def mnist_records(tg, n: int, offset: int = 0, eval_n: int = 0) -> list:
    d = np.load(MNIST)
    x = np.pad(d["images"][offset:offset + n + eval_n], ((0, 0), (2, 2), (2, 2)))[..., None].repeat(3, axis=3)
    t = tg.t(tg.inputs[0])
    q = np.clip(np.round(x / t.scale) + t.zero_point, -128, 127).astype(np.int8)
    labels = d["labels"].astype(np.int32)[offset:offset + n + eval_n]
    return ([[q[k], np.array([labels[k]], np.int32)] for k in range(n)]
            + [[q[k], np.array([-1], np.int32)] for k in range(n, n + eval_n)])


def test_resnet8_new_head_c_equals_numpy(tmp_path, shared_models):
    _, tg = training_graph(shared_models / "pretrainedResnet_quant.tflite", "head", lr=0.01, classes=10)
    run_c_and_numpy(tmp_path, tg, mnist_records(tg, 6, eval_n=2))


@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_small_net_pretrained_head_c_equals_numpy(tmp_path, rounding):
    model = tmp_path / "net.tflite"
    model.write_bytes(patch_stage_net())
    _, tg = training_graph(model, "head", lr=0.05, rounding=rounding, seed=3)
    assert tg.t(tg.outputs[1]).shape == (1, 4)  # the model's own head, dequantized
    rng = np.random.default_rng(0)
    records = [[rng.integers(-128, 128, (1, 32, 32, 3)).astype(np.int8), np.array([k % 4], np.int32)]
               for k in range(5)]
    run_c_and_numpy(tmp_path, tg, records)


@pytest.mark.parametrize("scheme, rounding", [("bias", "nearest"), ("last:2", "stochastic"),
                                              ("partial.toml", "nearest")])
def test_small_net_weight_schemes_c_equals_numpy(tmp_path, scheme, rounding):
    """conv 3x3 -> depthwise 3x3 stride 2 -> pointwise -> mean -> FC: biases, whole layers, and a partial slice
    of input channels (5 of 16) with its bias frozen; C (ASan/UBSan) and numpy agree on every bit."""
    model = tmp_path / "net.tflite"
    model.write_bytes(patch_stage_net())
    if scheme == "partial.toml":
        (tmp_path / scheme).write_text('[layers.pw_w]\nchannels = 5\n[layers.stem_w]\nbias = true\n')
        scheme = str(tmp_path / scheme)
    g = compile_model(model, "host", patch=False).graph
    names = {op.type: op.name for op in g.ops}
    if scheme.endswith(".toml"):  # the scheme file names layers by their node names
        text = (tmp_path / "partial.toml").read_text().replace("pw_w", names["conv2d"]).replace(
            "stem_w", [op.name for op in g.ops if op.type == "conv2d"][0])
        (tmp_path / "partial.toml").write_text(text)
    _, tg = training_graph(model, scheme, lr=0.05, rounding=rounding, seed=5, classes=3)
    rng = np.random.default_rng(1)
    records = [[rng.integers(-128, 128, (1, 32, 32, 3)).astype(np.int8), np.array([k % 3], np.int32)]
               for k in range(4)] + [[rng.integers(-128, 128, (1, 32, 32, 3)).astype(np.int8),
                                      np.array([-1], np.int32)]]
    run_c_and_numpy(tmp_path, tg, records)
    if scheme.endswith(".toml"):  # only the trained slice is SRAM; the frozen 11 of 16 channels stay const (flash)
        pw = next(op for op in tg.ops if op.name == names["conv2d"])
        w = tg.t(pw.inputs[1])
        assert w.mutable_channels == 5 and w.sram_nbytes == w.nbytes // 16 * 5
        bw = next(op for op in tg.ops if op.type == "conv2d_backward" and op.inputs[3] == pw.inputs[1])
        saved = tg.t(bw.inputs[0])  # only the 5 trained input channels are saved for the weight gradient
        assert saved.shape == (*tg.t(pw.inputs[0]).shape[:3], 5) and bw.attrs["saved_channels"] == 5
        assert [op.type for op in tg.ops].index("channel_slice") < tg.ops.index(pw)
        weights_c = (tmp_path / "c" / "weights.c").read_text()
        assert re.search(rf"\nint8_t \w+\[{w.size // 16 * 5}\] = ", weights_c)
        assert re.search(rf"\nconst int8_t \w+_frozen\[{w.size // 16 * 11}\] = ", weights_c)


@pytest.mark.parametrize("net, rounding, momentum, weights", [
    ("stride1", "nearest", 0.0, "int8"), ("stride1", "stochastic", 0.0, "int8"), ("stride1", "stochastic", 0.9, "int8"),
    ("stride1", "nearest", 0.5, "shadow"), ("stride2", "stochastic", 0.0, "int8"), ("stride2", "nearest", 0.9, "int8")])
def test_in_place_depthwise_backward_c_equals_numpy(tmp_path, net, rounding, momentum, weights):
    """The depthwise backward with g_x written over g_y (multiplier 1; a 3x3 stride-1 depthwise whose weights,
    bias and the conv below are trained, and a 3x3 stride-2 one, g_x 4x g_y: docs/training.md, "In-place depthwise
    backward"): the C (ASan/UBSan) equals numpy on every bit of every loss, logit, parameter and state value, and
    the plan gives g_x no buffer of its own."""
    model = tmp_path / "net.tflite"
    model.write_bytes(conv_dw_pool_fc() if net == "stride1" else patch_stage_net())
    side = 12 if net == "stride1" else 32
    _, tg = training_graph(model, "last:2" if net == "stride1" else "last:3", lr=0.05, rounding=rounding, seed=7,
                           classes=3, momentum=momentum, weights=weights)
    bw = next(op for op in tg.ops if op.type == "depthwise_conv2d_backward")
    assert bw.outputs and bw.inputs[0] is not None and bw.attrs["train_bias"]
    if net == "stride1":
        plan = plan_memory(tg, in_place=True)  # the planner's own choice
    else:  # the larger record (g_x's) would live from g_y's producer on: no gain here, so forced for the test
        chosen = {bw.name: 1}
        check_in_place(tg, chosen)
        plan = plan_records(tg, lifetimes(tg, in_place=chosen), buffer_of(tg, in_place=chosen), chosen)
    assert plan.in_place.get(bw.name) == 1
    assert plan.owner[bw.outputs[0]] == plan.owner[bw.inputs[1]]
    rng = np.random.default_rng(2)
    records = [[rng.integers(-128, 128, (1, side, side, 3)).astype(np.int8), np.array([k % 3], np.int32)]
               for k in range(5)] + [[rng.integers(-128, 128, (1, side, side, 3)).astype(np.int8),
                                      np.array([-1], np.int32)]]
    run_c_and_numpy(tmp_path, tg, records, plan)
    assert "edgec_depthwise_conv2d_s8_backward_inplace(" in (tmp_path / "c" / "model.c").read_text()


@pytest.mark.parametrize("scheme, rounding, momentum, weights", [
    ("last:3", "nearest", 0.9, "int8"), ("last:3", "stochastic", 0.9, "int8"), ("last:3", "nearest", 0.0, "shadow"),
    ("partial.toml", "nearest", 0.5, "shadow")])
def test_small_net_momentum_and_shadow_c_equals_numpy(tmp_path, scheme, rounding, momentum, weights):
    """The optimizer state (docs/training.md): momentum velocities (weights, biases, the head) and fp32 shadow
    weights, on conv / depthwise / pointwise with whole layers and a partial slice (5 of 16 input channels): C
    (ASan/UBSan) and numpy agree on every bit of every loss, logit, parameter and state value; the state is the
    trained slice only and moves; shadow weights are their shadow rounded to nearest."""
    model = tmp_path / "net.tflite"
    model.write_bytes(patch_stage_net())
    g = compile_model(model, "host", patch=False).graph
    if scheme == "partial.toml":
        convs = [op.name for op in g.ops if op.type == "conv2d"]
        (tmp_path / scheme).write_text(f'[layers."{convs[-1]}"]\nchannels = 5\nbias = true\n')
        scheme = str(tmp_path / scheme)
    _, tg = training_graph(model, scheme, lr=0.05, rounding=rounding, seed=5, classes=3, momentum=momentum,
                           weights=weights)
    meta = tg.meta["training"]
    assert meta["state"] and set(meta["state"]) <= set(meta["params"])
    for name in meta["state"]:
        t = tg.t(name)
        assert t.dtype == "float32" and t.mutable
        assert name.endswith("/velocity") and momentum > 0 or name.endswith("/shadow") and weights == "shadow"
    bw = [op for op in tg.ops if op.type in ("conv2d_backward", "depthwise_conv2d_backward",
                                             "fully_connected_backward")]
    assert bw
    for op in bw:
        w = tg.t(op.inputs[3])
        if op.attrs["weight_channels"] and weights == "shadow":
            shadow = tg.t(op.inputs[7])
            index, _ = REGISTRY[op.type].update_index(op, w.shape)
            assert shadow.shape == index.shape and shadow.size < w.size * (scheme.endswith(".toml") or 2)
            assert np.array_equal(shadow.data, w.data.reshape(-1)[index].astype(np.float32))
    rng = np.random.default_rng(1)
    records = [[rng.integers(-128, 128, (1, 32, 32, 3)).astype(np.int8), np.array([k % 3], np.int32)]
               for k in range(4)] + [[rng.integers(-128, 128, (1, 32, 32, 3)).astype(np.int8),
                                      np.array([-1], np.int32)]]
    state = run_c_and_numpy(tmp_path, tg, records)
    for name in meta["state"]:
        assert not np.array_equal(state.params[name], tg.t(name).data), f"{name} never moved"
    for op in bw:
        if op.attrs["weight_channels"] and weights == "shadow":
            index, _ = REGISTRY[op.type].update_index(op, tg.t(op.inputs[3]).shape)
            w = state.params[op.inputs[3]].reshape(-1)[index]
            s = state.params[op.inputs[7]]
            assert np.abs(s).max() <= 127 and np.array_equal(w, np.round(s).astype(np.int8)) or np.array_equal(
                w, np.where(s < 0, -np.floor(-s + 0.5), np.floor(s + 0.5)).astype(np.int8))


def test_momentum_zero_keeps_the_generated_c(tmp_path):
    """--momentum 0 --weights int8 are today's training step: the same graph and the same generated C, byte for
    byte, as without the options."""
    model = tmp_path / "net.tflite"
    model.write_bytes(patch_stage_net())
    texts = []
    for k, options in enumerate([{}, dict(momentum=0.0, weights="int8")]):
        _, tg = training_graph(model, "last:2", lr=0.05, seed=5, classes=3, **options)
        out = tmp_path / f"c{k}"
        emit_c(tg, plan_memory(tg), out)
        texts.append({p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.suffix in (".c", ".h")
                      and not (Path(__file__).parents[2] / "runtime" / p.name).exists()})
    assert texts[0] == texts[1] and "model.c" in texts[0]
    assert b"velocity" not in texts[0]["model.c"] and b"shadow" not in texts[0]["model.c"]


@pytest.mark.parametrize("options, needle", [(dict(momentum=1.0), "[0, 1)"), (dict(momentum=-0.1), "[0, 1)"),
                                             (dict(weights="fp16"), "int8 or shadow"),
                                             (dict(weights="shadow", rounding="stochastic"), "nearest")])
def test_bad_optimizer_options(tmp_path, options, needle):
    from edgec.errors import InputError

    model = tmp_path / "net.tflite"
    model.write_bytes(patch_stage_net())
    with pytest.raises(InputError, match=re.escape(needle)):
        training_graph(model, "last:2", **options)


@pytest.mark.parametrize("rounding", ["nearest", "stochastic"])
def test_max_and_average_pool_gradients_c_equals_numpy(tmp_path, rounding):
    """conv 3x3/2 -> depthwise -> MAX_POOL 2x2/2 -> AVERAGE_POOL 3x3 -> FC with every bias trained: the gradient
    crosses a max pool (to the first tap at the maximum) and a windowed average pool."""
    model = tmp_path / "net.tflite"
    model.write_bytes(conv_dw_pool_fc())
    _, tg = training_graph(model, "bias", lr=0.5, rounding=rounding, seed=2, classes=4)
    assert {"max_pool2d_backward", "mean_backward"} <= {op.type for op in tg.ops}
    rng = np.random.default_rng(4)
    records = [[rng.integers(-128, 128, (1, 12, 12, 3)).astype(np.int8), np.array([k % 4], np.int32)]
               for k in range(5)]
    run_c_and_numpy(tmp_path, tg, records)


def test_scheme_through_an_op_without_a_gradient_rule_is_refused(tmp_path):
    from edgec.errors import TrainingError
    from edgec.modelbuilder import ModelBuilder

    rng = np.random.default_rng(0)
    b = ModelBuilder()
    x = b.input("x", (1, 6, 6, 3), scale=0.02, zero_point=0)
    w = b.const("w", rng.integers(-127, 128, (4, 3, 3, 3), dtype=np.int8), scale=np.full(4, 0.01, np.float32),
                zero_point=np.zeros(4, np.int64), axis=0)
    bias = b.const("b", np.zeros(4, np.int32), scale=np.full(4, 0.0002, np.float32), zero_point=np.zeros(4, np.int64))
    c = b.activation("c", (1, 6, 6, 4), scale=0.05, zero_point=0)
    b.op("CONV_2D", [x, w, bias], [c], "Conv2DOptions", padding=0, strideH=1, strideW=1, dilationHFactor=1,
         dilationWFactor=1, fusedActivationFunction=0)
    s = b.activation("s", (1, 6, 6, 4), scale=1 / 256, zero_point=-128)
    b.op("LOGISTIC", [c], [s])
    flat = b.activation("flat", (1, 144), scale=1 / 256, zero_point=-128)
    b.op("RESHAPE", [s, b.const("shape", np.asarray([1, 144], np.int32))], [flat])
    w2 = b.const("w2", rng.integers(-127, 128, (3, 144), dtype=np.int8), scale=0.01, zero_point=0)
    y = b.activation("y", (1, 3), scale=0.1, zero_point=0)
    b.op("FULLY_CONNECTED", [flat, w2, b.const("b2", np.zeros(3, np.int32), scale=0.01 / 256, zero_point=0)], [y],
         "FullyConnectedOptions", fusedActivationFunction=0)
    b.output(y)
    model = tmp_path / "net.tflite"
    model.write_bytes(b.build())
    g = compile_model(model, "host", patch=False).graph
    head, _ = find_head(g)
    with pytest.raises(TrainingError, match="logistic .* has no gradient rule yet"):
        build_training_graph(g, parse_scheme("bias", g, head), TrainingOptions())


def test_training_graph_keeps_forward_bit_exact(shared_models):
    """The forward ops of the training graph are the inference graph's: the logits of the unchanged head equal
    the dequantized int8 model's accumulators' real values up to the head's float32 rounding."""
    g, tg = training_graph(shared_models / "pretrainedResnet_quant.tflite", "head")
    assert [op.type for op in tg.ops[:len(g.ops) - 2]] == [op.type for op in g.ops[:-2]]
    assert tg.inputs[1] == "label" and tg.t("label").dtype == "int32"
    assert [tg.t(n).mutable for n in tg.meta["training"]["params"]] == [True, True]


def test_cli_train_on_host(tmp_path, shared_models):
    d = np.load(MNIST)
    x = np.pad(d["images"][:40].astype(np.float32), ((0, 0), (2, 2), (2, 2)))[..., None].repeat(3, axis=3)
    np.savez(tmp_path / "train.npz", x=x[:24], labels=d["labels"][:24])
    np.savez(tmp_path / "eval.npz", x=x[24:], labels=d["labels"][24:40])
    out = tmp_path / "trained"
    res = edgec("train", shared_models / "pretrainedResnet_quant.tflite", "--data", tmp_path / "train.npz",
                "--eval", tmp_path / "eval.npz", "--scheme", "head", "--classes", "10", "--epochs", "2",
                "--out", out, "--json", timeout=600)
    assert res.returncode == 0, res.stderr
    t = json.loads(res.stdout)["training"]
    assert t["steps"] == 48 and len(t["loss_per_epoch"]) == 2 and t["eval_samples"] == 16
    assert t["numpy_check"]["passed"] and t["numpy_check"]["steps"] == 8
    assert t["trained_parameter_bytes"] == 64 * 10 * 4 + 10 * 4
    assert 0 <= t["tflm_eval_accuracy"] <= 1
    assert (out / "model_trained.tflite").is_file() and (out / "trained_params.npz").is_file()
    assert json.loads((out / "report.json").read_text())["training"]["steps"] == 48
    # the exported model is an int8 model edgec and TFLM run bit-exact
    check = edgec("test", out, "--inputs", tmp_path / "eval.npz", "--out", tmp_path / "t")  # the folder's model
    assert check.returncode == 0, check.stderr
    assert "0 LSB" in check.stderr


def test_cli_momentum_and_shadow(tmp_path):
    """--momentum and --weights reach the step and the report: the state's bytes counted with the parameters."""
    model = tmp_path / "net.tflite"
    model.write_bytes(patch_stage_net())
    x = np.random.default_rng(0).uniform(-0.05, 0.05, (6, 1, 32, 32, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, labels=np.arange(6) % 3)
    runs = {}
    for extra in ([], ["--momentum", "0.9", "--weights", "shadow"]):
        res = edgec("train", model, "--data", tmp_path / "d.npz", "--classes", "3", "--scheme", "last:1", "--out",
                    tmp_path / f"o{len(extra)}", "--json", *extra, timeout=600)
        assert res.returncode == 0, res.stderr
        runs[len(extra)] = json.loads(res.stdout)["training"]
    plain, state = runs[0], runs[4]
    assert (plain["momentum"], plain["weights"], plain["optimizer_state_bytes"]) == (0.0, "int8", 0)
    assert (state["momentum"], state["weights"]) == (0.9, "shadow") and state["numpy_check"]["passed"]
    names = [n for n in state["trained_parameters"] if n.endswith(("/velocity", "/shadow"))]
    assert {n.rsplit("/", 1)[1] for n in names} == {"velocity", "shadow"}
    assert state["optimizer_state_bytes"] == sum(4 * int(np.prod(state["trained_parameters"][n])) for n in names)
    assert state["trained_parameter_bytes"] == plain["trained_parameter_bytes"] + state["optimizer_state_bytes"]
    assert state["memory"]["total_bytes"] == plain["memory"]["total_bytes"] + state["optimizer_state_bytes"]
    res = edgec("train", model, "--data", tmp_path / "d.npz", "--classes", "3", "--weights", "shadow",
                "--rounding", "stochastic", "--out", tmp_path / "bad")
    assert_error(res, 2, "--weights shadow", "nearest")


# ---- bad input: one message, exit 2, nothing written -----------------------------------------------------------

@pytest.fixture
def small(tmp_path) -> tuple[Path, Path]:
    model = tmp_path / "net.tflite"
    model.write_bytes(conv_dw_pool_fc())
    x = np.random.default_rng(0).uniform(-0.1, 0.1, (6, 1, 12, 12, 3)).astype(np.float32)
    np.savez(tmp_path / "ok.npz", x=x, labels=np.arange(6) % 5)
    return model, tmp_path


@pytest.mark.parametrize("case, data, extra, needles", [
    ("label out of range", dict(labels=np.array([0, 1, 2, 3, 4, 9])), [], ["label 9", "5 classes", "--classes"]),
    ("label with --classes", dict(labels=np.array([0, 1, 2, 3, 4, 3])), ["--classes", "3"], ["label 3", "3 classes"]),
    ("NaN", dict(nan=True), [], ["NaN"]),
    ("no labels", dict(no_labels=True), [], ["labels"]),
    ("wrong shape", dict(shape=(6, 1, 10, 10, 3)), [], ["shape"]),
])
def test_bad_training_data(small, case, data, extra, needles):
    model, tmp = small
    x = np.random.default_rng(0).uniform(-0.1, 0.1, data.get("shape", (6, 1, 12, 12, 3))).astype(np.float32)
    if data.get("nan"):
        x[2, 0, 3, 3, 1] = np.nan
    arrays = {"x": x} if data.get("no_labels") else {"x": x, "labels": data.get("labels", np.arange(6) % 5)}
    np.savez(tmp / "bad.npz", **arrays)
    res = edgec("train", model, "--data", tmp / "bad.npz", "--scheme", "head", "--out", tmp / "o", *extra)
    assert_error(res, 2, *needles)
    assert not (tmp / "o").exists()


def test_scheme_file_naming_an_unknown_layer(small):
    model, tmp = small
    (tmp / "s.toml").write_text('[layers."no such layer"]\nbias = true\n')
    res = edgec("train", model, "--data", tmp / "ok.npz", "--scheme", tmp / "s.toml", "--out", tmp / "o")
    assert_error(res, 2, "no such layer", "the layers are")


def test_board_without_fpu(small):
    model, tmp = small
    res = edgec("train", model, "--data", tmp / "ok.npz", "--board", "mps2_an385", "--out", tmp / "o")
    assert_error(res, 2, "no FPU", "float32")


def test_model_without_classifier(tmp_path):
    from small_models import big_activation_conv

    model = tmp_path / "conv.tflite"
    model.write_bytes(big_activation_conv(side=8, channels=4))
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 1, 8, 8, 4), np.float32), labels=np.array([0, 1]))
    res = edgec("train", model, "--data", tmp_path / "d.npz", "--out", tmp_path / "o")
    assert_error(res, 2, "classifier", "FULLY_CONNECTED")


def test_budget_nothing_fits_exits_3(small):
    model, tmp = small
    res = edgec("train", model, "--data", tmp / "ok.npz", "--scheme", "head", "--sram-budget", "300", "--out",
                tmp / "o")
    assert_error(res, 3, "training step needs", "budget is 300 B", "pass")
    assert not (tmp / "o").exists()


def test_resume_starts_from_the_saved_parameters(small):
    """A run resumed from an earlier folder starts where that one ended (the numpy check recomputes its first
    steps from the loaded parameters, so equality proves they were loaded); another scheme is refused."""
    model, tmp = small
    first = edgec("train", model, "--data", tmp / "ok.npz", "--scheme", "head", "--lr", "0.5", "--out", tmp / "a",
                  "--json")
    assert first.returncode == 0, first.stderr
    resumed = edgec("train", model, "--data", tmp / "ok.npz", "--scheme", "head", "--lr", "0.5", "--out", tmp / "b",
                    "--resume", tmp / "a", "--json")
    assert resumed.returncode == 0, resumed.stderr
    fresh = json.loads(first.stdout)["training"]
    again = json.loads(resumed.stdout)["training"]
    assert again["numpy_check"]["passed"]
    assert again["loss_per_epoch"][0] < fresh["loss_per_epoch"][0]  # the same data, from trained parameters
    with np.load(tmp / "a" / "trained_params.npz") as a, np.load(tmp / "b" / "trained_params.npz") as b:
        assert set(a.files) == set(b.files) and any(not np.array_equal(a[k], b[k]) for k in a.files)
    other = edgec("train", model, "--data", tmp / "ok.npz", "--scheme", "head", "--classes", "7", "--out",
                  tmp / "c", "--resume", tmp / "a")
    assert_error(other, 2, "--resume", "same model")


def test_device_without_a_probe(small):
    model, tmp = small
    res = edgec("train", model, "--data", tmp / "ok.npz", "--scheme", "head", "--board", "nucleo_f746zg",
                "--device", "--out", tmp / "o")
    assert res.returncode == 4, res.stderr  # no probe here (or pyOCD missing): a toolchain error, no traceback
    assert "Traceback" not in res.stderr and ("probe" in res.stderr or "pyOCD" in res.stderr)
    assert not (tmp / "o").exists()


def test_float_onnx_model_quantized_then_trained(tmp_path):
    """The bundled float ONNX CNN, quantized from its calibration data (--calib) and trained with every bias: the
    gradient crosses its max pool and its 2x2 average pool; the C equals the numpy reference (the command's own
    check) and the adapted model runs bit-exact in TFLM."""
    digits = Path(__file__).resolve().parents[2] / "examples" / "digits"
    res = edgec("train", digits / "digits_cnn.onnx", "--calib", digits / "digits_calib.npz", "--data",
                digits / "digits_test_float.npz", "--samples", "40", "--eval", digits / "digits_test_float.npz",
                "--scheme", "bias", "--out", tmp_path / "t", "--json", timeout=600)
    assert res.returncode == 0, res.stderr
    t = json.loads(res.stdout)["training"]
    assert t["numpy_check"]["passed"] and t["steps"] == 40 and t["eval_samples"] == 360
    ops = {layer["op"] for layer in json.loads((tmp_path / "t" / "report.json").read_text())["layers"]}
    assert {"avg_pool2d_backward", "max_pool2d_backward", "conv2d_backward"} <= ops
    assert t["tflm_eval_accuracy"] > 0.5


def test_pad_gradient_c_equals_numpy(tmp_path):
    """conv -> PAD (explicit, as ONNX exports write it) -> conv VALID -> MEAN -> FC, every bias trained: the
    gradient is cropped back through the PAD."""
    from edgec.modelbuilder import ModelBuilder

    rng = np.random.default_rng(1)
    b = ModelBuilder()

    def conv(name, src, cin, cout, side, out_side, scale_in, scale_out):
        w = b.const(f"{name}_w", rng.integers(-127, 128, (cout, 3, 3, cin), dtype=np.int8),
                    scale=np.full(cout, 0.01, np.float32), zero_point=np.zeros(cout, np.int64), axis=0)
        bias = b.const(f"{name}_b", rng.integers(-300, 300, cout).astype(np.int32),
                       scale=np.full(cout, scale_in * 0.01, np.float32), zero_point=np.zeros(cout, np.int64))
        y = b.activation(name, (1, out_side, out_side, cout), scale=scale_out, zero_point=-128)
        b.op("CONV_2D", [src, w, bias], [y], "Conv2DOptions", padding=1, strideH=1, strideW=1, dilationHFactor=1,
             dilationWFactor=1, fusedActivationFunction=1)
        return y

    x = b.input("x", (1, 9, 9, 3), scale=0.02, zero_point=0)
    c1 = conv("c1", x, 3, 5, 9, 7, 0.02, 0.04)
    padded = b.activation("padded", (1, 9, 9, 5), scale=0.04, zero_point=-128)
    b.op("PAD", [c1, b.const("pads", np.asarray([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32))], [padded])
    c2 = conv("c2", padded, 5, 6, 9, 7, 0.04, 0.05)
    m = b.activation("m", (1, 6), scale=0.05, zero_point=-128)
    b.op("MEAN", [c2, b.const("axes", np.asarray([1, 2], np.int32))], [m], "ReducerOptions", keepDims=False)
    w = b.const("fc_w", rng.integers(-127, 128, (3, 6), dtype=np.int8), scale=0.01, zero_point=0)
    y = b.activation("y", (1, 3), scale=0.1, zero_point=0)
    b.op("FULLY_CONNECTED", [m, w, b.const("fc_b", np.zeros(3, np.int32), scale=0.0005, zero_point=0)], [y],
         "FullyConnectedOptions", fusedActivationFunction=0)
    b.output(y)
    model = tmp_path / "net.tflite"
    model.write_bytes(b.build())
    _, tg = training_graph(model, "bias", lr=0.5, seed=1, classes=3)
    assert "pad_backward" in {op.type for op in tg.ops}
    records = [[rng.integers(-128, 128, (1, 9, 9, 3)).astype(np.int8), np.array([k % 3], np.int32)]
               for k in range(4)]
    run_c_and_numpy(tmp_path, tg, records)
