"""GELU (TFLite builtin 150), float32: edgec's numpy reference and generated C (ASan+UBSan) against LiteRT's float
kernel (TFLite Micro has no GELU kernel; it refuses the model), within the float tolerance; exact and
approximate (tanh) forms, over [-6, 6] where the two tails (y -> 0 and y -> x) are both reached.
int8: the 256-entry table, numpy and C at 0 LSB against LiteRT's reference kernel (the TFLite table) on every
input code, for random quantizations of both forms; TFLM refuses the model (checked, so the day it gains a GELU
kernel this test says so)."""

from pathlib import Path

import numpy as np
import pytest
from oneop import FLOAT_TOLERANCE, ModelBuilder, assert_exports_back, float_errors

from edgec import driver, host, reference, validate

F32 = np.float32


def gelu_model(shape, approximate: bool) -> bytes:
    mb = ModelBuilder()
    x = mb.input("x", shape, dtype=F32)
    y = mb.activation("y", shape, dtype=F32)
    mb.op("GELU", [x], [y], "GeluOptions", approximate=approximate)
    mb.output(y)
    return mb.build()


@pytest.mark.parametrize("approximate", [False, True])
def test_gelu_f32_vs_litert(tmp_path: Path, approximate):
    if not reference.litert_available():
        pytest.skip("LiteRT is not installed")
    shape = (1, 4, 50)
    path = tmp_path / "gelu.tflite"
    path.write_bytes(gelu_model(shape, approximate))
    assert_exports_back(path, tmp_path / "exported.tflite")
    b = driver.build(path, tmp_path / "out", conversion=driver.Conversion(dtype="float32"))
    g = b.graph
    assert [op.type for op in g.ops] == ["gelu"] and g.ops[0].attrs["approximate"] is approximate
    rng = np.random.default_rng(int(approximate))
    xs = [[np.linspace(-6, 6, 200, dtype=F32).reshape(shape)]] + [[rng.uniform(-6, 6, shape).astype(F32)]
                                                                  for _ in range(3)]
    theirs = reference.run_litert(path, xs)
    ours_np = [[reference.run_numpy(g, s)[o] for o in g.outputs] for s in xs]
    exe = host.build(b.out, b.sources, sanitize=True)
    ours_c = validate.split_outputs(host.run(exe, xs), g, len(xs))
    for ours in (ours_np, ours_c):
        worst, rel = float_errors(ours, theirs)
        assert rel <= FLOAT_TOLERANCE, (worst, rel)
    assert float_errors(ours_c, ours_np)[1] <= FLOAT_TOLERANCE
    # the exact and the approximate forms differ measurably: the attribute reaches the kernel
    other = 0.5 * xs[0][0] * (1 + np.tanh(np.sqrt(2 / np.pi) * (xs[0][0] + 0.044715 * xs[0][0] ** 3)))
    assert bool(np.abs(ours_c[0][0] - other).max() < 1e-5) == approximate  # the forms differ by 4.7e-4 at most


def gelu_int8_model(shape, in_q, out_q, approximate: bool) -> bytes:
    mb = ModelBuilder()
    x = mb.input("x", shape, scale=in_q[0], zero_point=in_q[1])
    y = mb.activation("y", shape, scale=out_q[0], zero_point=out_q[1])
    mb.op("GELU", [x], [y], "GeluOptions", approximate=approximate)
    mb.output(y)
    return mb.build()


@pytest.mark.parametrize("seed", range(4))
def test_gelu_int8_vs_litert(tmp_path: Path, seed):
    if not reference.litert_available():
        pytest.skip("LiteRT is not installed")
    rng = np.random.default_rng(100 + seed)
    approximate = seed % 2 == 1
    in_q = (float(F32(rng.uniform(0.005, 0.1))), int(rng.integers(-128, 128)))
    out_q = (float(F32(rng.uniform(0.003, 0.06))), int(rng.integers(-128, 0)))
    shape = (2, 7, 19)  # 266 elements: every code at least once in the first sample
    path = tmp_path / "gelu8.tflite"
    path.write_bytes(gelu_int8_model(shape, in_q, out_q, approximate))
    assert_exports_back(path, tmp_path / "exported.tflite")
    b = driver.build(path, tmp_path / "out")
    g = b.graph
    assert [op.type for op in g.ops] == ["gelu"]
    first = np.resize(np.arange(-128, 128), 266).astype(np.int8).reshape(shape)
    xs = [[first]] + [[rng.integers(-128, 128, shape).astype(np.int8)] for _ in range(2)]
    theirs = reference.run_litert(path, xs)
    ours_np = [[reference.run_numpy(g, s)[o] for o in g.outputs] for s in xs]
    exe = host.build(b.out, b.sources, sanitize=True)
    ours_c = validate.split_outputs(host.run(exe, xs), g, len(xs))
    for ours in (ours_np, ours_c):
        for a, t in zip(ours, theirs):
            d = np.abs(a[0].astype(int) - t[0].astype(int))
            assert d.max() == 0, (d.max(), int(np.argmax(d)))
    # the table is not trivial: it spans many codes (a GELU, not a constant)
    assert len(np.unique(ours_c[0][0])) > 20


def test_gelu_int8_tflm_has_no_kernel(tmp_path: Path):
    """TFLite Micro's interpreter has no GELU: the reason int8 GELU is checked against LiteRT."""
    path = tmp_path / "gelu8.tflite"
    path.write_bytes(gelu_int8_model((1, 8), (0.05, 0), (0.03, -100), False))
    with pytest.raises(Exception, match="refused"):
        reference.run_tflm(path, [[np.zeros((1, 8), np.int8)]])
