"""HardSigmoid (ONNX; no TFLite builtin). float32: generated C (ASan+UBSan) bit-identical to the numpy reference
and to onnxruntime's HardSigmoid. int8: a compile-time table, so C == numpy at 0 LSB and both equal the real
function quantized once (round half away from zero) for every one of the 256 inputs."""

import numpy as np
import pytest

from edgec import codegen, host, reference, validate
from edgec.ir import Graph, Op, Quant, Tensor
from edgec.memory import plan_memory
from edgec.passes import canonicalize
from edgec.verifier import verify


def hard_sigmoid_graph(shape, alpha, beta, in_q=None, out_q=None):
    def quant(q):
        return None if q is None else Quant(scale=np.array([q[0]], np.float32), zero_point=np.array([q[1]]))

    dtype = "float32" if in_q is None else "int8"
    tensors = {"x": Tensor("x", shape, dtype, quant(in_q)), "y": Tensor("y", shape, dtype, quant(out_q))}
    op = Op(type="hard_sigmoid", name="hard_sigmoid_0", inputs=["x"], outputs=["y"],
            attrs=dict(alpha=alpha, beta=beta))
    return verify(canonicalize(verify(Graph(name="hs", tensors=tensors, ops=[op], inputs=["x"], outputs=["y"]))))


def run_c(g, tmp_path, xs):
    out = tmp_path / "out"
    sources = codegen.emit_c(g, plan_memory(g), out)
    return validate.split_outputs(host.run(host.build(out, sources, sanitize=True), xs), g, len(xs))


def onnxruntime_hard_sigmoid(x, alpha, beta):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    node = helper.make_node("HardSigmoid", ["x"], ["y"], alpha=alpha, beta=beta)
    graph = helper.make_graph([node], "hs", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, x.shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


@pytest.mark.parametrize("alpha,beta", [(0.2, 0.5), (1 / 6, 0.5), (0.7, -0.1)])
def test_hard_sigmoid_f32(tmp_path, alpha, beta):
    shape = (2, 7, 9)
    g = hard_sigmoid_graph(shape, alpha, beta)
    rng = np.random.default_rng(5)
    xs = [[rng.uniform(-6, 6, size=shape).astype(np.float32)] for _ in range(3)]
    ours_c = run_c(g, tmp_path, xs)
    for s, x in enumerate(xs):
        ours = reference.run_numpy(g, x)["y"]
        np.testing.assert_array_equal(ours_c[s][0].reshape(shape).view(np.int32), ours.view(np.int32))
        np.testing.assert_array_equal(ours, onnxruntime_hard_sigmoid(x[0], alpha, beta))


@pytest.mark.parametrize("alpha,beta,in_q,out_q", [
    (0.2, 0.5, (0.1, 3), (1 / 256, -128)),     # the usual int8 sigmoid output quantization
    (1 / 6, 0.5, (0.05, -10), (0.004, -100)),  # HardSwish's inner function
    (0.7, -0.1, (0.02, 40), (0.0123, 5)),
])
def test_hard_sigmoid_int8(tmp_path, alpha, beta, in_q, out_q):
    x = np.arange(-128, 128, dtype=np.int8).reshape(1, 256)
    g = hard_sigmoid_graph((1, 256), alpha, beta, in_q, out_q)
    ours_c = run_c(g, tmp_path, [[x]])[0][0].reshape(1, 256)
    ours = reference.run_numpy(g, [x])["y"]
    np.testing.assert_array_equal(ours_c, ours)
    # the real function on the float32 scales, quantized once; float64 is exact enough away from ties, and the
    # table must then agree, ties (which float64 may see on either side) within 1 LSB
    s_x, s_y = float(np.float32(in_q[0])), float(np.float32(out_q[0]))
    steps = np.clip(alpha * s_x * (x.astype(np.float64) - in_q[1]) + beta, 0, 1) / s_y
    expected = np.clip(np.floor(steps + 0.5) + out_q[1], -128, 127)
    near_tie = np.abs(steps - np.floor(steps) - 0.5) < 1e-9
    assert near_tie.sum() < 40
    np.testing.assert_array_equal(ours[~near_tie], expected[~near_tie])
    assert np.abs(ours.astype(np.int64) - expected).max() <= 1
