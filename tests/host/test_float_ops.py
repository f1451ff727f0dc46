"""Float32 kernels (`--dtype float32`) on one-op float .tflite models: edgec's C (ASan+UBSan) and numpy reference
against TFLite Micro's float kernels.

Sums (convolutions, FC, pooling, MEAN, SOFTMAX) must agree within the documented tolerance (docs/numerics.md,
"Float32": max |diff| <= 1e-5 of the output's largest magnitude); the C sums in TFLite's order, so on this host
it is usually bit-identical to TFLM, but that is not promised across compilers and libms. Ops that are one IEEE
operation per element (ADD, SUB, MUL, clamps, max pooling, copies) must be bit-identical everywhere.
"""

import numpy as np
import pytest
from oneop import ACT, PAD, ModelBuilder, assert_bit_exact, assert_float_close, conv_op, conv_out_hw, run_three_ways

from edgec import codegen, driver, host, reference, validate
from edgec.errors import InputError
from edgec.importers import import_model
from edgec.memory import plan_memory
from edgec.passes import canonicalize
from edgec.verifier import verify

F32 = np.float32


def samples(rng, shape, n=4, lo=-2.0, hi=2.0):
    return [[rng.uniform(lo, hi, size=shape).astype(F32)] for _ in range(n)]


def run_float(model: bytes, tmp_path, inputs) -> dict:
    return run_three_ways(model, tmp_path, dtype="float32", inputs=inputs)


def unary_model(opcode, shape, out_shape=None, options_type=None, extra_inputs=(), **options):
    b = ModelBuilder()
    x = b.input("x", shape, dtype=F32)
    ins = [x] + [b.const(f"c{k}", c) for k, c in enumerate(extra_inputs)]
    y = b.activation("y", out_shape or shape, dtype=F32)
    b.op(opcode, ins, [y], options_type, **options)
    b.output(y)
    return b.build()


def conv_model(rng, h, w, cin, cout, k, stride, dilation, padding, act, depthwise=False, mult=1, bias=True):
    b = ModelBuilder()
    x = b.input("x", (1, h, w, cin), dtype=F32)
    if depthwise:
        cout = cin * mult
    wshape = (1, k[0], k[1], cout) if depthwise else (cout, k[0], k[1], cin)
    wt = b.const("w", rng.normal(0, 0.5, size=wshape).astype(F32))
    ins = [wt]
    if bias:
        ins.append(b.const("b", rng.normal(0, 0.5, size=cout).astype(F32)))
    y = b.activation("y", (1, *conv_out_hw(h, w, k, stride, dilation, padding), cout), dtype=F32)
    conv_op(b, [x, *ins], y, stride, dilation, padding, act, depthwise, mult)
    b.output(y)
    return b.build()


@pytest.mark.parametrize("h,w,cin,cout,k,stride,dilation,padding,act", [
    (9, 7, 3, 5, (3, 3), 1, 1, "SAME", "RELU"),
    (10, 10, 4, 6, (5, 3), 2, 1, "SAME", "RELU6"),
    (11, 8, 2, 3, (3, 3), 2, 1, "VALID", "NONE"),
    (12, 12, 3, 4, (3, 3), 1, 2, "SAME", "RELU_N1_TO_1"),
    (6, 6, 32, 7, (1, 1), 1, 1, "VALID", "NONE"),
    (8, 5, 3, 2, (4, 4), 3, 1, "SAME", "NONE"),
])
def test_conv2d_f32(tmp_path, h, w, cin, cout, k, stride, dilation, padding, act):
    rng = np.random.default_rng(h * 100 + w)
    model = conv_model(rng, h, w, cin, cout, k, stride, dilation, padding, act)
    assert_float_close(run_float(model, tmp_path, samples(rng, (1, h, w, cin))))


def test_conv2d_f32_without_bias(tmp_path):
    rng = np.random.default_rng(3)
    model = conv_model(rng, 7, 7, 3, 4, (3, 3), 1, 1, "SAME", "NONE", bias=False)
    assert_float_close(run_float(model, tmp_path, samples(rng, (1, 7, 7, 3))))


def test_grouped_conv2d_f32(tmp_path):
    """weights [6, 3, 3, 2] on 4 input channels: 2 groups of 3 output channels"""
    rng = np.random.default_rng(6)
    b = ModelBuilder()
    x = b.input("x", (1, 6, 6, 4), dtype=F32)
    w = b.const("w", rng.normal(size=(6, 3, 3, 2)).astype(F32))
    bias = b.const("b", rng.normal(size=6).astype(F32))
    y = b.activation("y", (1, 6, 6, 6), dtype=F32)
    b.op("CONV_2D", [x, w, bias], [y], "Conv2DOptions", padding=0, strideH=1, strideW=1, dilationHFactor=1,
         dilationWFactor=1)
    b.output(y)
    assert_float_close(run_float(b.build(), tmp_path, samples(rng, (1, 6, 6, 4))))


@pytest.mark.parametrize("h,w,cin,mult,k,stride,dilation,padding,act", [
    (9, 7, 3, 1, (3, 3), 1, 1, "SAME", "RELU"),
    (10, 10, 4, 2, (5, 5), 2, 1, "SAME", "RELU6"),
    (11, 8, 2, 3, (3, 3), 2, 1, "VALID", "NONE"),
    (12, 12, 3, 1, (3, 3), 1, 2, "SAME", "NONE"),
])
def test_depthwise_conv2d_f32(tmp_path, h, w, cin, mult, k, stride, dilation, padding, act):
    rng = np.random.default_rng(h * 10 + mult)
    model = conv_model(rng, h, w, cin, 0, k, stride, dilation, padding, act, depthwise=True, mult=mult)
    assert_float_close(run_float(model, tmp_path, samples(rng, (1, h, w, cin))))


@pytest.mark.parametrize("in_shape,out_c,bias,act,keep", [
    ((1, 64), 10, True, "NONE", False),
    ((3, 40), 8, True, "RELU", False),
    ((2, 3, 16), 5, False, "RELU6", True),    # leading dims kept
    ((1, 2, 2, 12), 6, True, "NONE", False),  # flattened to [1, 48]
])
def test_fully_connected_f32(tmp_path, in_shape, out_c, bias, act, keep):
    rng = np.random.default_rng(out_c)
    depth = in_shape[-1] if keep else int(np.prod(in_shape[1:]))
    b = ModelBuilder()
    x = b.input("x", in_shape, dtype=F32)
    ins = [x, b.const("w", rng.normal(0, 0.3, size=(out_c, depth)).astype(F32))]
    if bias:
        ins.append(b.const("b", rng.normal(0, 0.3, size=out_c).astype(F32)))
    out_shape = (*in_shape[:-1], out_c) if keep else (int(np.prod(in_shape)) // depth, out_c)
    y = b.activation("y", out_shape, dtype=F32)
    b.op("FULLY_CONNECTED", ins, [y], "FullyConnectedOptions", fusedActivationFunction=ACT[act], keepNumDims=keep)
    b.output(y)
    assert_float_close(run_float(b.build(), tmp_path, samples(rng, in_shape)))


@pytest.mark.parametrize("kind,filt,stride,padding,act", [
    ("AVERAGE_POOL_2D", 3, 2, "SAME", "NONE"), ("AVERAGE_POOL_2D", 2, 2, "VALID", "RELU"),
    ("AVERAGE_POOL_2D", 5, 1, "SAME", "RELU6"), ("MAX_POOL_2D", 3, 2, "SAME", "NONE"),
    ("MAX_POOL_2D", 2, 1, "VALID", "RELU_N1_TO_1")])
def test_pool_f32(tmp_path, kind, filt, stride, padding, act):
    rng = np.random.default_rng(filt * 10 + stride)
    h, w, c = 9, 8, 5
    oh, ow = ((-(-h // stride), -(-w // stride)) if padding == "SAME"
              else ((h - filt) // stride + 1, (w - filt) // stride + 1))
    model = unary_model(kind, (1, h, w, c), (1, oh, ow, c), "Pool2DOptions", padding=PAD[padding], strideH=stride,
                        strideW=stride, filterHeight=filt, filterWidth=filt, fusedActivationFunction=ACT[act])
    results = run_float(model, tmp_path, samples(rng, (1, h, w, c), lo=-8, hi=8))
    if kind == "MAX_POOL_2D":
        assert_bit_exact(results)
    else:
        assert_float_close(results)


@pytest.mark.parametrize("shape,beta", [((1, 10), 1.0), ((4, 3, 7), 0.5), ((2, 100), 2.0)])
def test_softmax_f32(tmp_path, shape, beta):
    rng = np.random.default_rng(len(shape))
    model = unary_model("SOFTMAX", shape, None, "SoftmaxOptions", beta=beta)
    assert_float_close(run_float(model, tmp_path, samples(rng, shape, lo=-12, hi=12)))


@pytest.mark.parametrize("opcode", ["LOGISTIC", "TANH"])
def test_logistic_tanh_f32(tmp_path, opcode):
    """Inputs over [-20, 20] cross LOGISTIC's cut-offs (-9: e^x, 16.6: 1) and TANH's saturation."""
    rng = np.random.default_rng(7)
    shape = (1, 8, 8, 4)
    xs = samples(rng, shape, lo=-20, hi=20)
    xs[0][0].reshape(-1)[:6] = [-9.0, -9.000001, 16.619047, 16.62, 0.0, -0.0]
    assert_float_close(run_float(unary_model(opcode, shape), tmp_path, xs))


@pytest.mark.parametrize("opcode,a,b,act", [
    ("ADD", (1, 4, 4, 3), (1, 4, 4, 3), "NONE"),
    ("ADD", (1, 4, 4, 3), (1, 1, 1, 3), "RELU6"),
    ("SUB", (2, 3, 1, 5), (1, 1, 4, 1), "RELU"),
    ("SUB", (1, 6), (6,), "RELU_N1_TO_1"),
    ("MUL", (1, 5, 5, 8), (1, 5, 5, 8), "NONE"),
    ("MUL", (3, 1, 4), (1, 2, 4), "RELU"),
])
def test_binary_f32_bit_exact(tmp_path, opcode, a, b, act):
    rng = np.random.default_rng(len(a) * 10 + len(b))
    out = tuple(int(d) for d in np.broadcast_shapes(a, b))
    mb = ModelBuilder()
    x1, x2 = mb.input("x1", a, dtype=F32), mb.input("x2", b, dtype=F32)
    y = mb.activation("y", out, dtype=F32)
    mb.op(opcode, [x1, x2], [y], f"{opcode.capitalize()}Options", fusedActivationFunction=ACT[act])
    mb.output(y)
    xs = [[rng.uniform(-4, 4, size=a).astype(F32), rng.uniform(-4, 4, size=b).astype(F32)] for _ in range(4)]
    assert_bit_exact(run_float(mb.build(), tmp_path, xs))


def test_add_f32_constant_operand(tmp_path):
    rng = np.random.default_rng(1)
    mb = ModelBuilder()
    x = mb.input("x", (1, 3, 3, 4), dtype=F32)
    c = mb.const("c", rng.normal(size=(4,)).astype(F32))
    y = mb.activation("y", (1, 3, 3, 4), dtype=F32)
    mb.op("ADD", [x, c], [y], "AddOptions")
    mb.output(y)
    assert_bit_exact(run_float(mb.build(), tmp_path, samples(rng, (1, 3, 3, 4))))


@pytest.mark.parametrize("shape,axes,keep", [
    ((1, 7, 7, 16), [1, 2], True), ((1, 7, 7, 16), [1, 2], False), ((2, 3, 4, 5), [3], False),
    ((2, 3, 4, 5), [0, 2], True), ((3, 20), [-1], False)])
def test_mean_f32(tmp_path, shape, axes, keep):
    rng = np.random.default_rng(len(axes))
    out = tuple(1 if i in [a % len(shape) for a in axes] else d for i, d in enumerate(shape)) if keep else tuple(
        d for i, d in enumerate(shape) if i not in [a % len(shape) for a in axes])
    model = unary_model("MEAN", shape, out, "ReducerOptions", extra_inputs=[np.array(axes, dtype=np.int32)],
                        keepDims=keep)
    assert_float_close(run_float(model, tmp_path, samples(rng, shape)))


@pytest.mark.parametrize("opcode,value", [("PAD", None), ("PADV2", -1.5)])
def test_pad_f32(tmp_path, opcode, value):
    rng = np.random.default_rng(2)
    shape, pads = (1, 4, 5, 3), [[0, 0], [1, 2], [2, 0], [0, 1]]
    out = tuple(d + a + b for d, (a, b) in zip(shape, pads))
    extra = [np.array(pads, dtype=np.int32)] + ([np.array([value], dtype=F32)] if value is not None else [])
    model = unary_model(opcode, shape, out, {"PAD": "PadOptions", "PADV2": "PadV2Options"}[opcode], extra_inputs=extra)
    assert_bit_exact(run_float(model, tmp_path, samples(rng, shape)))


@pytest.mark.parametrize("axis", [3, 1, -1])
def test_concat_f32(tmp_path, axis):
    rng = np.random.default_rng(axis + 5)
    shapes = [(1, 3, 4, 2), (1, 3, 4, 5)] if axis % 4 == 3 else [(1, 2, 4, 3), (1, 5, 4, 3)]
    out = list(shapes[0])
    out[axis] = shapes[0][axis] + shapes[1][axis]
    mb = ModelBuilder()
    xs = [mb.input(f"x{k}", s, dtype=F32) for k, s in enumerate(shapes)]
    y = mb.activation("y", tuple(out), dtype=F32)
    mb.op("CONCATENATION", xs, [y], "ConcatenationOptions", axis=axis)
    mb.output(y)
    data = [[rng.normal(size=s).astype(F32) for s in shapes] for _ in range(3)]
    assert_bit_exact(run_float(mb.build(), tmp_path, data))


@pytest.mark.parametrize("opcode", ["RELU", "RELU6"])
def test_relu_f32(tmp_path, opcode):
    rng = np.random.default_rng(4)
    shape = (1, 6, 6, 3)
    assert_bit_exact(run_float(unary_model(opcode, shape), tmp_path, samples(rng, shape, lo=-8, hi=8)))


def test_relu_n1_to_1_f32_vs_litert(tmp_path):
    """TFLM has no RELU_N1_TO_1 kernel: LiteRT's reference kernels are the oracle."""
    if not reference.litert_available():
        pytest.skip("LiteRT (ai-edge-litert) is not installed")
    rng = np.random.default_rng(5)
    shape = (1, 6, 6, 3)
    path = tmp_path / "relu.tflite"
    path.write_bytes(unary_model("RELU_N1_TO_1", shape))
    b = driver.build(path, tmp_path / "out", conversion=driver.Conversion(dtype="float32"))
    xs = samples(rng, shape, lo=-3, hi=3)
    ours = validate.split_outputs(host.run(host.build(b.out, b.sources, sanitize=True), xs), b.graph, len(xs))
    numpy = [[reference.run_numpy(b.graph, s)[b.graph.outputs[0]]] for s in xs]
    assert_bit_exact(dict(tflm=reference.run_litert(path, xs), numpy=numpy, c=ours))


def small_float_net(rng) -> bytes:
    """conv -> depthwise -> avg pool -> reshape -> fc -> softmax: a float32 model like the MLPerf ones."""
    b = ModelBuilder()
    x = b.input("x", (1, 12, 12, 2), dtype=F32)
    w1 = b.const("w1", rng.normal(0, 0.4, size=(6, 3, 3, 2)).astype(F32))
    b1 = b.const("b1", rng.normal(0, 0.1, size=6).astype(F32))
    h1 = b.activation("h1", (1, 6, 6, 6), dtype=F32)
    b.op("CONV_2D", [x, w1, b1], [h1], "Conv2DOptions", padding=0, strideH=2, strideW=2, dilationHFactor=1,
         dilationWFactor=1, fusedActivationFunction=1)
    w2 = b.const("w2", rng.normal(0, 0.4, size=(1, 3, 3, 6)).astype(F32))
    b2 = b.const("b2", rng.normal(0, 0.1, size=6).astype(F32))
    h2 = b.activation("h2", (1, 6, 6, 6), dtype=F32)
    b.op("DEPTHWISE_CONV_2D", [h1, w2, b2], [h2], "DepthwiseConv2DOptions", padding=0, strideH=1, strideW=1,
         depthMultiplier=1, dilationHFactor=1, dilationWFactor=1, fusedActivationFunction=3)
    h3 = b.activation("h3", (1, 1, 1, 6), dtype=F32)
    b.op("AVERAGE_POOL_2D", [h2], [h3], "Pool2DOptions", padding=1, strideH=6, strideW=6, filterHeight=6,
         filterWidth=6)
    h4 = b.activation("h4", (1, 6), dtype=F32)
    b.op("RESHAPE", [h3], [h4])
    w3 = b.const("w3", rng.normal(0, 0.5, size=(4, 6)).astype(F32))
    h5 = b.activation("h5", (1, 4), dtype=F32)
    b.op("FULLY_CONNECTED", [h4, w3], [h5], "FullyConnectedOptions")
    y = b.activation("y", (1, 4), dtype=F32)
    b.op("SOFTMAX", [h5], [y], "SoftmaxOptions", beta=1.0)
    b.output(y)
    return b.build()


def test_small_float_net(tmp_path):
    rng = np.random.default_rng(11)
    assert_float_close(run_float(small_float_net(rng), tmp_path, samples(rng, (1, 12, 12, 2), n=6)))


def test_float_graph_straight_from_the_importer(tmp_path):
    """The float IR the importer writes goes through canonicalize, plan_memory and emit_c as it is, compiles
    with -Werror and runs: float model.h types, float weights, float I/O bytes."""
    rng = np.random.default_rng(12)
    path = tmp_path / "net.tflite"
    path.write_bytes(small_float_net(rng))
    g = verify(canonicalize(verify(import_model(path))))
    assert all(g.t(t).dtype == "float32" for t in [*g.inputs, *g.outputs])
    out = tmp_path / "out"
    sources = codegen.emit_c(g, plan_memory(g), out)
    header = (out / "model.h").read_text()
    assert "float *edgec_net_input(int32_t index);" in header and "float *edgec_net_output" in header
    assert "const float " in (out / "weights.c").read_text()
    assert "_f32" in (out / "model.c").read_text() and "_s8" not in (out / "model.c").read_text()
    exe = host.build(out, sources, sanitize=True)
    xs = [[rng.uniform(-1, 1, size=(1, 12, 12, 2)).astype(F32)] for _ in range(3)]
    ours = validate.split_outputs(host.run(exe, xs), g, len(xs))
    tflm, _ = reference.run_tflm(path, xs)
    for a, b in zip(ours, tflm):
        assert a[0].dtype == np.float32
        np.testing.assert_allclose(a[0], b[0], rtol=0, atol=1e-5 * float(np.abs(b[0]).max()))


def test_float_section_inside_an_int8_model(tmp_path):
    """int8 -> DEQUANTIZE -> LOGISTIC in float -> QUANTIZE -> int8 (an op the converter left in float): the int8
    output equals TFLM's to the bit."""
    b = ModelBuilder()
    x = b.input("x", (1, 64), scale=0.05, zero_point=3)
    f = b.activation("f", (1, 64), dtype=F32)
    b.op("DEQUANTIZE", [x], [f])
    s = b.activation("s", (1, 64), dtype=F32)
    b.op("LOGISTIC", [f], [s])
    y = b.activation("y", (1, 64), scale=1 / 256, zero_point=-128)
    b.op("QUANTIZE", [s], [y])
    b.output(y)
    assert_bit_exact(run_three_ways(b.build(), tmp_path, dtype="float32"))


def test_float_model_needs_dtype_or_calibration(tmp_path):
    """Without --dtype float32 (or calibration data) a float model is one clear input error."""
    path = tmp_path / "net.tflite"
    path.write_bytes(small_float_net(np.random.default_rng(0)))
    with pytest.raises(InputError, match="float model"):
        driver.build(path, tmp_path / "out")


def test_hybrid_model_is_rejected(tmp_path):
    """int8 weights read by a float operator (dynamic-range quantization) are refused as a whole, clearly."""
    b = ModelBuilder()
    x = b.input("x", (1, 8), dtype=F32)
    w = b.const("w", np.ones((4, 8), dtype=np.int8), scale=0.1, zero_point=0)
    y = b.activation("y", (1, 4), dtype=F32)
    b.op("FULLY_CONNECTED", [x, w], [y], "FullyConnectedOptions")
    b.output(y)
    path = tmp_path / "hybrid.tflite"
    path.write_bytes(b.build())
    with pytest.raises(InputError, match="hybrid"):
        import_model(path)
