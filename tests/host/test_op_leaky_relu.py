"""LEAKY_RELU on int8 vs TFLM at 0 LSB: numpy reference, generated C (ASan+UBSan) and TFLM agree over alphas
(small, above 1, negative, zero) and input/output quantizations; float32 bit-identical to TFLM's float kernel."""

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact, run_three_ways
from onnx import helper
from onnx_models import model

from edgec.importers import import_model
from edgec.ir import Graph, Op, Quant, Tensor
from edgec.ops import REGISTRY


def leaky_model(shape, alpha, in_q, out_q):
    b = ModelBuilder()
    x = b.input("x", shape, scale=in_q[0], zero_point=in_q[1])
    y = b.activation("y", shape, scale=out_q[0], zero_point=out_q[1])
    b.op("LEAKY_RELU", [x], [y], "LeakyReluOptions", alpha=alpha)
    b.output(y)
    return b.build()


@pytest.mark.parametrize("alpha,in_q,out_q,shape", [
    (0.2, (0.05, 4), (0.05, 4), (1, 8, 8, 4)),          # same quantization
    (0.1, (0.02, -30), (0.013, 17), (1, 6, 5, 9)),      # output scale smaller: identity rescale > 1, saturates
    (0.01, (0.1, 127), (0.0123, -128), (300,)),         # ONNX's default alpha, input zero point at the top
    (1.7, (0.03, -128), (0.08, 0), (2, 3, 7, 7)),       # alpha above 1
    (-0.3, (0.04, 10), (0.02, -5), (1, 16, 16)),        # negative alpha: the kernel negates the rescale
    (0.0, (0.05, 0), (0.025, -128), (4, 64)),           # alpha 0 = RELU
])
def test_leaky_relu(tmp_path, alpha, in_q, out_q, shape):
    assert_bit_exact(run_three_ways(leaky_model(shape, alpha, in_q, out_q), tmp_path, samples=8))


@pytest.mark.parametrize("alpha", [0.2, 0.01, -0.5, 2.5])
def test_leaky_relu_f32(tmp_path, alpha):
    """float32: one multiply per negative element, bit-identical to TFLM's float kernel"""
    b = ModelBuilder()
    x = b.input("x", (2, 5, 7, 3), dtype=np.float32)
    y = b.activation("y", (2, 5, 7, 3), dtype=np.float32)
    b.op("LEAKY_RELU", [x], [y], "LeakyReluOptions", alpha=alpha)
    b.output(y)
    rng = np.random.default_rng(1)
    xs = [[rng.uniform(-4, 4, size=(2, 5, 7, 3)).astype(np.float32)] for _ in range(3)]
    assert_bit_exact(run_three_ways(b.build(), tmp_path, dtype="float32", inputs=xs))


def _leaky_ir(dtype: str, **attrs):
    q = None if dtype == "float32" else Quant(scale=np.array([0.05], np.float32), zero_point=np.array([3]))
    tensors = {n: Tensor(n, (1, 4, 4, 2), dtype, q) for n in ("x", "y")}
    op = Op(type="leaky_relu", name="leaky_0", inputs=["x"], outputs=["y"], attrs=attrs)
    return Graph(name="leaky", tensors=tensors, ops=[op], inputs=["x"], outputs=["y"]), op


@pytest.mark.parametrize("dtype", ["int8", "float32"])
def test_leaky_relu_alpha_has_no_default(dtype):
    """The op takes no default alpha (frameworks disagree: ONNX 0.01, others 0.2): an IR leaky_relu without one is
    refused by name, on both sides, and one with alpha passes the same rules."""
    g, op = _leaky_ir(dtype)
    problems = REGISTRY["leaky_relu"].check(op, g)
    assert len(problems) == 1 and problems[0].startswith("alpha is given (each importer sets it")
    g, op = _leaky_ir(dtype, alpha=0.3)
    assert REGISTRY["leaky_relu"].check(op, g) == []


def test_onnx_leaky_relu_without_alpha_gets_onnx_default(tmp_path):
    """ONNX's LeakyRelu without an alpha attribute is alpha 0.01 (the ONNX spec), set by the importer."""
    m = model([helper.make_node("LeakyRelu", ["x"], ["y"])], {"x": [1, 6]}, {"y": [1, 6]})
    (tmp_path / "m.onnx").write_bytes(m.SerializeToString())
    g = import_model(tmp_path / "m.onnx")
    assert [(op.type, op.attrs["alpha"]) for op in g.ops] == [("leaky_relu", 0.01)]
