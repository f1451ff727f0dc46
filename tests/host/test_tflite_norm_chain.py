"""A float32 TFLite normalization chain, as a converted transformer writes it (MEAN -> SQUARED_DIFFERENCE -> SUM
-> RSQRT -> STRIDED_SLICE): kept float, bit-identical to TFLM; quantized by edgec (--calib), 0 LSB against TFLM on
the exported int8 model and close to the float model."""

import json

import numpy as np
import pytest
from oneop import ModelBuilder
from run_cli import edgec

F32 = np.float32


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    folder = tmp_path_factory.mktemp("norm_chain")
    b = ModelBuilder()
    x = b.input("x", (1, 5, 16), dtype=F32)
    ax = b.const("axes", np.asarray([2], np.int32))
    m = b.activation("m", (1, 5, 1), dtype=F32)
    b.op("MEAN", [x, ax], [m], "ReducerOptions", keepDims=True)
    d = b.activation("d", (1, 5, 16), dtype=F32)
    b.op("SQUARED_DIFFERENCE", [x, m], [d])
    s = b.activation("s", (1, 5, 1), dtype=F32)
    b.op("SUM", [d, ax], [s], "ReducerOptions", keepDims=True)
    r = b.activation("r", (1, 5, 1), dtype=F32)
    b.op("RSQRT", [s], [r])
    y = b.activation("y", (3,), dtype=F32)
    idx = [b.const(n, np.asarray(v, np.int32)) for n, v in (("b", [0, 1, 0]), ("e", [1, 4, 1]), ("st", [1, 1, 1]))]
    b.op("STRIDED_SLICE", [r, *idx], [y], "StridedSliceOptions", beginMask=0, endMask=0, shrinkAxisMask=0b101)
    b.output(y)
    (folder / "chain.tflite").write_bytes(b.build())
    rng = np.random.default_rng(0)
    np.savez(folder / "calib.npz", x=rng.normal(0, 2, (64, 1, 5, 16)).astype(F32))
    np.savez(folder / "test.npz", x=rng.normal(0, 2, (8, 1, 5, 16)).astype(F32))
    return folder


def _test(*args):
    res = edgec("test", *args, "--json", timeout=600)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)["test"]


def test_chain_float32_bit_identical(tmp_path, chain):
    t = _test(chain / "chain.tflite", "--dtype", "float32", "--inputs", chain / "test.npz", "--out", tmp_path / "o")
    assert t["passed"] and t["max_rel_error"] == 0, t


def test_chain_quantized_against_tflm(tmp_path, chain):
    t = _test(chain / "chain.tflite", "--calib", chain / "calib.npz", "--inputs", chain / "test.npz",
              "--out", tmp_path / "o")
    assert t["reference"].startswith("TFLM") and t["passed"] and t["max_abs_diff_lsb"] == 0, t
    assert t["rows"][1]["cosine"] > 0.999, t["rows"][1]
