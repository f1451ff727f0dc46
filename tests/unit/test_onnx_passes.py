"""The canonicalization passes, each on its own: ONNX-level (constant folding, batch-norm folding, identities,
static shapes) checked with onnxruntime on the model before and after, IR-level (activation fusion, transpose
folding) checked with edgec's numpy references before and after."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper
from onnx_models import const, model, small_cnn

from edgec import reference
from edgec.errors import InputError
from edgec.importers import onnx_passes
from edgec.importers.onnx import import_onnx_model
from edgec.ir import Graph, Op, Quant, Tensor
from edgec.passes import canonicalize, fold_transposes, fuse_activations, fuse_hard_swish
from edgec.verifier import verify


def ort_run(m: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def ops(m: onnx.ModelProto) -> list[str]:
    return [n.op_type for n in m.graph.node]


def test_fold_constants_resolves_a_shape_chain():
    """PyTorch's old flatten: Shape -> Gather -> Unsqueeze -> Concat -> Reshape; all but the Reshape fold."""
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Shape", ["r"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["r", "shape"], ["y"])]
    inits = [const("zero", np.array(0, np.int64)), const("ax0", np.array([0], np.int64)),
             const("minus1", np.array([-1], np.int64))]
    m = onnx_passes.infer_shapes(model(nodes, {"x": [2, 3, 4]}, {"y": [2, 12]}, inits))
    folded = onnx_passes.fold_constants(m)
    assert ops(folded) == ["Relu", "Reshape"]
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    np.testing.assert_array_equal(ort_run(folded, x), ort_run(m, x))


def test_fold_constants_keeps_qdq_weights():
    nodes = [helper.make_node("DequantizeLinear", ["wq", "ws", "wz"], ["w"]),
             helper.make_node("MatMul", ["x", "w"], ["y"])]
    inits = [const("wq", np.ones((4, 2), np.int8)), const("ws", np.float32(0.5)), const("wz", np.int8(0))]
    m = onnx_passes.fold_constants(onnx_passes.infer_shapes(model(nodes, {"x": [1, 4]}, {"y": [1, 2]}, inits)))
    assert ops(m) == ["DequantizeLinear", "MatMul"]


def test_fold_batchnorm_into_conv_and_alone():
    m = onnx_passes.infer_shapes(small_cnn(batchnorm=True))
    folded = onnx_passes.fold_batchnorm(m)
    assert "BatchNormalization" not in ops(folded) and ops(folded).count("Conv") == 2
    x = np.random.default_rng(1).standard_normal((1, 3, 16, 16)).astype(np.float32)
    np.testing.assert_allclose(ort_run(folded, x), ort_run(m, x), rtol=1e-5, atol=1e-6)
    # a batch norm after a non-foldable producer: Mul + Add
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("BatchNormalization", ["r", "g", "b", "mu", "v"], ["y"], epsilon=1e-3)]
    rng = np.random.default_rng(2)
    inits = [const(n, (np.abs(rng.standard_normal(3)) + 0.5).astype(np.float32)) for n in ("g", "b", "mu", "v")]
    m = onnx_passes.infer_shapes(model(nodes, {"x": [1, 3, 4, 4]}, {"y": [1, 3, 4, 4]}, inits))
    alone = onnx_passes.fold_batchnorm(m)
    assert ops(alone) == ["Relu", "Mul", "Add"]
    x = rng.standard_normal((1, 3, 4, 4)).astype(np.float32)
    np.testing.assert_allclose(ort_run(alone, x), ort_run(m, x), rtol=1e-5, atol=1e-6)


def test_remove_identities_keeps_graph_outputs():
    nodes = [helper.make_node("Identity", ["x"], ["a"]), helper.make_node("Dropout", ["a"], ["b"]),
             helper.make_node("Relu", ["b"], ["c"]), helper.make_node("Identity", ["c"], ["y"])]
    m = onnx_passes.remove_identities(model(nodes, {"x": [1, 4]}, {"y": [1, 4]}))
    assert ops(m) == ["Relu", "Identity"] and m.graph.node[0].input[0] == "x"


def test_set_input_shapes_only_fills_dynamic_dims():
    m = small_cnn()
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "H", "W"
    fixed = onnx_passes.set_input_shapes(m, {"x": (1, 3, 16, 16)})
    assert [d.dim_value for d in fixed.graph.input[0].type.tensor_type.shape.dim] == [1, 3, 16, 16]
    with pytest.raises(InputError, match="dimension 2 is H"):
        onnx_passes.set_input_shapes(m)


# ---- IR passes --------------------------------------------------------------------------------------------------

def float_graph(relu_lo, relu_hi, readers: int = 1) -> Graph:
    """x -> conv2d -> relu(lo, hi) -> y  (and optionally the conv output as a second graph output)."""
    rng = np.random.default_rng(3)
    t = {"x": Tensor("x", (1, 5, 5, 2), "float32"), "c": Tensor("c", (1, 5, 5, 3), "float32"),
         "y": Tensor("y", (1, 5, 5, 3), "float32"),
         "w": Tensor("w", (3, 3, 3, 2), "float32", data=rng.standard_normal((3, 3, 3, 2)).astype(np.float32)),
         "b": Tensor("b", (3,), "float32", data=rng.standard_normal(3).astype(np.float32))}
    conv = Op("conv2d", "conv", ["x", "w", "b"], ["c"], dict(padding="SAME", stride_h=1, stride_w=1,
                                                             activation="NONE"))
    relu = Op("relu", "relu", ["c"], ["y"], dict(lo=relu_lo, hi=relu_hi))
    return Graph("g", t, [conv, relu], ["x"], ["y"] if readers == 1 else ["y", "c"])


@pytest.mark.parametrize("lo,hi,kind", [(0.0, None, "RELU"), (0.0, 6.0, "RELU6"), (-1.0, 1.0, "RELU_N1_TO_1")])
def test_fuse_activations_float(lo, hi, kind):
    g = verify(float_graph(lo, hi))
    x = [np.random.default_rng(4).standard_normal((1, 5, 5, 2)).astype(np.float32) * 3]
    before = reference.run_numpy(canonicalize(float_graph(lo, hi)), x)["y"]
    fused = verify(canonicalize(fuse_activations(g)))
    assert [op.type for op in fused.ops] == ["conv2d"] and fused.ops[0].attrs["activation"] == kind
    np.testing.assert_array_equal(reference.run_numpy(fused, x)["y"], before)


def test_fuse_activations_leaves_what_it_must():
    assert len(fuse_activations(float_graph(0.0, 3.0)).ops) == 2  # not a TFLite activation
    assert len(fuse_activations(float_graph(0.0, None, readers=2)).ops) == 2  # conv output read elsewhere
    g = float_graph(0.0, 6.0)  # int8 with different quantization on the relu's two sides
    for name, t in g.tensors.items():
        if t.data is None:
            t.dtype, t.quant = "int8", Quant(np.array([0.1 if name != "y" else 0.05], np.float32), np.array([0]))
    assert len(fuse_activations(g).ops) == 2


def test_fold_transposes():
    x = np.random.default_rng(5).standard_normal((1, 4, 1, 3)).astype(np.float32)
    t = {"x": Tensor("x", (1, 4, 1, 3), "float32"), "a": Tensor("a", (1, 3, 4, 1), "float32"),
         "b": Tensor("b", (1, 4, 1, 3), "float32"), "c": Tensor("c", (1, 1, 4, 3), "float32"),
         "y": Tensor("y", (1, 1, 4, 3), "float32")}
    ops_ = [Op("transpose", "t1", ["x"], ["a"], dict(perm=[0, 3, 1, 2])),
            Op("transpose", "t2", ["a"], ["b"], dict(perm=[0, 2, 3, 1])),  # undoes t1
            Op("transpose", "t3", ["b"], ["c"], dict(perm=[0, 2, 1, 3])),  # moves a size-1 dim only
            Op("relu", "r", ["c"], ["y"], dict(lo=0.0, hi=None))]
    g = verify(Graph("g", t, ops_, ["x"], ["y"]))
    before = reference.run_numpy(canonicalize(Graph("g", dict(t), [Op(o.type, o.name, list(o.inputs),
                                                                        list(o.outputs), dict(o.attrs))
                                                                     for o in ops_], ["x"], ["y"])), [x])["y"]
    folded = verify(canonicalize(fold_transposes(g)))
    assert [op.type for op in folded.ops] == ["reshape", "relu"]
    np.testing.assert_array_equal(reference.run_numpy(folded, [x])["y"], before)


def _hard_sigmoid_mul(alpha: float = 1 / 6, extra_reader: bool = False) -> Graph:
    t = {n: Tensor(n, (1, 3, 3, 4), "float32") for n in ("x", "s", "y")}
    ops_ = [Op("hard_sigmoid", "hs", ["x"], ["s"], dict(alpha=alpha, beta=0.5)),
            Op("mul", "m", ["x", "s"], ["y"], dict(activation="NONE"))]
    return Graph("g", t, ops_, ["x"], ["y", "s"] if extra_reader else ["y"])


def test_fuse_hard_swish():
    x = [np.linspace(-5, 5, 36, dtype=np.float32).reshape(1, 3, 3, 4)]
    before = reference.run_numpy(canonicalize(_hard_sigmoid_mul()), x)["y"]
    fused = verify(canonicalize(fuse_hard_swish(verify(_hard_sigmoid_mul()))))
    assert [op.type for op in fused.ops] == ["hard_swish"]
    np.testing.assert_allclose(reference.run_numpy(fused, x)["y"], before, rtol=1e-6, atol=1e-6)
    assert len(fuse_hard_swish(_hard_sigmoid_mul(alpha=0.2)).ops) == 2  # ONNX's default HardSigmoid: not swish
    assert len(fuse_hard_swish(_hard_sigmoid_mul(extra_reader=True)).ops) == 2  # the sigmoid is read elsewhere


def test_importer_output_goes_through_the_passes():
    g = verify(import_onnx_model(small_cnn(), "m.onnx"))
    g = verify(canonicalize(fold_transposes(fuse_activations(g))))
    assert [op.type for op in g.ops] == ["pad", "conv2d", "depthwise_conv2d", "max_pool2d", "mean", "reshape",
                                         "fully_connected", "softmax"]
    assert [op.attrs.get("activation") for op in g.ops[1:3]] == ["RELU", "RELU6"]
