"""QUANTIZE (float32 -> int8/int16, int8 -> int8/int16/int32) and DEQUANTIZE (int8 -> float32): bit-exact vs
TFLM, float outputs compared bit for bit. Also the float interface (a float32 model input read by QUANTIZE)."""

from pathlib import Path

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact, run_three_ways

from edgec import driver, host, reference, validate
from edgec.errors import InputError


def one_op(kind, shape, in_dtype, out_dtype, in_q=None, out_q=None):
    b = ModelBuilder()
    x = b.input("x", shape, dtype=in_dtype, scale=in_q and in_q[0], zero_point=in_q and in_q[1])
    y = b.activation("y", shape, dtype=out_dtype, scale=out_q and out_q[0], zero_point=out_q and out_q[1])
    b.op(kind, [x], [y])
    b.output(y)
    return b.build()


def run_samples(model: bytes, tmp: Path, xs: list[list[np.ndarray]]) -> dict[str, list]:
    """Like oneop.run_three_ways, on given samples."""
    path = tmp / "model.tflite"
    path.write_bytes(model)
    b = driver.build(path, tmp / "out")
    g = b.graph
    tflm, _ = reference.run_tflm(path, xs)
    ours_np = [[reference.run_numpy(g, s)[o] for o in g.outputs] for s in xs]
    ours_c = validate.split_outputs(host.run(host.build(b.out, b.sources, sanitize=True), xs), g, len(xs))
    return dict(tflm=tflm, numpy=ours_np, c=ours_c)


@pytest.mark.parametrize("scale,zp", [(0.0625, 0), (0.0625, -17), (0.05, 3), (0.0123, -128), (0.3, 127),
                                      (1.0, 0), (2.5e-4, 60)])
@pytest.mark.parametrize("shape", [(1, 5, 4, 3), (33,)])
def test_quantize_float_to_int8(tmp_path, scale, zp, shape):
    model = one_op("QUANTIZE", shape, np.float32, np.int8, out_q=(scale, zp))
    assert_bit_exact(run_three_ways(model, tmp_path, samples=8))


@pytest.mark.parametrize("scale,zp", [(0.001, 0), (0.0625, -300), (3.0e-5, 1000)])
def test_quantize_float_to_int16(tmp_path, scale, zp):
    model = one_op("QUANTIZE", (2, 3, 7), np.float32, np.int16, out_q=(scale, zp))
    assert_bit_exact(run_three_ways(model, tmp_path, samples=8))


def test_quantize_rounding_ties(tmp_path):
    """std::round: halves go away from zero (not to even); 0.49999997 rounds down (no floor(x + 0.5) trap)."""
    scale, zp = 0.0625, 2
    steps = np.float32([0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.49999997, -0.49999997, 0.50000006, 1.4999999, 7.5,
                        -8.5, 124.5, -129.5, 125.5, -130.5, 0.0, -0.0, 3.0])
    expected = [1, -1, 2, -2, 3, -3, 0, 0, 1, 1, 8, -9, 125, -130, 126, -131, 0, 0, 3]
    x = (steps * np.float32(scale)).reshape(1, -1)  # exact: the scale is a power of two
    res = run_samples(one_op("QUANTIZE", x.shape, np.float32, np.int8, out_q=(scale, zp)), tmp_path, [[x]])
    assert_bit_exact(res)
    assert list(res["c"][0][0].reshape(-1)) == list(np.clip(np.array(expected) + zp, -128, 127))
    # the random inputs of the other tests hit exact ties too (a quarter of them sit half a step apart)


def test_quantize_out_of_int32_range(tmp_path):
    """|x / scale| >= 2^31, inf and NaN: TFLM's float->int32 cast is undefined behaviour there (x86 gives INT32_MIN,
    so host TFLM returns -128 even for +1e10; Arm saturates). edgec saturates, NaN -> zero point. C == numpy
    everywhere, and TFLM agrees on every element except those."""
    scale, zp = 0.0625, 3
    special = np.float32([1e10, -1e10, np.inf, -np.inf, np.nan, 3e9 * 0.0625, 1.5e9 * 0.0625, 100.0, -100.0])
    x = special.reshape(1, -1)
    res = run_samples(one_op("QUANTIZE", x.shape, np.float32, np.int8, out_q=(scale, zp)), tmp_path, [[x]])
    c, n, t = (res[k][0][0].reshape(-1).astype(np.int64) for k in ("c", "numpy", "tflm"))
    assert np.array_equal(c, n)
    assert list(c) == [127, -128, 127, -128, zp, 127, 127, 127, -128]
    undefined = np.array([True, False, True, False, True, True, False, False, False])
    assert np.array_equal(c[~undefined], t[~undefined])


@pytest.mark.parametrize("in_q,out_q", [
    ((0.05, 4), (0.05, 4)),  # identity
    ((0.05, 4), (0.05, -30)),  # zero point only
    ((0.05, -20), (0.02, 7)),  # scale up, saturates
    ((0.02, 30), (0.09, -60)),  # scale down
    ((0.0078125, -128), (0.003, 127)),
    ((1.7, 0), (0.001, 0)),  # big rescale (left shift)
])
def test_requantize_int8_to_int8(tmp_path, in_q, out_q):
    model = one_op("QUANTIZE", (2, 5, 3, 4), np.int8, np.int8, in_q=in_q, out_q=out_q)
    assert_bit_exact(run_three_ways(model, tmp_path, samples=8))


@pytest.mark.parametrize("out_dtype,out_q", [(np.int16, (0.0005, 0)), (np.int16, (0.0001, 12)),
                                             (np.int32, (0.0001, 0)), (np.int32, (1e-6, -5))])
def test_requantize_int8_to_wider(tmp_path, out_dtype, out_q):
    model = one_op("QUANTIZE", (4, 9), np.int8, out_dtype, in_q=(0.04, -11), out_q=out_q)
    assert_bit_exact(run_three_ways(model, tmp_path, samples=8))


@pytest.mark.parametrize("scale,zp", [(0.05, 4), (0.0123, -128), (0.3, 127), (1e-3, 0), (17.5, -3), (1e-30, 9)])
@pytest.mark.parametrize("shape", [(1, 4, 4, 3), (19,)])
def test_dequantize(tmp_path, scale, zp, shape):
    model = one_op("DEQUANTIZE", shape, np.int8, np.float32, in_q=(scale, zp))
    res = run_three_ways(model, tmp_path, samples=8)
    assert res["c"][0][0].dtype == np.float32 and res["tflm"][0][0].dtype == np.float32
    assert_bit_exact(res)


def test_float_interface_chain(tmp_path):
    """float32 in -> QUANTIZE -> PAD -> RELU -> DEQUANTIZE -> float32 out, the usual float-interface model."""
    b = ModelBuilder()
    x = b.input("x", (1, 4, 4, 2), dtype=np.float32)
    q = b.activation("q", (1, 4, 4, 2), scale=0.04, zero_point=-5)
    pads = b.const("pads", np.asarray([[0, 0], [1, 1], [0, 2], [0, 0]], dtype=np.int32))
    p = b.activation("p", (1, 6, 6, 2), scale=0.04, zero_point=-5)
    r = b.activation("r", (1, 6, 6, 2), scale=0.03, zero_point=-128)
    y = b.activation("y", (1, 6, 6, 2), dtype=np.float32)
    b.op("QUANTIZE", [x], [q])
    b.op("PAD", [q, pads], [p], "PadOptions")
    b.op("RELU", [p], [r])
    b.op("DEQUANTIZE", [r], [y])
    b.output(y)
    assert_bit_exact(run_three_ways(b.build(), tmp_path, samples=8))
    test = validate.test(tmp_path / "model.tflite", tmp_path / "out2", samples=10)
    assert test.passed and test.rows[0].max_abs_diff_lsb == 0 and test.rows[0].cosine > 0.999


def test_float_input_read_by_other_ops_refused(tmp_path):
    """A float32 input is accepted only when QUANTIZE ops are its only readers."""
    b = ModelBuilder()
    x = b.input("x", (1, 8), dtype=np.float32)
    q = b.activation("q", (1, 8), scale=0.04, zero_point=0)
    y = b.activation("y", (1, 8), dtype=np.float32)
    b.op("QUANTIZE", [x], [q])
    b.op("RELU", [x], [y])
    b.output(q)
    b.output(y)
    path = tmp_path / "m.tflite"
    path.write_bytes(b.build())
    with pytest.raises(InputError, match="float"):
        driver.build(path, tmp_path / "out")
