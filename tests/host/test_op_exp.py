"""EXP (TFLite), float32: the generated C (ASan+UBSan, glibc expf) bit-identical to TFLite Micro's float kernel on
the host, the numpy reference (float64 exp rounded to float32) within 1 ULP of it; over -90..90 (underflow to
subnormals and 0, overflow to inf). An int8 EXP is refused (TFLite Micro has none), naming the op and node."""

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact, run_three_ways

from edgec.compare import lsb_keys
from edgec.errors import UnsupportedError
from edgec.importers import import_model


def exp_model(shape, dtype=np.float32) -> bytes:
    b = ModelBuilder()
    if dtype == np.float32:
        x, y = b.input("x", shape, dtype=np.float32), b.activation("y", shape, dtype=np.float32)
    else:
        x, y = b.input("x", shape, scale=0.05, zero_point=0), b.activation("y", shape, scale=0.5, zero_point=-128)
    b.op("EXP", [x], [y])
    b.output(y)
    return b.build()


@pytest.mark.parametrize("shape,lo,hi", [((3, 7, 11), -10, 10), ((2, 5, 9, 3), -90, 90)])
def test_exp_float32(tmp_path, shape, lo, hi):
    rng = np.random.default_rng(hi)
    xs = [[rng.uniform(lo, hi, size=shape).astype(np.float32)] for _ in range(3)]
    xs[0][0].reshape(-1)[:3] = [0.0, -0.0, 1.0]
    r = run_three_ways(exp_model(shape), tmp_path, dtype="float32", inputs=xs)
    assert_bit_exact(dict(tflm=r["tflm"], c=r["c"], numpy=r["c"]))  # C vs TFLM: bit-identical
    for ours, theirs in zip(r["numpy"], r["tflm"]):
        d = np.abs(lsb_keys(ours[0].reshape(-1)) - lsb_keys(theirs[0].reshape(-1)))
        assert d.max() <= 1, f"numpy reference {d.max()} ULP from TFLM"


def test_exp_int8_is_refused(tmp_path):
    path = tmp_path / "m.tflite"
    path.write_bytes(exp_model((4, 5), np.int8))
    with pytest.raises(UnsupportedError) as e:
        import_model(path)
    assert any(p.startswith("#0 EXP (y): float32 only") for p in e.value.problems), e.value.problems
