"""ABS (TFLite) and Abs (ONNX): int8 at 0 LSB against TFLite Micro (numpy reference, generated C under
ASan+UBSan, TFLM) over equal and different scales and zero points at both ends; float32 bit-identical to TFLM's
kernel (fabsf, -0 included); an ONNX Conv -> Abs net kept float against onnxruntime and quantized by edgec against
TFLM on the exported .tflite (the op's export_tflite writes ABS)."""

import json

import numpy as np
import onnx
import pytest
from oneop import ModelBuilder, assert_bit_exact, run_three_ways
from onnx import helper
from onnx_models import const, model
from run_cli import edgec


def abs_model(shape, in_q, out_q, dtype=np.int8):
    b = ModelBuilder()
    if dtype == np.float32:
        x, y = b.input("x", shape, dtype=np.float32), b.activation("y", shape, dtype=np.float32)
    else:
        x = b.input("x", shape, scale=in_q[0], zero_point=in_q[1])
        y = b.activation("y", shape, scale=out_q[0], zero_point=out_q[1])
    b.op("ABS", [x], [y])
    b.output(y)
    return b.build()


@pytest.mark.parametrize("in_q,out_q,shape", [
    ((0.05, 4), (0.05, 4), (1, 8, 8, 4)),          # one scale: no rescale, v + zp_y
    ((0.05, -128), (0.05, -128), (300,)),          # one scale, |x - zp_x| up to 255: saturates at 127
    ((0.02, 127), (0.013, -128), (1, 6, 5, 9)),    # output scale smaller: rescale > 1, saturates
    ((0.1, -7), (0.4, -128), (2, 3, 7, 7)),        # output scale larger: rescale < 1, rounds
    ((0.031, 0), (0.0312, 3), (4, 64)),            # scales that differ only a little still rescale
])
def test_abs_int8(tmp_path, in_q, out_q, shape):
    assert_bit_exact(run_three_ways(abs_model(shape, in_q, out_q), tmp_path, samples=8))


def test_abs_float32(tmp_path):
    """fabsf: bit-identical to TFLM's float kernel, -0 -> +0 included"""
    rng = np.random.default_rng(2)
    xs = [[rng.uniform(-5, 5, size=(2, 5, 7, 3)).astype(np.float32)] for _ in range(3)]
    xs[0][0].reshape(-1)[:4] = [-0.0, 0.0, -1e30, 3e-39]  # negative zero, a huge value, a subnormal
    results = run_three_ways(abs_model((2, 5, 7, 3), None, None, np.float32), tmp_path, dtype="float32", inputs=xs)
    assert_bit_exact(results)
    assert not np.signbit(results["c"][0][0].reshape(-1)[0])  # -0 became +0


@pytest.fixture(scope="module")
def conv_abs(tmp_path_factory):
    """Conv(3->4) -> Abs -> Conv(4->2) in ONNX (NCHW), with calibration and test data."""
    folder = tmp_path_factory.mktemp("onnx_abs")
    rng = np.random.default_rng(5)
    w1, w2 = rng.normal(0, 0.5, (4, 3, 3, 3)).astype(np.float32), rng.normal(0, 0.5, (2, 4, 1, 1)).astype(np.float32)
    net = model([helper.make_node("Conv", ["x", "w1"], ["c"], pads=[1, 1, 1, 1]),
                 helper.make_node("Abs", ["c"], ["a"]), helper.make_node("Conv", ["a", "w2"], ["y"])],
                {"x": [1, 3, 8, 8]}, {"y": [1, 2, 8, 8]}, [const("w1", w1), const("w2", w2)])
    onnx.save(net, folder / "conv_abs.onnx")
    np.savez(folder / "calib.npz", x=rng.standard_normal((32, 1, 3, 8, 8)).astype(np.float32))
    np.savez(folder / "test.npz", x=rng.standard_normal((8, 1, 3, 8, 8)).astype(np.float32))
    return folder


def _test(*args):
    res = edgec("test", *args, "--json", timeout=600)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["test"]


def test_onnx_abs_float32_against_onnxruntime(tmp_path, conv_abs):
    t = _test(conv_abs / "conv_abs.onnx", "--dtype", "float32", "--inputs", conv_abs / "test.npz",
              "--out", tmp_path / "out")
    assert t["reference"] == "onnxruntime" and t["passed"] and t["max_rel_error"] < 1e-5, t


def test_onnx_abs_quantized_against_tflm(tmp_path, conv_abs):
    t = _test(conv_abs / "conv_abs.onnx", "--calib", conv_abs / "calib.npz", "--inputs", conv_abs / "test.npz",
              "--out", tmp_path / "out")
    assert t["reference"].startswith("TFLM") and t["passed"] and t["max_abs_diff_lsb"] == 0, t
    assert t["rows"][1]["cosine"] > 0.98, t["rows"][1]  # int8 close to the float model on the same inputs
