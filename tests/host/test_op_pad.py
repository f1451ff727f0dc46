"""PAD and PADV2 on int8, ranks 1 to 5, zero/asymmetric paddings: bit-exact vs TFLM (numpy reference and C)."""

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact, run_three_ways

from edgec.errors import UnsupportedError


def pad_model(shape, paddings, zp_in=3, zp_out=3, scale_in=0.05, scale_out=0.05, value=None):
    b = ModelBuilder()
    x = b.input("x", shape, scale=scale_in, zero_point=zp_in)
    pads = b.const("paddings", np.asarray(paddings, dtype=np.int32).reshape(len(shape), 2))
    out_shape = tuple(d + a + c for d, (a, c) in zip(shape, paddings))
    y = b.activation("y", out_shape, scale=scale_out, zero_point=zp_out)
    if value is None:
        b.op("PAD", [x, pads], [y], "PadOptions")
    else:
        v = b.const("value", np.asarray([value], dtype=np.int8).reshape(()), scale=scale_out, zero_point=zp_out)
        b.op("PADV2", [x, pads, v], [y], "PadV2Options")
    b.output(y)
    return b.build()


@pytest.mark.parametrize("shape,paddings", [
    ((7,), [(2, 3)]),
    ((4, 5), [(0, 2), (1, 0)]),
    ((2, 3, 4), [(1, 1), (0, 0), (2, 1)]),
    ((1, 6, 5, 3), [(0, 0), (1, 2), (2, 1), (0, 0)]),  # image style (TFLM's kImageStyle path)
    ((1, 4, 4, 2), [(0, 0), (0, 0), (0, 0), (3, 1)]),  # channels only
    ((2, 3, 4, 5), [(1, 0), (0, 2), (1, 1), (2, 0)]),  # every dim, asymmetric
    ((2, 2, 3, 2, 3), [(1, 0), (0, 1), (2, 0), (0, 0), (1, 2)]),  # rank 5
    ((1, 3, 3, 2), [(0, 0), (0, 0), (0, 0), (0, 0)]),  # no padding at all
])
def test_pad(tmp_path, shape, paddings):
    assert_bit_exact(run_three_ways(pad_model(shape, paddings, zp_in=-7, zp_out=-7), tmp_path, samples=8))


def test_pad_output_quant_differs(tmp_path):
    """TFLM copies the bytes unchanged and pads with the OUTPUT zero point, whatever the input quantization."""
    model = pad_model((1, 5, 4, 3), [(0, 0), (2, 1), (1, 2), (0, 0)], zp_in=10, zp_out=-40, scale_in=0.02,
                      scale_out=0.07)
    assert_bit_exact(run_three_ways(model, tmp_path, samples=8))


@pytest.mark.parametrize("value", [-128, -5, 0, 77, 127])
def test_padv2(tmp_path, value):
    model = pad_model((2, 5, 3), [(1, 1), (0, 3), (2, 0)], zp_in=5, zp_out=5, value=value)
    assert_bit_exact(run_three_ways(model, tmp_path, samples=8))


def test_pad_rank6_refused(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(pad_model((1, 2, 2, 2, 2, 2), [(0, 0), (1, 1), (0, 0), (0, 0), (0, 0), (0, 0)]))
    from edgec import driver

    with pytest.raises(UnsupportedError, match="at most 5 dimensions"):
        driver.build(path, tmp_path / "out")
