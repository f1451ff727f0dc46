"""16x8 quantization (int16 activations, int8 weights, int64 bias): every op's int16 path bit-exact (0 LSB) with
TFLite Micro on one-op models over odd shapes, numpy reference and generated C (ASan+UBSan) alike."""

from __future__ import annotations

import numpy as np
import pytest
from oneop import ACT, ModelBuilder, assert_bit_exact, conv_op, conv_out_hw, run_three_ways

S_X = 0.00031  # an int16 input scale (zero point 0: the 16x8 spec)


def checked(res: dict) -> None:
    """bit-exact, and a test that means something: most outputs are neither saturated nor equal"""
    assert_bit_exact(res)
    y = np.concatenate([np.asarray(o).reshape(-1) for s in res["tflm"] for o in s]).astype(np.int64)
    assert np.mean(np.abs(y) >= 32767) < 0.3 and np.unique(y).size > min(20, y.size // 2), "outputs degenerate"


def binary_s16(opcode: str, options: str, shape1, shape2, scales, act: str, const, seed: int) -> bytes:
    """A one-op int16 model of a broadcasting binary op (ADD, SUB, MUL): two int16 operands at scales[0], scales[1]
    (operand `const` a random constant, the others inputs), the output at scales[2], the fused activation `act`."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    operands = []
    for k, shape in enumerate((shape1, shape2)):
        if const == k:
            data = rng.integers(-32768, 32768, size=shape).astype(np.int16)
            operands.append(b.const(f"c{k}", data, scale=scales[k], zero_point=0))
        else:
            operands.append(b.input(f"x{k}", shape, np.int16, scales[k], 0))
    y = b.activation("y", np.broadcast_shapes(shape1, shape2), np.int16, scales[2], 0)
    b.op(opcode, operands, [y], options, fusedActivationFunction=ACT[act])
    b.output(y)
    return b.build()


def weights(b: ModelBuilder, rng, shape, axis: int, channels: int, per_channel: bool = True):
    """int8 symmetric weights and their scales (per channel along `axis`, or one)."""
    n = channels if per_channel else 1
    w_scale = rng.uniform(0.002, 0.02, size=n).astype(np.float32)
    data = rng.integers(-127, 128, size=shape, dtype=np.int8)
    return b.const("w", data, scale=w_scale, zero_point=np.zeros(n, np.int64), axis=axis), w_scale


def bias64(b: ModelBuilder, rng, channels: int, w_scale, big: bool = False):
    """an int64 bias at s_x * s_w (big: values past the int32 range, which only an int64 bias holds)"""
    span = 2**40 if big else 3_000_000
    data = rng.integers(-span, span, size=channels).astype(np.int64)
    return b.const("b", data, scale=(S_X * w_scale).astype(np.float32), zero_point=np.zeros(w_scale.size, np.int64))


def out_scale(w_scale, taps: int) -> float:
    """an output scale that puts a typical accumulator (random full-range inputs) at about a third of int16"""
    return float(S_X * np.mean(w_scale) * np.sqrt(taps) * 73 * 18900 * 3 / 32767)


@pytest.mark.parametrize("batches,depth,units,per_channel,act,with_bias", [
    (1, 37, 11, True, "NONE", True), (3, 64, 7, False, "RELU", True), (2, 5, 13, True, "RELU6", False),
    (1, 301, 3, True, "NONE", True)])
def test_fully_connected_s16(tmp_path, batches, depth, units, per_channel, act, with_bias):
    rng = np.random.default_rng(depth)
    b = ModelBuilder()
    x = b.input("x", (batches, depth), np.int16, S_X, 0)
    wt, w_scale = weights(b, rng, (units, depth), 0, units, per_channel)
    ins = [x, wt] + ([bias64(b, rng, units, w_scale)] if with_bias else [])
    y = b.activation("y", (batches, units), np.int16, out_scale(w_scale, depth), 0)
    b.op("FULLY_CONNECTED", ins, [y], "FullyConnectedOptions", fusedActivationFunction=ACT[act])
    b.output(y)
    checked(run_three_ways(b.build(), tmp_path))


def conv_model(rng, h, w, cin, cout, k, stride, dilation, padding, act, depthwise=False, mult=1, big_bias=False,
               groups=1, with_bias=True, per_channel=True):
    b = ModelBuilder()
    x = b.input("x", (1, h, w, cin), np.int16, S_X, 0)
    if depthwise:
        cout = cin * mult
        wt, w_scale = weights(b, rng, (1, k[0], k[1], cout), 3, cout)
        taps = k[0] * k[1]
    else:
        wt, w_scale = weights(b, rng, (cout, k[0], k[1], cin // groups), 0, cout, per_channel)
        taps = k[0] * k[1] * cin // groups
    ins = [x, wt] + ([bias64(b, rng, cout, w_scale, big_bias)] if with_bias else [])
    y = b.activation("y", (1, *conv_out_hw(h, w, k, stride, dilation, padding), cout), np.int16,
                     out_scale(w_scale, taps), 0)
    conv_op(b, ins, y, stride, dilation, padding, act, depthwise, mult)
    b.output(y)
    return b.build()


@pytest.mark.parametrize("h,w,cin,cout,k,stride,dilation,padding,act,groups", [
    (9, 7, 3, 5, (3, 3), 1, 1, "SAME", "RELU", 1),
    (10, 11, 4, 6, (5, 3), 2, 1, "SAME", "RELU6", 1),
    (11, 8, 2, 3, (3, 3), 2, 1, "VALID", "NONE", 1),
    (12, 9, 3, 4, (3, 3), 1, 2, "SAME", "NONE", 1),
    (6, 5, 8, 7, (1, 1), 1, 1, "VALID", "NONE", 1),
    (7, 7, 6, 4, (3, 3), 1, 1, "SAME", "NONE", 2),
])
def test_conv2d_s16(tmp_path, h, w, cin, cout, k, stride, dilation, padding, act, groups):
    rng = np.random.default_rng(h * 100 + w)
    model = conv_model(rng, h, w, cin, cout, k, stride, dilation, padding, act, groups=groups)
    checked(run_three_ways(model, tmp_path))


@pytest.mark.parametrize("h,w,cin,mult,k,stride,dilation,padding,act", [
    (9, 7, 3, 1, (3, 3), 1, 1, "SAME", "RELU"),
    (10, 10, 4, 2, (5, 5), 2, 1, "SAME", "RELU6"),
    (11, 8, 2, 3, (3, 3), 2, 1, "VALID", "NONE"),
    (12, 13, 5, 1, (3, 3), 1, 2, "SAME", "NONE"),
])
def test_depthwise_conv2d_s16(tmp_path, h, w, cin, mult, k, stride, dilation, padding, act):
    rng = np.random.default_rng(h * 10 + mult)
    model = conv_model(rng, h, w, cin, 0, k, stride, dilation, padding, act, depthwise=True, mult=mult)
    checked(run_three_ways(model, tmp_path))


@pytest.mark.parametrize("with_bias,per_channel", [(False, True), (True, False), (False, False)])
def test_conv2d_s16_no_bias_or_per_tensor(tmp_path, with_bias, per_channel):
    rng = np.random.default_rng(11)
    model = conv_model(rng, 7, 6, 3, 5, (3, 3), 1, 1, "SAME", "NONE", with_bias=with_bias, per_channel=per_channel)
    checked(run_three_ways(model, tmp_path))


def test_conv2d_s16_bias_past_int32(tmp_path):
    """A bias beyond the int32 range (only the int64 accumulator holds it): outputs saturate the same way."""
    rng = np.random.default_rng(3)
    model = conv_model(rng, 5, 6, 3, 4, (3, 3), 1, 1, "SAME", "NONE", big_bias=True)
    assert_bit_exact(run_three_ways(model, tmp_path))


def one_op(kind, shape, in_dtype, out_dtype, in_q=None, out_q=None, out_shape=None, options=None, **fields):
    b = ModelBuilder()
    x = b.input("x", shape, in_dtype, *(in_q or (None, None)))
    y = b.activation("y", out_shape or shape, out_dtype, *(out_q or (None, None)))
    b.op(kind, [x], [y], options, **fields)
    b.output(y)
    return b.build()


@pytest.mark.parametrize("out_dtype,in_q,out_q", [
    (np.int8, (0.0003, 0), (0.02, -5)), (np.int8, (0.001, 17), (0.03, 100)),
    (np.int16, (0.0003, 0), (0.0011, 0)), (np.int16, (0.0011, 0), (0.0003, 0)), (np.int16, (0.0003, 0), (0.0003, 0)),
    (np.int32, (0.0003, 0), (1e-5, 3))])
def test_requantize_from_int16(tmp_path, out_dtype, in_q, out_q):
    model = one_op("QUANTIZE", (3, 5, 7), np.int16, out_dtype, in_q, out_q)
    assert_bit_exact(run_three_ways(model, tmp_path))


@pytest.mark.parametrize("scale,zp", [(0.0003, 0), (1.7e-5, 0), (0.05, -300)])
def test_dequantize_int16(tmp_path, scale, zp):
    res = run_three_ways(one_op("DEQUANTIZE", (2, 9, 3), np.int16, np.float32, (scale, zp)), tmp_path)
    assert res["c"][0][0].dtype == np.float32
    assert_bit_exact(res)


def test_reshape_int16(tmp_path):
    b = ModelBuilder()
    x = b.input("x", (1, 3, 5, 2), np.int16, S_X, 0)
    r = b.activation("r", (1, 30), np.int16, S_X, 0)
    y = b.activation("y", (1, 30), np.int16, 0.0007, 0)
    b.op("RESHAPE", [x, b.const("shape", np.asarray([1, 30], np.int32))], [r], "ReshapeOptions",
         newShape=np.asarray([1, 30], np.int32))
    b.op("QUANTIZE", [r], [y])
    b.output(y)
    assert_bit_exact(run_three_ways(b.build(), tmp_path))


@pytest.mark.parametrize("shape1,shape2,scales,act,const", [
    ((1, 5, 7, 3), (1, 5, 7, 3), (0.0003, 0.0005, 0.0007), "NONE", None),
    ((2, 3, 11), (11,), (0.0009, 0.0002, 0.0004), "RELU", None),
    ((1, 4, 4, 6), (1, 1, 1, 6), (0.0004, 0.0004, 0.0009), "RELU6", 1),
    ((7, 1, 5), (1, 3, 1), (0.001, 0.0001, 0.0011), "NONE", None),
])
def test_add_s16(tmp_path, shape1, shape2, scales, act, const):
    model = binary_s16("ADD", "AddOptions", shape1, shape2, scales, act, const, len(shape1) + len(shape2))
    checked(run_three_ways(model, tmp_path))


def net16(float_io: bool, seed: int = 4) -> bytes:
    """A small 16x8 CNN: [float -> QUANTIZE ->] int16 CONV_2D (RELU) -> DEPTHWISE_CONV_2D -> ADD (residual) ->
    RESHAPE -> FULLY_CONNECTED [-> DEQUANTIZE -> float], the way TFLite's 16x8 converter lays a model out."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()

    def layer(name, shape, scale):
        return b.activation(name, shape, np.int16, scale, 0)

    def weights_bias(wshape, axis, channels, s_in):
        w_scale = rng.uniform(0.004, 0.012, size=channels).astype(np.float32)
        w = b.const(f"{name_of(wshape)}_w", rng.integers(-127, 128, size=wshape, dtype=np.int8), scale=w_scale,
                    zero_point=np.zeros(channels, np.int64), axis=axis)
        bias = b.const(f"{name_of(wshape)}_b", rng.integers(-40000, 40000, size=channels).astype(np.int64),
                       scale=(s_in * w_scale).astype(np.float32), zero_point=np.zeros(channels, np.int64))
        return w, bias

    def name_of(shape):
        return "x".join(map(str, shape))

    s0 = 1 / 8192
    if float_io:
        xf = b.input("x", (1, 9, 9, 3), np.float32)
        x = layer("xq", (1, 9, 9, 3), s0)
        b.op("QUANTIZE", [xf], [x])
    else:
        x = b.input("x", (1, 9, 9, 3), np.int16, s0, 0)
    c = layer("conv", (1, 9, 9, 6), 0.0006)
    conv_op(b, [x, *weights_bias((6, 3, 3, 3), 0, 6, s0)], c, 1, 1, "SAME", "RELU")
    d = layer("dw", (1, 9, 9, 6), 0.0005)
    conv_op(b, [c, *weights_bias((1, 3, 3, 6), 3, 6, 0.0006)], d, 1, 1, "SAME", "NONE", depthwise=True)
    a = layer("add", (1, 9, 9, 6), 0.0009)
    b.op("ADD", [c, d], [a], "AddOptions", fusedActivationFunction=ACT["NONE"])
    r = layer("flat", (1, 486), 0.0009)
    b.op("RESHAPE", [a, b.const("shape", np.asarray([1, 486], np.int32))], [r], "ReshapeOptions",
         newShape=np.asarray([1, 486], np.int32))
    f = layer("fc", (1, 10), 0.012)
    b.op("FULLY_CONNECTED", [r, *weights_bias((10, 486), 0, 10, 0.0009)], [f], "FullyConnectedOptions",
         fusedActivationFunction=0)
    if float_io:
        y = b.activation("y", (1, 10), np.float32)
        b.op("DEQUANTIZE", [f], [y])
        b.output(y)
    else:
        b.output(f)
    return b.build()


@pytest.mark.parametrize("float_io", [False, True])
def test_net16_end_to_end(tmp_path, float_io):
    """The multi-op 16x8 model: numpy, C (ASan+UBSan) and TFLM at 0 LSB, then `edgec test` on it (TFLM and
    LiteRT), the generated API taking int16 (or float) inputs and giving int16 (or float) outputs."""
    from edgec import validate

    model = net16(float_io)
    res = run_three_ways(model, tmp_path, samples=6)
    assert_bit_exact(res)
    if not float_io:
        checked(res)
    header = (tmp_path / "out" / "model.h").read_text()
    ctype = "float" if float_io else "int16_t"
    assert f"const {ctype} *" in header or f"{ctype} *" in header, header
    result = validate.test(tmp_path / "model.tflite", tmp_path / "out2", samples=12)
    assert result.passed, result
    assert all(row.max_abs_diff_lsb == 0 for row in result.rows if row.reference.startswith("TFLM")), result.rows


def test_net16_cli_inputs_npz(tmp_path):
    """`edgec test` with --inputs: real values (float arrays) quantized onto the int16 input, and int16 arrays
    taken as they are."""
    from run_cli import edgec

    path = tmp_path / "net16.tflite"
    path.write_bytes(net16(False))
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "real.npz", x=rng.uniform(-3, 3, size=(5, 1, 9, 9, 3)).astype(np.float32))
    np.savez(tmp_path / "ints.npz", x=rng.integers(-32768, 32768, size=(4, 1, 9, 9, 3)).astype(np.int16))
    for data in ("real.npz", "ints.npz"):
        res = edgec("test", path, "--inputs", tmp_path / data, "--out", tmp_path / f"out_{data}", timeout=600)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "TFLM" in res.stdout, res.stdout


ALL_INT16 = [[np.arange(-32768, 32768, dtype=np.int16).reshape(1, 256, 256)]]


@pytest.mark.parametrize("kind,in_scale", [("LOGISTIC", 2.0**-12), ("LOGISTIC", 0.0003), ("LOGISTIC", 1.1e-5),
                                           ("LOGISTIC", 0.002), ("TANH", 2.0**-12), ("TANH", 2.0**-11),
                                           ("TANH", 0.00041), ("TANH", 3e-6), ("TANH", 2.0**-10)])
def test_logistic_tanh_s16_every_input(tmp_path, kind, in_scale):
    """Every int16 input value (one sample of 65,536) through TFLM's table interpolation, power-of-two input scales
    (the fixed multipliers) and others (the rescale TFLM's Prepare computes)."""
    model = one_op(kind, (1, 256, 256), np.int16, np.int16, (in_scale, 0), (2.0**-15, 0))
    res = run_three_ways(model, tmp_path, inputs=ALL_INT16)
    assert_bit_exact(res)
    assert np.unique(res["tflm"][0][0]).size > 1000  # large input scales saturate part of the range, by design


def test_sigmoid_table_same_in_c_and_python():
    """runtime/logistic_tanh_s16.c and toolchain/ops/logistic_tanh.py hold the same sigmoid table."""
    import re
    from pathlib import Path

    from edgec.ops.logistic_tanh import SIGMOID_TABLE

    text = (Path(__file__).parents[2] / "runtime" / "logistic_tanh_s16.c").read_text()
    body = text[text.index("sigmoid_table[256] = {"):]
    values = [int(v) for v in re.findall(r"\d+", body[body.index("{"):body.index("};")])]
    assert values == SIGMOID_TABLE.tolist()
    # the table is sigmoid(i/24) in 0.16 to within one unit (a wrong entry would be further off)
    exact = 65536 / (1 + np.exp(-np.arange(256) / 24))
    assert np.abs(SIGMOID_TABLE - exact).max() < 1.2


@pytest.mark.parametrize("shape1,shape2,scales,act,const", [
    ((1, 5, 7, 3), (1, 5, 7, 3), (0.0003, 0.0005, 0.0025), "NONE", None),
    ((2, 3, 11), (11,), (0.0009, 0.0002, 0.0029), "RELU", None),
    ((1, 4, 4, 6), (1, 1, 1, 6), (0.0004, 0.0004, 0.0028), "RELU6", 1),
    ((7, 1, 5), (1, 3, 1), (0.001, 0.0001, 0.0017), "NONE", None),
    ((3, 1, 5), (1, 3, 1), (0.001, 0.0001, 5e-8), "NONE", None),  # a multiplier of 2: a left shift (saturates)
])
def test_mul_s16(tmp_path, shape1, shape2, scales, act, const):
    model = binary_s16("MUL", "MulOptions", shape1, shape2, scales, act, const, len(shape1) + len(shape2))
    res = run_three_ways(model, tmp_path)
    assert_bit_exact(res)
    if scales[2] > scales[0] * scales[1]:
        assert np.unique(np.concatenate([o[0].reshape(-1) for o in res["tflm"]])).size > 20


@pytest.mark.parametrize("shape,in_scale,beta", [((1, 10), 0.0005, 1.0), ((3, 7, 13), 0.0002, 1.0),
                                                 ((2, 301), 0.001, 0.7), ((4, 5), 1.5e-5, 2.0), ((1, 1), 0.001, 1.0)])
def test_softmax_s16(tmp_path, shape, in_scale, beta):
    model = one_op("SOFTMAX", shape, np.int16, np.int16, (in_scale, 0), (1.0 / 32768, 0), None, "SoftmaxOptions",
                   beta=beta)
    res = run_three_ways(model, tmp_path)
    assert_bit_exact(res)
    if shape[-1] > 1:
        assert np.unique(np.concatenate([s[0].reshape(-1) for s in res["tflm"]])).size > 5


@pytest.mark.parametrize("kind,filt,stride,padding,act", [("AVERAGE_POOL_2D", 3, 2, "SAME", "NONE"),
                                                          ("AVERAGE_POOL_2D", 2, 2, "VALID", "RELU"),
                                                          ("MAX_POOL_2D", 3, 2, "SAME", "RELU6"),
                                                          ("MAX_POOL_2D", 2, 1, "VALID", "NONE"),
                                                          ("AVERAGE_POOL_2D", 5, 1, "SAME", "NONE")])
def test_pool_s16(tmp_path, kind, filt, stride, padding, act):
    h, w, c = 9, 8, 5
    oh, ow = conv_out_hw(h, w, (filt, filt), stride, 1, padding)
    model = one_op(kind, (1, h, w, c), np.int16, np.int16, (0.0004, 0), (0.0004, 0), (1, oh, ow, c),
                   "Pool2DOptions", padding=0 if padding == "SAME" else 1, strideH=stride, strideW=stride,
                   filterHeight=filt, filterWidth=filt, fusedActivationFunction=ACT[act])
    checked(run_three_ways(model, tmp_path))


def test_transpose_s16(tmp_path):
    b = ModelBuilder()
    x = b.input("x", (1, 3, 5, 7), np.int16, S_X, 0)
    y = b.activation("y", (1, 7, 3, 5), np.int16, S_X, 0)
    b.op("TRANSPOSE", [x, b.const("perm", np.asarray([0, 3, 1, 2], np.int32))], [y], "TransposeOptions")
    b.output(y)
    checked(run_three_ways(b.build(), tmp_path))


def test_int32_bias_and_int8_zero_point_refused(tmp_path):
    """A 16x8 conv with an int32 bias (the converter's non-default quantized_bias_type: TFLM would rescale it with
    another rounding) and one with a non-zero int16 zero point: refused, each rule named, exit 2."""
    from edgec import driver
    from edgec.errors import EdgecError

    rng = np.random.default_rng(0)
    for bias_dtype, zp in ((np.int32, 0), (np.int64, 5)):
        b = ModelBuilder()
        x = b.input("x", (1, 5, 5, 2), np.int16, S_X, zp)
        wt, w_scale = weights(b, rng, (3, 3, 3, 2), 0, 3)
        bt = b.const("b", np.zeros(3, bias_dtype), scale=(S_X * w_scale).astype(np.float32),
                     zero_point=np.zeros(3, np.int64))
        y = b.activation("y", (1, 5, 5, 3), np.int16, 0.001, 0)
        conv_op(b, [x, wt, bt], y, 1, 1, "SAME", "NONE")
        b.output(y)
        path = tmp_path / f"bad_{bias_dtype.__name__}.tflite"
        path.write_bytes(b.build())
        with pytest.raises(EdgecError) as e:
            driver.build(path, tmp_path / "out")
        assert e.value.code == 2
        rule = "constant int64 tensor" if bias_dtype == np.int32 else "zero point 0"
        assert "#0 CONV_2D (y)" in e.value.message and rule in e.value.message, e.value.message


@pytest.mark.parametrize("kind,in_scale,out_scale", [("RELU", 0.0004, 0.0004), ("RELU", 0.0004, 0.0011),
                                                     ("RELU", 0.0009, 0.0006), ("RELU6", 0.0004, 0.0004),
                                                     ("RELU6", 0.0004, 0.0007)])
def test_relu_s16(tmp_path, kind, in_scale, out_scale):
    model = one_op(kind, (2, 7, 11), np.int16, np.int16, (in_scale, 0), (out_scale, 0))
    checked(run_three_ways(model, tmp_path))


def test_concat_s16(tmp_path):
    b = ModelBuilder()
    xs = [b.input(f"x{k}", (1, 3, 4, c), np.int16, S_X, 0) for k, c in enumerate((2, 5, 1))]
    y = b.activation("y", (1, 3, 4, 8), np.int16, S_X, 0)
    b.op("CONCATENATION", xs, [y], "ConcatenationOptions", axis=3, fusedActivationFunction=0)
    b.output(y)
    checked(run_three_ways(b.build(), tmp_path))
