"""edgec's post-training quantization to 16x8 (`--activations int16`, `--int16-layers`): a float conv -> depthwise ->
ADD -> LOGISTIC -> MUL -> PAD -> AVERAGE_POOL -> RESHAPE -> FC -> SOFTMAX model becomes
int16 activations with int8 weights and int64 biases, QUANTIZE conversions where int16 and int8 layers meet; its
.tflite runs in TFLite Micro and the generated C (ASan/UBSan) equals TFLM on it to the bit; the CLI end to end."""

import json
from pathlib import Path

import numpy as np
import pytest
from run_cli import assert_error, edgec
from test_ptq import run_c

from edgec import reference
from edgec.data import quantize
from edgec.errors import InputError
from edgec.exporters import write_tflite
from edgec.importers import import_model
from edgec.modelbuilder import ModelBuilder
from edgec.quantizer import quantize_graph


def float_net(path: Path) -> None:
    """image 1x9x9x2 -> CONV_2D 3x3 /2 SAME (6, RELU) -> DEPTHWISE 3x3 SAME (6) -> ADD (conv + dw) -> LOGISTIC ->
    MUL (by the ADD) -> PAD -> AVERAGE_POOL 2x2 -> RESHAPE -> FC 7 -> SOFTMAX."""
    rng = np.random.default_rng(0)
    b = ModelBuilder(description="test: float 16x8 candidate")
    f32 = np.float32
    x = b.input("image", (1, 9, 9, 2), dtype=f32)
    c = b.activation("conv", (1, 5, 5, 6), dtype=f32)
    b.op("CONV_2D", [x, b.const("wc", rng.normal(0, 0.4, (6, 3, 3, 2)).astype(f32)),
                     b.const("bc", rng.normal(0, 0.1, 6).astype(f32))], [c], "Conv2DOptions",
         padding=0, strideH=2, strideW=2, dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=1)
    d = b.activation("dw", (1, 5, 5, 6), dtype=f32)
    b.op("DEPTHWISE_CONV_2D", [c, b.const("wd", rng.normal(0, 0.4, (1, 3, 3, 6)).astype(f32)),
                               b.const("bd", rng.normal(0, 0.1, 6).astype(f32))], [d],
         "DepthwiseConv2DOptions", padding=0, strideH=1, strideW=1, dilationHFactor=1, dilationWFactor=1,
         depthMultiplier=1, fusedActivationFunction=0)
    a = b.activation("add", (1, 5, 5, 6), dtype=f32)
    b.op("ADD", [c, d], [a], "AddOptions", fusedActivationFunction=0)
    s = b.activation("sig", (1, 5, 5, 6), dtype=f32)
    b.op("LOGISTIC", [a], [s])
    m = b.activation("mul", (1, 5, 5, 6), dtype=f32)
    b.op("MUL", [s, a], [m], "MulOptions", fusedActivationFunction=0)
    padded = b.activation("padded", (1, 6, 6, 6), dtype=f32)
    b.op("PAD", [m, b.const("pads", np.array([[0, 0], [0, 1], [0, 1], [0, 0]], np.int32))], [padded], "PadOptions")
    p = b.activation("pool", (1, 3, 3, 6), dtype=f32)
    b.op("AVERAGE_POOL_2D", [padded], [p], "Pool2DOptions", padding=1, strideH=2, strideW=2, filterHeight=2,
         filterWidth=2, fusedActivationFunction=0)
    flat = b.activation("flat", (1, 54), dtype=f32)
    b.op("RESHAPE", [p, b.const("shape", np.array([1, 54], np.int32))], [flat], "ReshapeOptions",
         newShape=np.array([1, 54], np.int32))
    y = b.activation("logits", (1, 7), dtype=f32)
    b.op("FULLY_CONNECTED", [flat, b.const("wf", rng.normal(0, 0.3, (7, 54)).astype(f32)),
                             b.const("bf", rng.normal(0, 0.1, 7).astype(f32))], [y], "FullyConnectedOptions")
    pr = b.activation("probs", (1, 7), dtype=f32)
    b.op("SOFTMAX", [y], [pr], "SoftmaxOptions", beta=1.0)
    b.output(pr)
    path.write_bytes(b.build())


def samples(n: int, seed: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.uniform(-1, 1, (1, 9, 9, 2)).astype(np.float32)] for _ in range(n)]


INT16_OPS = {"conv_2d_0", "depthwise_conv_2d_1", "add_2", "logistic_3", "mul_4", "pad_5", "average_pool_2d_6",
             "reshape_7", "fully_connected_8", "softmax_9"}


@pytest.mark.parametrize("activations,layers", [("int16", ()), ("int8", ("fully_connected_8",)),
                                                ("int8", ("conv_2d_0", "add_2"))])
def test_int16_ptq_is_bit_exact_with_tflm(tmp_path, activations, layers):
    model = tmp_path / "net.tflite"
    float_net(model)
    g = import_model(model)
    q = quantize_graph(g, samples(64, 1), activations=activations, int16_layers=layers)
    wide = INT16_OPS if activations == "int16" else set(layers)
    for op in q.ops:
        y = q.t(op.outputs[0])
        if op.type == "quantize":  # an inserted conversion: to the width of the op it feeds
            continue
        assert (y.dtype == "int16") == (op.name in wide), (op.name, y.dtype)
        if y.dtype == "int16":
            assert y.quant is not None and int(y.zero_point) == 0
            if op.type in ("conv2d", "depthwise_conv2d", "fully_connected"):
                assert q.t(op.inputs[2]).dtype == "int64" and q.t(op.inputs[1]).dtype == "int8"
            if op.type in ("softmax", "logistic"):
                assert np.float32(y.scale) == np.float32(2.0**-15)
        for i in op.inputs:  # every activation an op reads has the op's width (conversions are in between)
            if i is not None and not q.t(i).is_const:
                assert q.t(i).dtype == y.dtype, (op.name, i)
    n_conversions = sum(op.type == "quantize" for op in q.ops)
    # all int16: every op has an int16 kernel (PAD too), so no conversion; else int8 and int16 layers meet
    assert n_conversions == 0 if activations == "int16" else n_conversions >= 1
    assert q.t(q.inputs[0]).dtype == ("int16" if "conv_2d_0" in wide else "int8")
    tfl = write_tflite(q, tmp_path / "model_int8.tflite")
    xs = samples(10, 2)
    xq = [[quantize(s[0], q.t(q.inputs[0]))] for s in xs]
    ours = run_c(q, tmp_path / "out", xq)
    theirs, _ = reference.run_tflm(tfl, xq)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a[0].reshape(-1), np.asarray(b[0]).reshape(-1))
    # and it computes the float model: probabilities within 2 % of the float ones
    ref = np.stack([np.asarray(s[0], np.float64).reshape(-1) for s in reference.run_tflm(model, xs)[0]])
    y = q.t(q.outputs[0])
    got = np.stack([(np.asarray(s[0], np.float64).reshape(-1) - y.zero_point) * y.scale for s in ours])
    assert np.abs(got - ref).max() < 0.02, np.abs(got - ref).max()


def test_int16_layers_unknown_or_without_kernel(tmp_path):
    model = tmp_path / "net.tflite"
    float_net(model)
    g = import_model(model)
    with pytest.raises(InputError, match="nope is no layer of the model.*conv_2d_0, depthwise_conv_2d_1"):
        quantize_graph(g, samples(4, 1), int16_layers=["nope"])
    b = ModelBuilder(description="test: an op without an int16 kernel")
    x = b.input("x", (1, 4, 4, 3), dtype=np.float32)
    y = b.activation("y", (1, 4, 4, 3), dtype=np.float32)
    b.op("HARD_SWISH", [x], [y])
    b.output(y)
    (tmp_path / "hs.tflite").write_bytes(b.build())
    with pytest.raises(InputError, match="hard_swish_0 has no int16 kernel"):
        quantize_graph(import_model(tmp_path / "hs.tflite"), [[np.zeros((1, 4, 4, 3), np.float32)]],
                       int16_layers=["hard_swish_0"])


def test_cli_activations_int16(tmp_path):
    """`edgec test --calib --activations int16`: the C equals TFLM on the written 16x8 model; report.json says which
    layers are int16; without --calib the option is refused."""
    model = tmp_path / "net.tflite"
    float_net(model)
    np.savez(tmp_path / "calib.npz", image=np.concatenate([s[0] for s in samples(32, 3)]))
    res = edgec("test", model, "--out", tmp_path / "t16", "--calib", tmp_path / "calib.npz", "--activations",
                "int16", "--samples", "6", "--json", timeout=300)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert report["calibration"]["int16_layers"] == sorted(INT16_OPS), report["calibration"]
    res = edgec("build", model, "--out", tmp_path / "b16", "--calib", tmp_path / "calib.npz", "--int16-layers",
                "fully_connected_8", "--json", timeout=300)
    assert res.returncode == 0, res.stderr
    assert_error(edgec("build", model, "--out", tmp_path / "x", "--activations", "int16"), 2, "--calib")


def test_int16_concat_of_a_fixed_quantization(tmp_path):
    """CONCATENATION of a SOFTMAX (fixed 2^-15) and an FC output in int16: the softmax is requantized int16 -> int16
    to the concatenation's quantization (an inserted QUANTIZE), bit-exact with TFLM."""
    rng = np.random.default_rng(5)
    f32 = np.float32
    b = ModelBuilder()
    x = b.input("x", (1, 6), dtype=f32)
    a = b.activation("a", (1, 8), dtype=f32)
    b.op("FULLY_CONNECTED", [x, b.const("w1", rng.normal(0, 0.5, (8, 6)).astype(f32))], [a], "FullyConnectedOptions")
    s = b.activation("s", (1, 8), dtype=f32)
    b.op("SOFTMAX", [a], [s], "SoftmaxOptions", beta=1.0)
    c = b.activation("c", (1, 4), dtype=f32)
    b.op("FULLY_CONNECTED", [x, b.const("w2", rng.normal(0, 0.5, (4, 6)).astype(f32))], [c], "FullyConnectedOptions")
    cat = b.activation("cat", (1, 12), dtype=f32)
    b.op("CONCATENATION", [s, c], [cat], "ConcatenationOptions", axis=1, fusedActivationFunction=0)
    y = b.activation("y", (1, 3), dtype=f32)
    b.op("FULLY_CONNECTED", [cat, b.const("w3", rng.normal(0, 0.5, (3, 12)).astype(f32))], [y],
         "FullyConnectedOptions")
    b.output(y)
    model = tmp_path / "cat.tflite"
    model.write_bytes(b.build())
    xs = [[rng.uniform(-2, 2, (1, 6)).astype(f32)] for _ in range(40)]
    q = quantize_graph(import_model(model), xs, activations="int16")
    assert all(q.t(t).dtype == "int16" for op in q.ops for t in op.outputs)
    assert sum(op.type == "quantize" for op in q.ops) == 1  # the softmax's requantization
    tfl = write_tflite(q, tmp_path / "model_int8.tflite")
    xq = [[quantize(s_[0], q.t(q.inputs[0]))] for s_ in xs[:8]]
    ours = run_c(q, tmp_path / "out", xq)
    theirs, _ = reference.run_tflm(tfl, xq)
    for o, t in zip(ours, theirs):
        np.testing.assert_array_equal(o[0].reshape(-1), np.asarray(t[0]).reshape(-1))
