"""CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and pooling on shapes no MLPerf model has: bit-exact vs TFLM."""

import numpy as np
import pytest
from oneop import ACT, PAD, ModelBuilder, assert_bit_exact, conv_op, conv_out_hw, run_three_ways


def conv_model(rng, h, w, cin, cout, k, stride, dilation, padding, act, depthwise=False, mult=1, per_channel=True):
    b = ModelBuilder()
    x = b.input("x", (1, h, w, cin), scale=0.03, zero_point=int(rng.integers(-20, 20)))
    if depthwise:
        cout = cin * mult
        wshape = (1, k[0], k[1], cout)
    else:
        wshape = (cout, k[0], k[1], cin)
    weights = rng.integers(-127, 128, size=wshape, dtype=np.int8)
    n_scales = cout if per_channel else 1
    w_scale = rng.uniform(0.002, 0.02, size=n_scales).astype(np.float32)
    wt = b.const("w", weights, scale=w_scale, zero_point=np.zeros(n_scales, np.int64), axis=3 if depthwise else 0)
    bias = rng.integers(-2000, 2000, size=cout).astype(np.int32)
    bt = b.const("b", bias, scale=(0.03 * w_scale).astype(np.float32), zero_point=np.zeros(n_scales, np.int64))
    y = b.activation("y", (1, *conv_out_hw(h, w, k, stride, dilation, padding), cout), scale=0.05,
                     zero_point=int(rng.integers(-10, 10)))
    conv_op(b, [x, wt, bt], y, stride, dilation, padding, act, depthwise, mult)
    b.output(y)
    return b.build()


@pytest.mark.parametrize("h,w,cin,cout,k,stride,dilation,padding,act", [
    (9, 7, 3, 5, (3, 3), 1, 1, "SAME", "RELU"),
    (10, 10, 4, 6, (5, 3), 2, 1, "SAME", "RELU6"),
    (11, 8, 2, 3, (3, 3), 2, 1, "VALID", "NONE"),
    (12, 12, 3, 4, (3, 3), 1, 2, "SAME", "RELU_N1_TO_1"),
    (6, 6, 8, 7, (1, 1), 1, 1, "VALID", "NONE"),
    (8, 5, 3, 2, (4, 4), 3, 1, "SAME", "NONE"),
])
def test_conv2d(tmp_path, h, w, cin, cout, k, stride, dilation, padding, act):
    rng = np.random.default_rng(h * 100 + w)
    assert_bit_exact(run_three_ways(conv_model(rng, h, w, cin, cout, k, stride, dilation, padding, act), tmp_path))


@pytest.mark.parametrize("h,w,cin,mult,k,stride,dilation,padding,act", [
    (9, 7, 3, 1, (3, 3), 1, 1, "SAME", "RELU"),
    (10, 10, 4, 2, (5, 5), 2, 1, "SAME", "RELU6"),
    (11, 8, 2, 3, (3, 3), 2, 1, "VALID", "NONE"),
    (12, 12, 3, 1, (3, 3), 1, 2, "SAME", "NONE"),
])
def test_depthwise_conv2d(tmp_path, h, w, cin, mult, k, stride, dilation, padding, act):
    rng = np.random.default_rng(h * 10 + mult)
    model = conv_model(rng, h, w, cin, 0, k, stride, dilation, padding, act, depthwise=True, mult=mult)
    assert_bit_exact(run_three_ways(model, tmp_path))


def test_conv2d_per_tensor_weights(tmp_path):
    rng = np.random.default_rng(5)
    model = conv_model(rng, 7, 7, 3, 4, (3, 3), 1, 1, "SAME", "NONE", per_channel=False)
    assert_bit_exact(run_three_ways(model, tmp_path))


@pytest.mark.parametrize("kind,filt,stride,padding", [("AVERAGE_POOL_2D", 3, 2, "SAME"),
                                                        ("AVERAGE_POOL_2D", 2, 2, "VALID"),
                                                        ("MAX_POOL_2D", 3, 2, "SAME"), ("MAX_POOL_2D", 2, 1, "VALID"),
                                                        ("AVERAGE_POOL_2D", 5, 1, "SAME")])
def test_pool(tmp_path, kind, filt, stride, padding):
    b = ModelBuilder()
    h, w, c = 9, 8, 5
    x = b.input("x", (1, h, w, c), scale=0.1, zero_point=3)
    oh = -(-h // stride) if padding == "SAME" else (h - filt) // stride + 1
    ow = -(-w // stride) if padding == "SAME" else (w - filt) // stride + 1
    y = b.activation("y", (1, oh, ow, c), scale=0.1, zero_point=3)
    b.op(kind, [x], [y], "Pool2DOptions", padding=PAD[padding], strideH=stride, strideW=stride, filterHeight=filt,
         filterWidth=filt, fusedActivationFunction=ACT["RELU"])
    b.output(y)
    assert_bit_exact(run_three_ways(b.build(), tmp_path))


@pytest.mark.parametrize("per_channel", [False, True])
def test_fully_connected(tmp_path, per_channel):
    rng = np.random.default_rng(7)
    b = ModelBuilder()
    x = b.input("x", (2, 3, 10), scale=0.04, zero_point=-5)
    n = 6 if per_channel else 1
    w_scale = rng.uniform(0.002, 0.02, size=n).astype(np.float32)
    wt = b.const("w", rng.integers(-127, 128, size=(6, 10), dtype=np.int8), scale=w_scale,
                 zero_point=np.zeros(n, np.int64))
    bt = b.const("b", rng.integers(-500, 500, size=6).astype(np.int32), scale=(0.04 * w_scale).astype(np.float32),
                 zero_point=np.zeros(n, np.int64))
    y = b.activation("y", (6, 6), scale=0.03, zero_point=2)
    b.op("FULLY_CONNECTED", [x, wt, bt], [y], "FullyConnectedOptions", fusedActivationFunction=ACT["RELU"])
    b.output(y)
    assert_bit_exact(run_three_ways(b.build(), tmp_path))
