"""TRANSPOSE_CONV on int8 vs TFLM at 0 LSB: per-channel and per-tensor weights, strides 1 to 3, SAME and VALID
padding (TFLM derives it from the output size), odd and even kernels, with and without bias, fused
activations, and output sizes that leave part of the scatter out (the kernel gathers instead of scattering)."""

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact, assert_float_close, run_three_ways

PAD = {"SAME": 0, "VALID": 1}
ACT = {"NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}


def conv_transpose_model(rng, n, h, w, cin, cout, k, stride, padding, out_hw, act="NONE", bias=True,
                         per_channel=True):
    b = ModelBuilder()
    x = b.input("x", (n, h, w, cin), scale=0.04, zero_point=int(rng.integers(-30, 30)))
    shape = b.const("output_shape", np.array([n, *out_hw, cout], dtype=np.int32))
    n_scales = cout if per_channel else 1
    w_scale = rng.uniform(0.002, 0.02, size=n_scales).astype(np.float32)
    wt = b.const("w", rng.integers(-127, 128, size=(cout, k[0], k[1], cin), dtype=np.int8), scale=w_scale,
                 zero_point=np.zeros(n_scales, np.int64), axis=0)
    inputs = [shape, wt, x]
    if bias:
        inputs.append(b.const("b", rng.integers(-3000, 3000, size=cout).astype(np.int32),
                              scale=(0.04 * w_scale).astype(np.float32), zero_point=np.zeros(n_scales, np.int64)))
    y = b.activation("y", (n, *out_hw, cout), scale=0.06, zero_point=int(rng.integers(-20, 20)))
    b.op("TRANSPOSE_CONV", inputs, [y], "TransposeConvOptions", padding=PAD[padding], strideH=stride[0],
         strideW=stride[1], fusedActivationFunction=ACT[act])
    b.output(y)
    return b.build()


@pytest.mark.parametrize("n,h,w,cin,cout,k,stride,padding,out_hw,act,bias,per_channel", [
    (1, 4, 4, 3, 5, (3, 3), (2, 2), "SAME", (8, 8), "NONE", True, True),       # the usual x2 upsampler
    (1, 5, 3, 4, 2, (2, 2), (2, 2), "VALID", (10, 6), "RELU", True, True),     # kernel == stride: no overlap
    (2, 3, 4, 2, 3, (4, 3), (3, 2), "VALID", (12, 9), "NONE", False, True),    # no bias, 2 batches
    (1, 6, 6, 3, 4, (3, 3), (1, 1), "SAME", (6, 6), "RELU6", True, False),     # stride 1, per-tensor weights
    (1, 4, 5, 2, 3, (5, 5), (2, 3), "SAME", (7, 14), "RELU_N1_TO_1", True, True),  # odd output sizes
    (1, 3, 3, 8, 6, (3, 3), (2, 2), "VALID", (7, 7), "NONE", True, True),
])
def test_conv_transpose(tmp_path, n, h, w, cin, cout, k, stride, padding, out_hw, act, bias, per_channel):
    rng = np.random.default_rng(h * 100 + w * 10 + cin)
    model = conv_transpose_model(rng, n, h, w, cin, cout, k, stride, padding, out_hw, act, bias, per_channel)
    assert_bit_exact(run_three_ways(model, tmp_path, samples=4))


@pytest.mark.parametrize("h,w,cin,cout,k,stride,padding,out_hw,act,bias", [
    (4, 4, 3, 5, (3, 3), (2, 2), "SAME", (8, 8), "NONE", True),
    (3, 4, 16, 3, (4, 3), (3, 2), "VALID", (12, 9), "RELU", False),
    (5, 5, 4, 4, (5, 5), (1, 1), "SAME", (5, 5), "RELU6", True),
])
def test_conv_transpose_f32(tmp_path, h, w, cin, cout, k, stride, padding, out_hw, act, bias):
    """float32 within the float tolerance of TFLM (the C adds the taps in TFLM's order: usually bit-identical)"""
    rng = np.random.default_rng(h * 10 + w)
    b = ModelBuilder()
    x = b.input("x", (1, h, w, cin), dtype=np.float32)
    shape = b.const("output_shape", np.array([1, *out_hw, cout], dtype=np.int32))
    inputs = [shape, b.const("w", rng.normal(0, 0.5, size=(cout, *k, cin)).astype(np.float32)), x]
    if bias:
        inputs.append(b.const("b", rng.normal(0, 0.5, size=cout).astype(np.float32)))
    y = b.activation("y", (1, *out_hw, cout), dtype=np.float32)
    b.op("TRANSPOSE_CONV", inputs, [y], "TransposeConvOptions", padding=PAD[padding], strideH=stride[0],
         strideW=stride[1], fusedActivationFunction=ACT[act])
    b.output(y)
    xs = [[rng.uniform(-2, 2, size=(1, h, w, cin)).astype(np.float32)] for _ in range(3)]
    assert_float_close(run_three_ways(b.build(), tmp_path, dtype="float32", inputs=xs))


def test_conv_transpose_output_shape_mismatch_is_one_clear_error(tmp_path):
    """an output_shape input that disagrees with the output tensor is reported, not silently trusted"""
    from edgec import driver
    from edgec.errors import UnsupportedError
    from edgec.modelbuilder import ModelBuilder as MB

    rng = np.random.default_rng(0)
    b = MB()
    x = b.input("x", (1, 3, 3, 2), scale=0.04, zero_point=0)
    shape = b.const("output_shape", np.array([1, 7, 7, 4], dtype=np.int32))
    wt = b.const("w", rng.integers(-127, 128, size=(4, 3, 3, 2), dtype=np.int8), scale=np.full(4, 0.01, np.float32),
                 zero_point=np.zeros(4, np.int64), axis=0)
    y = b.activation("y", (1, 6, 6, 4), scale=0.06, zero_point=0)
    b.op("TRANSPOSE_CONV", [shape, wt, x], [y], "TransposeConvOptions", padding=0, strideH=2, strideW=2)
    b.output(y)
    path = tmp_path / "m.tflite"
    path.write_bytes(b.build())
    with pytest.raises(UnsupportedError, match=r"output_shape input \[1, 7, 7, 4\] is not the output tensor's shape"):
        driver.build(path, tmp_path / "out")


@pytest.mark.parametrize("h,w,cin,cout,k,stride,pad,output_padding", [
    (4, 5, 3, 2, (3, 3), (2, 2), (1, 1), (1, 0)),
    (3, 3, 2, 4, (4, 2), (3, 1), (2, 0), (0, 0)),
])
def test_conv_transpose_explicit_pads_vs_torch(tmp_path, h, w, cin, cout, k, stride, pad, output_padding):
    """EXPLICIT padding (what the ONNX importer writes for `pads`) in float32 against PyTorch's
    conv_transpose2d, an independent implementation: out = (in - 1) * s - 2 * pad + k + output_padding."""
    torch = pytest.importorskip("torch")
    from edgec import codegen, host, reference, validate
    from edgec.ir import Graph, Op, Tensor
    from edgec.memory import plan_memory
    from edgec.passes import canonicalize
    from edgec.verifier import verify

    rng = np.random.default_rng(7)
    oh, ow = ((n - 1) * s - 2 * p + kk + op_ for n, s, p, kk, op_ in
              zip((h, w), stride, pad, k, output_padding))
    wt = rng.normal(0, 0.5, size=(cout, *k, cin)).astype(np.float32)
    bias = rng.normal(0, 0.5, size=cout).astype(np.float32)
    tensors = {"x": Tensor("x", (1, h, w, cin), "float32"), "w": Tensor("w", wt.shape, "float32", data=wt),
               "b": Tensor("b", bias.shape, "float32", data=bias), "y": Tensor("y", (1, oh, ow, cout), "float32")}
    op = Op(type="conv_transpose", name="ct", inputs=["x", "w", "b"], outputs=["y"],
            attrs=dict(padding="EXPLICIT", pad_top=pad[0], pad_left=pad[1], stride_h=stride[0], stride_w=stride[1]))
    g = verify(canonicalize(verify(Graph(name="ct", tensors=tensors, ops=[op], inputs=["x"], outputs=["y"]))))
    out = tmp_path / "out"
    sources = codegen.emit_c(g, plan_memory(g), out)
    xs = [[rng.uniform(-2, 2, size=(1, h, w, cin)).astype(np.float32)] for _ in range(2)]
    ours_c = validate.split_outputs(host.run(host.build(out, sources, sanitize=True), xs), g, len(xs))
    for s, x in enumerate(xs):
        theirs = torch.nn.functional.conv_transpose2d(
            torch.from_numpy(x[0].transpose(0, 3, 1, 2)), torch.from_numpy(wt.transpose(3, 0, 1, 2)),
            torch.from_numpy(bias), stride=stride, padding=pad, output_padding=output_padding).numpy()
        theirs = theirs.transpose(0, 2, 3, 1)
        np.testing.assert_allclose(ours_c[s][0].reshape(theirs.shape), theirs, rtol=0, atol=1e-5)
        np.testing.assert_allclose(reference.run_numpy(g, x)["y"], theirs, rtol=0, atol=1e-5)
