"""SQUARED_DIFFERENCE (TFLite): int8 at 0 LSB against TFLite Micro (numpy reference and generated C under
ASan+UBSan) over odd shapes, broadcasting, constant operands and input/output quantizations whose squares saturate;
float32 bit-identical to TFLM; numpy vs TFLM over many random scales."""

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact, run_three_ways
from test_op_add_sub import numpy_vs_tflm


def sqd_model(shape1, shape2, q=((0.05, 3), (0.04, -9), (0.02, -128)), const=None, dtype=np.int8, seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    out_shape = np.broadcast_shapes(tuple(shape1), tuple(shape2))
    operands = []
    for k, shape in enumerate((shape1, shape2)):
        if dtype == np.float32:
            if const == k:
                operands.append(b.const(f"c{k}", rng.uniform(-3, 3, size=shape).astype(np.float32)))
            else:
                operands.append(b.input(f"x{k}", shape, dtype=np.float32))
        elif const == k:
            data = rng.integers(-128, 128, size=shape, dtype=np.int8)
            operands.append(b.const(f"c{k}", data, scale=q[k][0], zero_point=q[k][1]))
        else:
            operands.append(b.input(f"x{k}", shape, scale=q[k][0], zero_point=q[k][1]))
    if dtype == np.float32:
        y = b.activation("y", out_shape, dtype=np.float32)
    else:
        y = b.activation("y", out_shape, scale=q[2][0], zero_point=q[2][1])
    b.op("SQUARED_DIFFERENCE", operands, [y])
    b.output(y)
    return b.build()


@pytest.mark.parametrize("shape1,shape2,q,const", [
    ((1, 5, 7, 3), (1, 5, 7, 3), ((0.05, 3), (0.04, -9), (0.02, -128)), None),
    ((3, 7, 9), (9,), ((0.1, -128), (0.1, 127), (0.3, -128)), None),       # broadcast a row; one input scale
    ((2, 5, 1, 3), (1, 1, 7, 1), ((0.02, 0), (0.07, 5), (0.01, -100)), None),  # both broadcast; often saturates
    ((1, 9, 11), (1, 9, 1), ((0.03, -1), (0.003, 12), (0.004, -128)), 1),  # a constant per-row operand
    ((13,), (13,), ((0.5, 0), (0.5, 0), (4.0, -128)), 0),
])
def test_squared_difference_int8(tmp_path, shape1, shape2, q, const):
    assert_bit_exact(run_three_ways(sqd_model(shape1, shape2, q, const), tmp_path, samples=6))


def test_squared_difference_int8_random_scales(tmp_path):
    rng = np.random.default_rng(11)
    for _ in range(25):
        s = np.exp(rng.uniform(np.log(0.003), np.log(0.5), size=3)).astype(np.float32)
        zps = [int(z) for z in rng.integers(-128, 128, size=3)]
        q = tuple((float(a), z) for a, z in zip(s, zps))
        numpy_vs_tflm(sqd_model((3, 5, 7), (5, 1), q), tmp_path)


@pytest.mark.parametrize("shape1,shape2,const", [((2, 5, 7, 3), (2, 5, 7, 3), None), ((3, 7, 9), (7, 1), None),
                                                 ((5, 11), (11,), 1)])
def test_squared_difference_float32(tmp_path, shape1, shape2, const):
    results = run_three_ways(sqd_model(shape1, shape2, const=const, dtype=np.float32), tmp_path, dtype="float32",
                             samples=3)
    assert_bit_exact(results)
