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
               groups=1):
    b = ModelBuilder()
    x = b.input("x", (1, h, w, cin), np.int16, S_X, 0)
    if depthwise:
        cout = cin * mult
        wt, w_scale = weights(b, rng, (1, k[0], k[1], cout), 3, cout)
        taps = k[0] * k[1]
    else:
        wt, w_scale = weights(b, rng, (cout, k[0], k[1], cin // groups), 0, cout)
        taps = k[0] * k[1] * cin // groups
    bt = bias64(b, rng, cout, w_scale, big_bias)
    y = b.activation("y", (1, *conv_out_hw(h, w, k, stride, dilation, padding), cout), np.int16,
                     out_scale(w_scale, taps), 0)
    conv_op(b, [x, wt, bt], y, stride, dilation, padding, act, depthwise, mult)
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


def test_conv2d_s16_bias_past_int32(tmp_path):
    """A bias beyond the int32 range (only the int64 accumulator holds it): outputs saturate the same way."""
    rng = np.random.default_rng(3)
    model = conv_model(rng, 5, 6, 3, 4, (3, 3), 1, 1, "SAME", "NONE", big_bias=True)
    assert_bit_exact(run_three_ways(model, tmp_path))
