"""RSQRT (TFLite): int8 at 0 LSB against TFLite Micro (numpy table and generated C under ASan+UBSan) over every
input value TFLM accepts (q >= zp_x) for several quantizations, on odd shapes; float32 bit-identical to TFLM."""

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact, run_three_ways


def rsqrt_model(shape, in_q, out_q, dtype=np.int8) -> bytes:
    b = ModelBuilder()
    if dtype == np.float32:
        x, y = b.input("x", shape, dtype=np.float32), b.activation("y", shape, dtype=np.float32)
    else:
        x = b.input("x", shape, scale=in_q[0], zero_point=in_q[1])
        y = b.activation("y", shape, scale=out_q[0], zero_point=out_q[1])
    b.op("RSQRT", [x], [y])
    b.output(y)
    return b.build()


@pytest.mark.parametrize("in_q,out_q,shape", [
    ((0.05, -128), (0.02, -128), (1, 5, 7, 3)),   # the full int8 range above zp_x; small outputs saturate at 127
    ((0.02, -100), (0.1, -128), (3, 11, 9)),
    ((0.5, 0), (0.004, -128), (257,)),            # inputs 0..127 only (TFLM refuses q < zp_x)
    ((0.001, 7), (0.25, -10), (2, 13, 5)),        # large results: clamped
    ((0.0078, -128), (0.0078, -128), (9, 29)),
])
def test_rsqrt_int8(tmp_path, in_q, out_q, shape):
    rng = np.random.default_rng(1)
    n = int(np.prod(shape))
    xs = []
    for k in range(4):
        v = rng.integers(in_q[1], 128, size=n)
        if k == 0:  # every accepted value at least once
            full = np.arange(in_q[1], 128)
            v[:min(n, full.size)] = full[:n]
        xs.append([v.astype(np.int8).reshape(shape)])
    assert_bit_exact(run_three_ways(rsqrt_model(shape, in_q, out_q), tmp_path, inputs=xs))


def test_rsqrt_float32(tmp_path):
    rng = np.random.default_rng(2)
    xs = [[np.exp(rng.uniform(-20, 20, size=(3, 7, 11))).astype(np.float32)] for _ in range(3)]
    xs[0][0].reshape(-1)[:3] = [0.0, 1.0, 3e-39]  # +inf, 1, a subnormal
    assert_bit_exact(run_three_ways(rsqrt_model((3, 7, 11), None, None, np.float32), tmp_path, dtype="float32",
                                    inputs=xs))


def test_rsqrt_output_rescale_out_of_range_is_refused(tmp_path):
    from edgec.errors import UnsupportedError
    from edgec.importers import import_model

    path = tmp_path / "m.tflite"
    path.write_bytes(rsqrt_model((4,), (100.0, 0), (1000.0, 0)))  # 1 / (sqrt(100) * 1000) = 1e-4 < 2^-12
    with pytest.raises(UnsupportedError) as e:
        import_model(path)
    assert any(p.startswith("#0 RSQRT (y): the output rescale") for p in e.value.problems), e.value.problems
