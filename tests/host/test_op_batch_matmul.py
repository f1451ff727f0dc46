"""BATCH_MATMUL: one-op .tflite models built with ModelBuilder. int8: edgec's numpy reference and generated C
(ASan+UBSan) equal TFLite Micro's EvalInt8 at 0 LSB (both operands activations, a constant RHS, adj_x / adj_y,
broadcast batch dims, ranks 2 to 5); float32 within the float tolerance of TFLM's float kernel."""

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact, assert_float_close, run_three_ways

from edgec.errors import UnsupportedError
from edgec.importers import import_model


def _out_shape(a, b, adj_x, adj_y):
    m = a[-1] if adj_x else a[-2]
    n = b[-2] if adj_y else b[-1]
    return (*np.broadcast_shapes(tuple(a[:-2]), tuple(b[:-2])), m, n)


def bmm_model(a, b, adj_x=False, adj_y=False, const_rhs=False, seed=0, dtype=np.int8, out_scale=None):
    rng = np.random.default_rng(seed)
    mb = ModelBuilder()
    if dtype == np.int8:
        zps = [int(z) for z in rng.integers(-20, 20, size=3)]
        depth = a[-2] if adj_x else a[-1]
        qa = dict(scale=0.05, zero_point=zps[0])
        qb = dict(scale=0.03, zero_point=zps[1])
        qy = dict(scale=out_scale or 0.2 * np.sqrt(depth), zero_point=zps[2])
    else:
        qa = qb = qy = {}
    x = mb.input("a", a, dtype=dtype, **qa)
    if const_rhs:
        data = (rng.integers(-128, 128, size=b).astype(np.int8) if dtype == np.int8
                else rng.normal(size=b).astype(np.float32))
        y_in = mb.const("b", data, **qb)
    else:
        y_in = mb.input("b", b, dtype=dtype, **qb)
    out = mb.activation("y", _out_shape(a, b, adj_x, adj_y), dtype=dtype, **qy)
    mb.op("BATCH_MATMUL", [x, y_in], [out], "BatchMatMulOptions", adjX=adj_x, adjY=adj_y)
    mb.output(out)
    return mb.build()


CASES = [  # (A shape, B shape, adj_x, adj_y)
    ((2, 3, 4), (2, 4, 5), False, False),
    ((1, 2, 17, 8), (1, 2, 8, 17), False, False),  # attention's Q K^T: 2 heads, 17 tokens
    ((2, 5, 3), (2, 5, 4), True, False),
    ((3, 6, 7), (3, 9, 7), False, True),
    ((2, 7, 6), (2, 9, 7), True, True),
    ((4, 6), (6, 3), False, False),  # rank 2
    ((2, 1, 3, 4), (3, 4, 5), False, False),  # broadcast: [2, 1] x [3] batches -> [2, 3]
    ((1, 2, 2, 3, 8), (2, 1, 2, 8, 3), False, False),  # rank 5
]


@pytest.mark.parametrize("a,b,adj_x,adj_y", CASES)
def test_batch_matmul_int8_bit_exact(tmp_path, a, b, adj_x, adj_y):
    results = run_three_ways(bmm_model(a, b, adj_x, adj_y, seed=len(a) + 3 * len(b)), tmp_path, samples=6)
    assert_bit_exact(results)
    y = np.concatenate([r[0].reshape(-1) for r in results["tflm"]]).astype(int)
    assert np.ptp(y) > 20 and ((y > -128) & (y < 127)).mean() > 0.5  # most outputs are not clamped


def test_batch_matmul_int8_constant_rhs(tmp_path):
    assert_bit_exact(run_three_ways(bmm_model((2, 4, 16), (2, 16, 8), const_rhs=True, seed=5), tmp_path))


def test_batch_matmul_int8_saturates(tmp_path):
    """A small output scale: many outputs clamp at -128 and 127, as in TFLM."""
    results = run_three_ways(bmm_model((1, 8, 32), (1, 32, 8), out_scale=0.01, seed=9), tmp_path, samples=3)
    assert_bit_exact(results)
    y = np.concatenate([r[0].reshape(-1) for r in results["tflm"]])
    assert (y == 127).any() and (y == -128).any()


@pytest.mark.parametrize("a,b,adj_x,adj_y", [CASES[0], CASES[1], CASES[4], CASES[6]])
def test_batch_matmul_f32(tmp_path, a, b, adj_x, adj_y):
    rng = np.random.default_rng(1)
    xs = [[rng.uniform(-2, 2, size=a).astype(np.float32), rng.uniform(-2, 2, size=b).astype(np.float32)]
          for _ in range(3)]
    results = run_three_ways(bmm_model(a, b, adj_x, adj_y, dtype=np.float32), tmp_path, dtype="float32", inputs=xs)
    assert_float_close(results)


def test_batch_matmul_mismatched_depth_is_refused(tmp_path):
    mb = ModelBuilder()
    x, y_in = mb.input("a", (2, 3, 4), scale=0.1), mb.input("b", (2, 5, 6), scale=0.1)
    out = mb.activation("y", (2, 3, 6), scale=0.1)
    mb.op("BATCH_MATMUL", [x, y_in], [out], "BatchMatMulOptions")
    mb.output(out)
    path = tmp_path / "bad.tflite"
    path.write_bytes(mb.build())
    with pytest.raises(UnsupportedError) as e:
        import_model(path)
    assert "BATCH_MATMUL" in str(e.value) and "depths equal" in str(e.value)
