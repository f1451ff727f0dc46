"""edgec's post-training quantization with int4 weights (`--weight-bits 4`, `--int4-layers`): a float conv ->
depthwise -> fully connected model becomes int8 activations with int4 weights (per channel for the convolutions, per
tensor for the FC), its .tflite holds INT4 tensors TFLite Micro runs, and the generated C (ASan/UBSan) equals TFLM on
it to the bit; the CLI end to end."""

import json
from pathlib import Path

import numpy as np
import pytest
from run_cli import assert_error, edgec
from test_ptq import quantize_inputs, run_c

from edgec import reference
from edgec.errors import InputError
from edgec.exporters import write_tflite
from edgec.importers import import_model
from edgec.importers.tflite_reader import Reader
from edgec.modelbuilder import ModelBuilder
from edgec.quantizer import quantize_graph


def float_net(path: Path) -> None:
    """image 1x9x9x2 -> CONV_2D 3x3 stride 2 SAME (5, RELU) -> DEPTHWISE 3x3 x2 VALID (10) -> RESHAPE -> FC 7."""
    rng = np.random.default_rng(0)
    b = ModelBuilder(description="test: float conv/depthwise/fc")
    x = b.input("image", (1, 9, 9, 2), dtype=np.float32)
    c = b.activation("conv", (1, 5, 5, 5), dtype=np.float32)
    b.op("CONV_2D", [x, b.const("wc", rng.normal(0, 0.4, (5, 3, 3, 2)).astype(np.float32)),
                     b.const("bc", rng.normal(0, 0.1, 5).astype(np.float32))], [c], "Conv2DOptions",
         padding=0, strideH=2, strideW=2, dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=1)
    d = b.activation("dw", (1, 3, 3, 10), dtype=np.float32)
    b.op("DEPTHWISE_CONV_2D", [c, b.const("wd", rng.normal(0, 0.4, (1, 3, 3, 10)).astype(np.float32)),
                               b.const("bd", rng.normal(0, 0.1, 10).astype(np.float32))], [d],
         "DepthwiseConv2DOptions", padding=1, strideH=1, strideW=1, dilationHFactor=1, dilationWFactor=1,
         depthMultiplier=2, fusedActivationFunction=0)
    flat = b.activation("flat", (1, 90), dtype=np.float32)
    b.op("RESHAPE", [d, b.const("shape", np.array([1, 90], np.int32))], [flat], "ReshapeOptions",
         newShape=np.array([1, 90], np.int32))
    y = b.activation("logits", (1, 7), dtype=np.float32)
    b.op("FULLY_CONNECTED", [flat, b.const("wf", rng.normal(0, 0.2, (7, 90)).astype(np.float32)),
                             b.const("bf", rng.normal(0, 0.1, 7).astype(np.float32))], [y], "FullyConnectedOptions")
    b.output(y)
    path.write_bytes(b.build())


def samples(n: int, seed: int) -> list[list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [[rng.uniform(-1, 1, (1, 9, 9, 2)).astype(np.float32)] for _ in range(n)]


@pytest.mark.parametrize("weight_bits,layers", [(4, ()), (8, ("conv_2d_0",)), (8, ("fully_connected_3",))])
def test_int4_ptq_is_bit_exact_with_tflm(tmp_path, weight_bits, layers):
    model = tmp_path / "net.tflite"
    float_net(model)
    g = import_model(model)
    q = quantize_graph(g, samples(64, 1), weight_bits=weight_bits, int4_layers=layers)
    int4 = {op.name for op in q.ops if op.type in ("conv2d", "depthwise_conv2d", "fully_connected")
            and q.t(op.inputs[1]).dtype == "int4"}
    expected = {"conv_2d_0", "depthwise_conv_2d_1", "fully_connected_3"} if weight_bits == 4 else set(layers)
    assert int4 == expected
    for op in q.ops:
        if op.name in int4:
            w = q.t(op.inputs[1])
            assert w.data is not None and -7 <= int(w.data.min()) and int(w.data.max()) <= 7
            assert int(np.abs(w.data).max()) == 7  # the largest weight takes the grid's end
            per_channel = w.quant is not None and w.quant.scale.size > 1
            assert per_channel == (op.type != "fully_connected")  # FC per tensor: TFLM runs it
    tfl = write_tflite(q, tmp_path / "model_int8.tflite")
    r = Reader(tfl, tfl.read_bytes())
    assert sum(t.type == 17 for t in r.sg.tensors) == len(int4)
    xq = quantize_inputs(q, samples(12, 2))
    ours = run_c(q, tmp_path / "out", xq)
    theirs, _ = reference.run_tflm(tfl, xq)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a[0].reshape(-1), np.asarray(b[0]).reshape(-1))


def test_int4_layers_unknown_name(tmp_path):
    model = tmp_path / "net.tflite"
    float_net(model)
    with pytest.raises(InputError, match="nope is not a conv2d.*conv_2d_0, depthwise_conv_2d_1, fully_connected_3"):
        quantize_graph(import_model(model), samples(4, 1), int4_layers=["nope"])


def test_cli_weight_bits_4(tmp_path):
    """`edgec build --calib --weight-bits 4`: the weights in report.json are the packed bytes, about half of the
    int8 build's; `edgec test` finds the C equal to TFLM on the written model; without --calib it is refused."""
    model = tmp_path / "net.tflite"
    float_net(model)
    np.savez(tmp_path / "calib.npz", image=np.concatenate([s[0] for s in samples(32, 3)]))
    reports = {}
    for bits in ("8", "4"):
        res = edgec("build", model, "--out", tmp_path / f"out{bits}", "--calib", tmp_path / "calib.npz",
                    "--weight-bits", bits, "--json", timeout=300)
        assert res.returncode == 0, res.stderr
        reports[bits] = json.loads(res.stdout)
    w8, w4 = reports["8"]["weights_bytes"], reports["4"]["weights_bytes"]
    weights = 5 * 3 * 3 * 2 + 3 * 3 * 10 + 7 * 90
    assert w8 - w4 == weights - (5 * 3 * 3 * 2 + 1) // 2 - (3 * 3 * 10) // 2 - (7 * 90) // 2
    assert reports["4"]["calibration"]["int4_layers"] == ["conv_2d_0", "depthwise_conv_2d_1", "fully_connected_3"]
    res = edgec("test", model, "--out", tmp_path / "test4", "--calib", tmp_path / "calib.npz", "--weight-bits", "4",
                "--samples", "4", "--json", timeout=300)
    assert res.returncode == 0, res.stderr
    assert_error(edgec("build", model, "--out", tmp_path / "x", "--weight-bits", "4"), 2, "--calib")
