"""int4 weights (TFLite's INT4 tensors, packed two per byte) on CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED:
TFLM, edgec's numpy reference and the generated C (ASan/UBSan) agree at 0 LSB; the flash holds the packed bytes.
A per-channel int4 FULLY_CONNECTED, which TFLM refuses, runs in edgec: checked against edgec's numpy reference and
against TFLM on the same weights stored as int8."""

import numpy as np
import pytest
from oneop import ACT, ModelBuilder, assert_bit_exact, conv_op, conv_out_hw, run_three_ways

from edgec import driver, host, reference, validate
from edgec.data import random_inputs
from edgec.errors import ToolchainError
from edgec.int4 import pack_int4, unpack_int4
from edgec.kernels import select_kernels
from edgec.ops.base import KernelTarget


def test_pack_order_and_sign():
    """TFLite's order: element 2k in the low nibble, 2k+1 in the high nibble; an odd count half-fills the last
    byte; nibbles 8..15 are -8..-1."""
    values = np.array([1, -1, -8, 7, 0, -3, 5], dtype=np.int8)
    packed = pack_int4(values)
    assert packed.tolist() == [0xF1, 0x78, 0xD0, 0x05]
    np.testing.assert_array_equal(unpack_int4(packed, values.size), values)
    every = np.arange(-8, 8, dtype=np.int8)
    np.testing.assert_array_equal(unpack_int4(pack_int4(every), 16), every)
    with pytest.raises(ValueError):
        pack_int4(np.array([8]))


def int4_conv_model(rng, h, w, cin, cout, k, stride, padding, act, depthwise=False, mult=1, dilation=1,
                    int4=True):
    b = ModelBuilder()
    x = b.input("x", (1, h, w, cin), scale=0.03, zero_point=int(rng.integers(-20, 20)))
    if depthwise:
        cout = cin * mult
    wshape = (1, k[0], k[1], cout) if depthwise else (cout, k[0], k[1], cin)
    weights = rng.integers(-8, 8, size=wshape, dtype=np.int8)
    w_scale = rng.uniform(0.02, 0.2, size=cout).astype(np.float32)
    wt = b.const("w", weights, scale=w_scale, axis=3 if depthwise else 0, int4=int4)
    bt = b.const("b", rng.integers(-300, 300, size=cout).astype(np.int32), scale=(0.03 * w_scale).astype(np.float32))
    y = b.activation("y", (1, *conv_out_hw(h, w, k, stride, dilation, padding), cout), scale=0.05,
                     zero_point=int(rng.integers(-10, 10)))
    conv_op(b, [x, wt, bt], y, stride, dilation, padding, act, depthwise, mult)
    b.output(y)
    return b.build(), weights


def int4_fc_model(rng, batches, depth, units, per_channel, int4=True):
    b = ModelBuilder()
    x = b.input("x", (batches, depth), scale=0.04, zero_point=-5)
    n = units if per_channel else 1
    w_scale = rng.uniform(0.02, 0.2, size=n).astype(np.float32)
    weights = rng.integers(-8, 8, size=(units, depth), dtype=np.int8)
    wt = b.const("w", weights, scale=w_scale, int4=int4)
    bt = b.const("b", rng.integers(-300, 300, size=units).astype(np.int32), scale=(0.04 * w_scale).astype(np.float32))
    y = b.activation("y", (batches, units), scale=0.06, zero_point=2)
    b.op("FULLY_CONNECTED", [x, wt, bt], [y], "FullyConnectedOptions", fusedActivationFunction=ACT["RELU"])
    b.output(y)
    return b.build(), weights


def assert_packed_in_flash(out, weights):
    """weights.c holds the weights as ceil(n/2) uint8 bytes, TFLite's packing; the layer calls an _s4 kernel."""
    text = (out / "weights.c").read_text()
    n = (weights.size + 1) // 2
    decl = next(line for line in text.splitlines() if line.startswith("const uint8_t") and f"[{n}]" in line)
    start = text.index(decl) + len(decl)
    body = text[start:text.index("};", start)]
    got = np.array([int(v) for v in body.replace("\n", " ").split(",") if v.strip()], dtype=np.uint8)
    np.testing.assert_array_equal(got, pack_int4(weights))
    assert "_s4(&" in (out / "model.c").read_text()


@pytest.mark.parametrize("h,w,cin,cout,k,stride,padding,act", [
    (9, 7, 3, 5, (3, 3), 2, "SAME", "RELU"),      # 135 weights: the last byte half-filled
    (10, 9, 3, 3, (3, 3), 2, "VALID", "NONE"),    # 81 weights, odd channel counts
    (7, 7, 4, 6, (5, 3), 1, "SAME", "RELU6"),
    (6, 6, 7, 5, (1, 1), 1, "VALID", "NONE"),     # pointwise: never in place with int4
])
def test_conv2d_int4(tmp_path, h, w, cin, cout, k, stride, padding, act):
    rng = np.random.default_rng(h * 100 + w + cout)
    model, weights = int4_conv_model(rng, h, w, cin, cout, k, stride, padding, act)
    assert_bit_exact(run_three_ways(model, tmp_path))
    assert_packed_in_flash(tmp_path / "out", weights)


def test_conv2d_int4_dilated(tmp_path):
    rng = np.random.default_rng(3)
    model, _ = int4_conv_model(rng, 11, 9, 3, 4, (3, 3), 1, "SAME", "NONE", dilation=2)
    assert_bit_exact(run_three_ways(model, tmp_path))


@pytest.mark.parametrize("h,w,cin,mult,k,stride,padding,act", [
    (9, 7, 3, 1, (3, 3), 1, "SAME", "RELU"),      # 27 weights: odd
    (10, 10, 5, 2, (3, 3), 2, "SAME", "RELU6"),   # multiplier 2, stride 2
    (11, 8, 3, 2, (5, 5), 2, "VALID", "NONE"),    # 150 weights
    (8, 8, 7, 1, (3, 3), 2, "VALID", "NONE"),     # 63 weights: odd, odd channels
])
def test_depthwise_conv2d_int4(tmp_path, h, w, cin, mult, k, stride, padding, act):
    rng = np.random.default_rng(h * 10 + mult + cin)
    model, weights = int4_conv_model(rng, h, w, cin, 0, k, stride, padding, act, depthwise=True, mult=mult)
    assert_bit_exact(run_three_ways(model, tmp_path))
    assert_packed_in_flash(tmp_path / "out", weights)


@pytest.mark.parametrize("batches,depth,units", [(1, 7, 5), (2, 10, 6), (1, 33, 9)])
def test_fully_connected_int4_per_tensor(tmp_path, batches, depth, units):
    rng = np.random.default_rng(depth)
    model, weights = int4_fc_model(rng, batches, depth, units, per_channel=False)
    assert_bit_exact(run_three_ways(model, tmp_path))
    assert_packed_in_flash(tmp_path / "out", weights)


def test_fully_connected_int4_per_channel(tmp_path):
    """TFLM refuses a per-channel int4 FULLY_CONNECTED; edgec runs it: its C equals its numpy reference, and both
    equal TFLM on the same model with the weights stored as int8 (TFLM takes per-channel int8 FC)."""
    rng = np.random.default_rng(11)
    model, weights = int4_fc_model(rng, 2, 13, 7, per_channel=True)
    same_int8, _ = int4_fc_model(np.random.default_rng(11), 2, 13, 7, per_channel=True, int4=False)
    path, path8 = tmp_path / "fc4.tflite", tmp_path / "fc8.tflite"
    path.write_bytes(model)
    path8.write_bytes(same_int8)
    b = driver.build(path, tmp_path / "out")
    xs = random_inputs(b.graph, 6, 0)
    with pytest.raises(ToolchainError, match="refused"):
        reference.run_tflm(path, xs)
    tflm8, _ = reference.run_tflm(path8, xs)
    ours_np = [[reference.run_numpy(b.graph, s)[o] for o in b.graph.outputs] for s in xs]
    ours_c = validate.split_outputs(host.run(host.build(b.out, b.sources, sanitize=True), xs), b.graph, len(xs))
    assert_bit_exact(dict(tflm=tflm8, numpy=ours_np, c=ours_c))
    assert_packed_in_flash(b.out, weights)


def test_int4_layers_keep_portable_kernel_and_get_scratch(tmp_path):
    """On a DSP core the int4 layers keep their _s4 kernel (no DSP kernel reads int4); the memory plan reserves the
    row buffer (one output channel's weights) as the layer's scratch; the flash counts the packed bytes."""
    rng = np.random.default_rng(2)
    model, weights = int4_conv_model(rng, 8, 8, 3, 5, (3, 3), 1, "SAME", "NONE")
    path = tmp_path / "c.tflite"
    path.write_bytes(model)
    b = driver.build(path, tmp_path / "out")
    g = b.graph
    select_kernels(g, KernelTarget(core="cortex-m4", dsp=True))
    assert all("kernel_choice" not in op.attrs for op in g.ops)
    op = g.ops[0]
    assert b.plan.scratch_offset(op.name) >= 0
    from edgec.ops import REGISTRY

    assert REGISTRY[op.type].scratch_bytes(op, g, in_place=False) == 3 * 3 * 3
    assert g.t(op.inputs[1]).nbytes == (weights.size + 1) // 2
    report = b.report
    assert report["layers"][0]["kernel"] == "edgec_conv2d_s4"
