"""SOFTMAX int8 -> int8 over the last axis: bit-exact vs TFLM for ranks 2 and 4, many depths, scales and betas."""

import numpy as np
import pytest
from oneop import ModelBuilder, assert_bit_exact, run_three_ways


def softmax_model(shape, scale, zero_point, beta):
    b = ModelBuilder()
    x = b.input("x", shape, scale=scale, zero_point=zero_point)
    y = b.activation("y", shape, scale=1.0 / 256, zero_point=-128)
    b.op("SOFTMAX", [x], [y], "SoftmaxOptions", beta=beta)
    b.output(y)
    return b.build()


# TFLM aborts (TFLITE_CHECK in reference_ops::Softmax) when a row's sum of exponentials reaches 512, so rows of
# 512+ values are tested only with scales where random rows stay well below that.
@pytest.mark.parametrize("shape,scale,zero_point,beta", [
    ((1, 10), 0.1, 0, 1.0),
    ((1, 1), 0.1, 3, 1.0),
    ((3, 2), 0.05, -7, 1.0),
    ((2, 37), 0.2, 12, 0.5),
    ((1, 1000), 0.05, -128, 1.0),
    ((1, 1000), 0.02, 5, 2.0),
    ((4, 10), 0.001, 0, 1.0),
    ((2, 37), 0.001, -20, 2.0),
    ((1, 12), 2.0, 0, 1.0),
    ((2, 10), 10.0, 4, 1.0),
    ((2, 10), 10.0, 4, 2.0),
    ((3, 37), 0.125, 0, 0.5),
    ((1, 3, 4, 10), 0.07, -3, 1.0),
    ((2, 2, 3, 37), 0.15, 30, 2.0),
    ((1, 5, 5, 1), 0.3, 0, 1.0),
    ((1, 2, 2, 2), 0.9, -1, 0.5),
    ((1, 1, 1, 1000), 0.12, 0, 0.5),
])
def test_softmax(tmp_path, shape, scale, zero_point, beta):
    assert_bit_exact(run_three_ways(softmax_model(shape, scale, zero_point, beta), tmp_path, samples=8,
                                    seed=len(shape) * 1000 + shape[-1]))


@pytest.mark.parametrize("scale", [0.004, 0.03, 0.6, 4.0])
@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0])
def test_softmax_scales_betas(tmp_path, scale, beta):
    assert_bit_exact(run_three_ways(softmax_model((4, 37), scale, -9, beta), tmp_path, samples=10, seed=7))


def test_softmax_rejects_other_output_quant():
    from edgec.ir import Graph, Op, Quant, Tensor
    from edgec.ops import REGISTRY

    def q(s, z):
        return Quant(np.array([s], np.float32), np.array([z], np.int64))

    g = Graph("g", {"x": Tensor("x", (1, 10), "int8", q(0.1, 0)), "y": Tensor("y", (1, 10), "int8", q(0.1, 0))},
              [], ["x"], ["y"])
    op = Op("softmax", "sm", ["x"], ["y"], attrs=dict(beta=1.0))
    problems = REGISTRY["softmax"].check(op, g)
    assert any("1/256" in p for p in problems)


def numpy_and_c(tmp_path, model_bytes, xs):
    from edgec import driver, host, reference, validate

    path = tmp_path / "model.tflite"
    path.write_bytes(model_bytes)
    b = driver.build(path, tmp_path / "out")
    ours_np = [[reference.run_numpy(b.graph, s)[o] for o in b.graph.outputs] for s in xs]
    exe = host.build(b.out, b.sources, sanitize=True)
    return ours_np, validate.split_outputs(host.run(exe, xs), b.graph, len(xs))


@pytest.mark.parametrize("depth", [1000, 5000])
def test_softmax_beyond_tflm(tmp_path, depth):
    """Rows whose sum of exponentials reaches 512 make TFLM abort; edgec's numpy and C still agree, and an
    all-equal row of 1000 gives 1/1000 = 0.256 / 256, which rounds to the output minimum."""
    rng = np.random.default_rng(depth)
    xs = [[np.zeros((1, depth), np.int8)], [np.full((1, depth), 77, np.int8)],
          [rng.integers(-128, 128, size=(1, depth), dtype=np.int8)], [rng.integers(100, 128, size=(1, depth),
                                                                                   dtype=np.int8)]]
    ours_np, ours_c = numpy_and_c(tmp_path, softmax_model((1, depth), 0.001, 0, 1.0), xs)
    for a, b in zip(ours_np, ours_c):
        np.testing.assert_array_equal(np.asarray(a[0]).reshape(-1), np.asarray(b[0]).reshape(-1))
    if depth == 1000:
        assert (np.asarray(ours_np[0][0]) == -128).all()
