"""LOGISTIC and TANH int8 -> int8: bit-exact vs TFLM over shapes, input scales and zero points, including an
exhaustive sweep of all 256 input values per quantization."""

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact, run_three_ways

from edgec import driver, host, reference, validate

OUT_QUANT = {"LOGISTIC": (1.0 / 256, -128), "TANH": (1.0 / 128, 0)}


def act_model(kind, shape, scale, zero_point):
    b = ModelBuilder()
    x = b.input("x", shape, scale=scale, zero_point=zero_point)
    out_scale, out_zp = OUT_QUANT[kind]
    y = b.activation("y", shape, scale=out_scale, zero_point=out_zp)
    b.op(kind, [x], [y])
    b.output(y)
    return b.build()


CASES = [
    ((1, 10), 0.1, 0),
    ((1, 1), 0.05, 3),
    ((3, 2), 0.2, -7),
    ((2, 37), 0.001, 12),
    ((1, 1000), 0.0625, -128),
    ((4, 10), 2.0, 0),
    ((2, 37), 10.0, -5),
    ((1, 3, 4, 10), 0.07, -3),
    ((2, 2, 3, 37), 0.15, 30),
    ((1, 5, 5, 1), 0.3, 127),
    ((1, 1, 1, 1000), 0.02, 0),
    ((1, 8, 8, 2), 0.5, -60),
]


@pytest.mark.parametrize("kind", ["LOGISTIC", "TANH"])
@pytest.mark.parametrize("shape,scale,zero_point", CASES)
def test_activation(tmp_path, kind, shape, scale, zero_point):
    assert_bit_exact(run_three_ways(act_model(kind, shape, scale, zero_point), tmp_path, samples=8,
                                    seed=len(shape) * 1000 + shape[-1]))


@pytest.mark.parametrize("kind", ["LOGISTIC", "TANH"])
@pytest.mark.parametrize("scale", [2.0**-20, 0.001, 0.0078125, 0.0237, 0.05, 0.1, 0.17, 0.25, 0.93, 2.0, 4.5, 8.0,
                                   10.0])
@pytest.mark.parametrize("zero_point", [-128, -17, 0, 64])
def test_activation_all_values(tmp_path, kind, scale, zero_point):
    """Every int8 input value once: TFLM, numpy and C agree on the whole 256-entry function."""
    path = tmp_path / "model.tflite"
    path.write_bytes(act_model(kind, (2, 128), scale, zero_point))
    b = driver.build(path, tmp_path / "out")
    xs = [[np.arange(-128, 128, dtype=np.int8).reshape(2, 128)]]
    tflm, _ = reference.run_tflm(path, xs)
    ours_np = [[reference.run_numpy(b.graph, s)[o] for o in b.graph.outputs] for s in xs]
    exe = host.build(b.out, b.sources, sanitize=True)
    ours_c = validate.split_outputs(host.run(exe, xs), b.graph, len(xs))
    assert_bit_exact(dict(tflm=tflm, numpy=ours_np, c=ours_c))


@pytest.mark.parametrize("kind", ["LOGISTIC", "TANH"])
def test_activation_rejects_other_output_quant(kind):
    from edgec.ir import Graph, Op, Quant, Tensor
    from edgec.ops import REGISTRY

    def q(s, z):
        return Quant(np.array([s], np.float32), np.array([z], np.int64))

    g = Graph("g", {"x": Tensor("x", (1, 10), "int8", q(0.1, 0)), "y": Tensor("y", (1, 10), "int8", q(0.1, 5))},
              [], ["x"], ["y"])
    op = Op(kind.lower(), "act", ["x"], ["y"])
    assert REGISTRY[kind.lower()].check(op, g)
