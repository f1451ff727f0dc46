"""RELU and RELU6 on int8 vs TFLM (same and different input/output quantization), and RELU_N1_TO_1, which TFLM
has no kernel for, vs LiteRT's reference kernels (TFLite's QuantizedReluX semantics)."""

import pytest
from oneop import ModelBuilder, assert_bit_exact, run_three_ways

from edgec import driver, host, reference, validate
from edgec.data import random_inputs


def relu_model(kind, shape, in_q, out_q):
    b = ModelBuilder()
    x = b.input("x", shape, scale=in_q[0], zero_point=in_q[1])
    y = b.activation("y", shape, scale=out_q[0], zero_point=out_q[1])
    b.op(kind, [x], [y])
    b.output(y)
    return b.build()


QUANTS = [
    ((0.05, 4), (0.05, 4)),  # same quantization
    ((0.05, -20), (0.03, -128)),  # output scale smaller: rescale > 1, saturates
    ((0.02, 30), (0.045, -60)),  # output scale larger
    ((0.1, 127), (0.0123, 5)),  # input zero point at the top
    ((0.0078125, -128), (0.0078125, -128)),
]


@pytest.mark.parametrize("in_q,out_q", QUANTS)
@pytest.mark.parametrize("shape", [(1, 6, 5, 3), (17,)])
def test_relu(tmp_path, in_q, out_q, shape):
    assert_bit_exact(run_three_ways(relu_model("RELU", shape, in_q, out_q), tmp_path, samples=8))


@pytest.mark.parametrize("in_q,out_q", QUANTS + [((0.01, 0), (0.01, 0)), ((0.5, -100), (0.5, -100))])
def test_relu6(tmp_path, in_q, out_q):
    """TFLM's RELU6 clamps the raw input to [zp_x, six_x] from the INPUT quantization, never rescaling."""
    assert_bit_exact(run_three_ways(relu_model("RELU6", (2, 4, 3, 5), in_q, out_q), tmp_path, samples=8))


@pytest.mark.parametrize("in_q,out_q", QUANTS)
def test_relu_n1_to_1_vs_litert(tmp_path, in_q, out_q):
    if not reference.litert_available():
        pytest.skip("LiteRT (ai-edge-litert) is not installed")
    path = tmp_path / "model.tflite"
    path.write_bytes(relu_model("RELU_N1_TO_1", (3, 7, 5), in_q, out_q))
    b = driver.build(path, tmp_path / "out")
    xs = random_inputs(b.graph, 8, 0)
    theirs = reference.run_litert(path, xs)
    ours_np = [[reference.run_numpy(b.graph, s)[o] for o in b.graph.outputs] for s in xs]
    ours_c = validate.split_outputs(host.run(host.build(b.out, b.sources, sanitize=True), xs), b.graph, len(xs))
    assert_bit_exact(dict(tflm=theirs, numpy=ours_np, c=ours_c))
