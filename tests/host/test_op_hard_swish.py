"""HARD_SWISH on int8 vs TFLM at 0 LSB (its 16-bit fixed-point maths, saturating left shifts and the final
truncating multiply): numpy reference, generated C (ASan+UBSan) and TFLM agree for scales that make the
"reluish" rescale shift left, not at all, and right."""

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact, run_three_ways

from edgec import driver, reference
from edgec.errors import UnsupportedError


def hard_swish_model(shape, in_q, out_q):
    b = ModelBuilder()
    x = b.input("x", shape, scale=in_q[0], zero_point=in_q[1])
    y = b.activation("y", shape, scale=out_q[0], zero_point=out_q[1])
    b.op("HARD_SWISH", [x], [y])
    b.output(y)
    return b.build()


@pytest.mark.parametrize("in_q,out_q", [
    ((0.05, 4), (0.03, -90)),        # MobileNetV3-like: reluish multiplier ~4.3 (left shift 3)
    ((0.0235, -128), (0.0235, -128)),  # same quantization
    ((0.2, 20), (0.11, -100)),       # large range: left shift 5, saturation at +-3
    ((0.008, -10), (0.005, -120)),   # reluish multiplier < 1 (no shift, then right shifts)
    ((0.001, 0), (0.0008, -128)),    # reluish right shift 3
    ((0.5, 0), (0.3, 0)),
    ((0.06, 127), (0.004, 90)),      # output scale much smaller: saturates
])
def test_hard_swish(tmp_path, in_q, out_q):
    assert_bit_exact(run_three_ways(hard_swish_model((2, 8, 8, 4), in_q, out_q), tmp_path, samples=8))


def test_hard_swish_every_input(tmp_path):
    """all 256 int8 inputs in one tensor, numpy vs TFLM (the C is covered above)"""
    path = tmp_path / "model.tflite"
    path.write_bytes(hard_swish_model((256,), (0.037, -3), (0.021, -77)))
    b = driver.build(path, tmp_path / "out")
    x = np.arange(-128, 128, dtype=np.int8)
    tflm, _ = reference.run_tflm(path, [[x]])
    ours = reference.run_numpy(b.graph, [x])[b.graph.outputs[0]]
    np.testing.assert_array_equal(ours, tflm[0][0])


def test_hard_swish_output_scale_too_small_is_refused(tmp_path):
    """TFLM refuses s_x >= 128 s_y (its output shift would be a left shift); edgec says so"""
    path = tmp_path / "model.tflite"
    path.write_bytes(hard_swish_model((4,), (1.0, 0), (0.005, 0)))
    with pytest.raises(UnsupportedError, match="below 128 times the output scale"):
        driver.build(path, tmp_path / "out")


def test_hard_swish_f32(tmp_path):
    """float32: x * min(6, max(0, x + 3)) / 6 in TFLite's order, bit-identical to TFLM's float kernel"""
    b = ModelBuilder()
    x = b.input("x", (3, 9, 11), dtype=np.float32)
    y = b.activation("y", (3, 9, 11), dtype=np.float32)
    b.op("HARD_SWISH", [x], [y])
    b.output(y)
    rng = np.random.default_rng(2)
    xs = [[rng.uniform(-8, 8, size=(3, 9, 11)).astype(np.float32)] for _ in range(3)]
    xs[0][0].reshape(-1)[:7] = [-3, 3, 0, -0.0, 6, -6, 1e-30]  # the kinks and signed zero
    assert_bit_exact(run_three_ways(b.build(), tmp_path, dtype="float32", inputs=xs))
