"""ONNX Clip on int8 (IR `relu` with arbitrary lo/hi): TFLite has no such op, so there is no TFLM oracle.
edgec runs it with TFLite's RELU formula (rescale, clamp to the bounds quantized on the output scale); here the
generated C (ASan+UBSan) must equal the numpy reference at 0 LSB, both must be within 1 LSB of the real-domain
result quantized once (the rescale rounds twice), and lo/hi = -1/1 must be exactly TFLite's RELU_N1_TO_1.
The three TFLite kinds stay bit-exact vs TFLM/LiteRT in test_op_relu.py."""

import numpy as np
import pytest
from oneop import ModelBuilder

from edgec import codegen, host, reference, validate
from edgec.data import random_inputs
from edgec.importers import import_model
from edgec.memory import plan_memory
from edgec.passes import canonicalize
from edgec.verifier import verify


def clip_graph(tmp_path, shape, in_q, out_q, lo, hi):
    """A one-op relu graph with the given bounds: a RELU_N1_TO_1 .tflite, imported, bounds replaced."""
    b = ModelBuilder()
    x = b.input("x", shape, scale=in_q[0], zero_point=in_q[1])
    y = b.activation("y", shape, scale=out_q[0], zero_point=out_q[1])
    b.op("RELU_N1_TO_1", [x], [y])
    b.output(y)
    path = tmp_path / "clip.tflite"
    path.write_bytes(b.build())
    g = import_model(path)
    g.ops[0].attrs.update(lo=lo, hi=hi)
    return verify(canonicalize(verify(g)))


def run_c(g, tmp_path, xs):
    out = tmp_path / "out"
    sources = codegen.emit_c(g, plan_memory(g), out)
    return validate.split_outputs(host.run(host.build(out, sources, sanitize=True), xs), g, len(xs))


def real_domain(x, in_q, out_q, lo, hi):
    """clamp(dequantize(x), lo, hi), quantized once onto the output (round half away from zero, saturated)."""
    v = in_q[0] * (x.astype(np.float64) - in_q[1])
    v = np.clip(v, -np.inf if lo is None else lo, np.inf if hi is None else hi)
    q = v / out_q[0]
    return np.clip(np.sign(q) * np.floor(np.abs(q) + 0.5) + out_q[1], -128, 127)


@pytest.mark.parametrize("in_q,out_q,lo,hi", [
    ((0.05, 4), (0.05, 4), -2.0, 3.5),
    ((0.02, -30), (0.013, 17), 0.0, 1.0),       # a sigmoid-like range
    ((0.1, 127), (0.0123, -128), None, 0.5),    # only a max
    ((0.03, -128), (0.08, 0), -0.7, None),      # only a min
    ((0.04, 10), (0.02, -5), 100.0, 200.0),     # bounds beyond the output's range: saturate to 127
    ((0.04, 10), (0.04, 10), 0.3, 0.3),         # lo == hi: a constant
])
def test_clip_int8(tmp_path, in_q, out_q, lo, hi):
    shape = (2, 8, 16)
    g = clip_graph(tmp_path, shape, in_q, out_q, lo, hi)
    xs = random_inputs(g, 6, 0)
    ours_c = run_c(g, tmp_path, xs)
    for s, x in enumerate(xs):
        ours = reference.run_numpy(g, x)[g.outputs[0]]
        np.testing.assert_array_equal(ours_c[s][0].reshape(shape), ours)
        d = np.abs(ours.astype(np.int64) - real_domain(x[0], in_q, out_q, lo, hi))
        assert d.max() <= 1, f"sample {s}: {d.max()} LSB from the real-domain result"


def test_clip_minus_one_to_one_is_relu_n1_to_1(tmp_path):
    """Clip(-1, 1) through the general path is TFLite's RELU_N1_TO_1, checked against LiteRT's kernel."""
    if not reference.litert_available():
        pytest.skip("LiteRT (ai-edge-litert) is not installed")
    in_q, out_q = (0.02, 30), (0.0045, -60)
    g = clip_graph(tmp_path, (3, 7, 5), in_q, out_q, -1.0, 1.0)
    xs = random_inputs(g, 4, 1)
    litert = reference.run_litert(tmp_path / "clip.tflite", xs)
    ours_c = run_c(g, tmp_path, xs)
    for s in range(len(xs)):
        np.testing.assert_array_equal(ours_c[s][0].reshape(-1), litert[s][0].reshape(-1))


def test_clip_bounds_out_of_order_is_refused(tmp_path):
    from edgec.ops import REGISTRY

    g = clip_graph(tmp_path, (4,), (0.1, 0), (0.1, 0), -1.0, 1.0)
    g.ops[0].attrs.update(lo=2.0, hi=1.0)
    assert any("lo <= hi" in rule for rule in REGISTRY["relu"].check(g.ops[0], g))
