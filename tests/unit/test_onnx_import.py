"""ONNX -> IR: ops, NCHW -> NHWC layout, and bad input. Numerics against onnxruntime through edgec's numpy
float32 references (the generated C is checked in tests/host/test_onnx_*)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx_models import const, kws_1d, model, small_cnn

from edgec import reference
from edgec.errors import InputError, UnsupportedError
from edgec.importers import import_model
from edgec.importers.onnx import import_onnx_model
from edgec.passes import canonicalize
from edgec.verifier import verify


def against_ort(m: onnx.ModelProto, samples: int = 3, seed: int = 0, **kw):
    g = verify(canonicalize(verify(import_onnx_model(m, "m.onnx", **kw))))
    rng = np.random.default_rng(seed)
    xs = [[rng.standard_normal(g.t(n).shape).astype(np.float32) for n in g.inputs] for _ in range(samples)]
    ort = reference.run_onnxruntime(m.SerializeToString(), xs, g)
    for x, theirs in zip(xs, ort):
        values = reference.run_numpy(g, x)
        for name, t in zip(g.outputs, theirs):
            np.testing.assert_allclose(values[name], t, rtol=1e-4, atol=1e-5)
    return g


def test_small_cnn_with_batchnorm_matches_onnxruntime():
    g = against_ort(small_cnn(batchnorm=True))
    # batch norm folded into conv1, Relu and Clip(0, 6) fused into the convs by canonicalize
    assert [op.type for op in g.ops] == ["pad", "conv2d", "depthwise_conv2d", "max_pool2d", "mean",
                                         "reshape", "fully_connected", "softmax"]
    assert [op.attrs["activation"] for op in g.ops if op.type.endswith("conv2d")] == ["RELU", "RELU6"]
    assert g.meta["input_layouts"] == {"x": "NCHW"} and g.t("x").shape == (1, 16, 16, 3)
    dw = next(op for op in g.ops if op.type == "depthwise_conv2d")
    assert dw.attrs["padding"] == "SAME" and g.t(dw.inputs[1]).shape == (1, 3, 3, 8)


def test_nchw_output_is_nhwc_in_c_and_recorded():
    m = model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[0, 0, 0, 0])], {"x": [1, 2, 5, 5]},
              {"y": [1, 3, 3, 3]}, [const("w", np.ones((3, 2, 3, 3), np.float32))])
    g = against_ort(m)
    assert g.meta["output_layouts"] == {"y": "NCHW"} and g.t("y").shape == (1, 3, 3, 3)


def test_transposes_fold_into_the_layout():
    """An NHWC model (tf2onnx style): Transpose(0,3,1,2) -> Conv -> Transpose(0,2,3,1) needs no transpose op."""
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[0, 3, 1, 2]),
             helper.make_node("Conv", ["xt", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Transpose", ["c"], ["y"], perm=[0, 2, 3, 1])]
    w = np.random.default_rng(1).standard_normal((4, 3, 3, 3)).astype(np.float32)
    g = against_ort(model(nodes, {"x": [1, 6, 6, 3]}, {"y": [1, 6, 6, 4]}, [const("w", w)]))
    assert [op.type for op in g.ops] == ["conv2d"]
    assert g.meta["input_layouts"] == {} and g.meta["output_layouts"] == {}


def test_layout_sensitive_ops_on_nchw_tensors():
    """Concat on channels, ReduceMean over H, Softmax over channels, a Reshape that really needs NCHW order,
    an explicit Pad and a nearest Resize, all behind a conv (so the tensors are NHWC inside)."""
    rng = np.random.default_rng(2)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Concat", ["c", "x"], ["cat"], axis=1),
             helper.make_node("Softmax", ["cat"], ["sm"], axis=1),
             helper.make_node("Pad", ["sm", "pads"], ["pd"], mode="constant"),
             helper.make_node("Resize", ["pd", "", "scales"], ["rs"], mode="nearest",
                              coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
             helper.make_node("ReduceMean", ["rs", "axes"], ["rm"], keepdims=0),
             helper.make_node("Reshape", ["rm", "shape"], ["y"])]
    inits = [const("w", rng.standard_normal((2, 3, 3, 3)).astype(np.float32)),
             const("pads", np.array([0, 0, 1, 0, 0, 0, 0, 2], np.int64)),
             const("scales", np.array([1, 1, 2, 2], np.float32)), const("axes", np.array([2], np.int64)),
             const("shape", np.array([1, -1], np.int64))]
    g = against_ort(model(nodes, {"x": [1, 3, 4, 4]}, {"y": [1, 60]}, inits, opset=18))
    types = [op.type for op in g.ops]
    assert types.count("transpose") == 1  # only before the Reshape that flattens in NCHW order
    assert "resize_nearest" in types and "pad" in types


def test_matmul_add_sub_mul_and_activations():
    rng = np.random.default_rng(3)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["mm"]), helper.make_node("Add", ["mm", "b"], ["a"]),
             helper.make_node("LeakyRelu", ["a"], ["l"], alpha=0.2), helper.make_node("HardSwish", ["l"], ["h"]),
             helper.make_node("Mul", ["h", "a"], ["m"]), helper.make_node("Sub", ["m", "b"], ["s"]),
             helper.make_node("HardSigmoid", ["s"], ["hs"]), helper.make_node("Tanh", ["hs"], ["t"]),
             helper.make_node("Sigmoid", ["t"], ["y"])]
    inits = [const("w", rng.standard_normal((8, 5)).astype(np.float32)),
             const("b", rng.standard_normal(5).astype(np.float32))]
    g = against_ort(model(nodes, {"x": [2, 3, 8]}, {"y": [2, 3, 5]}, inits))
    assert g.ops[0].type == "fully_connected" and g.ops[0].attrs["keep_num_dims"]


def test_dynamic_dims_need_input_shape(tmp_path):
    m = small_cnn()
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "N"
    path = tmp_path / "dyn.onnx"
    onnx.save(m, path)
    with pytest.raises(InputError) as e:
        import_model(path)
    assert "input x" in e.value.message and "dimension 0 is N" in e.value.message
    assert "--input-shape x=1,3,16,16" in e.value.message
    g = import_model(path, input_shapes={"x": (1, 3, 16, 16)})
    assert g.t("x").shape == (1, 16, 16, 3)
    with pytest.raises(InputError, match="does not fit"):
        import_model(path, input_shapes={"x": (1, 3, 8)})
    with pytest.raises(InputError, match="model's inputs are x"):
        import_model(path, input_shapes={"image": (1, 3, 16, 16)})


def test_opset_outside_13_to_21_is_unsupported():
    m = small_cnn()
    m.opset_import[0].version = 12
    with pytest.raises(UnsupportedError, match="opset 12; edgec reads opsets 13 to 21"):
        import_onnx_model(m)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_malformed_file_is_an_input_error(tmp_path, damage):
    data = small_cnn().SerializeToString()
    path = tmp_path / "bad.onnx"
    path.write_bytes({"garbage": b"\x08\x07\xff\xff\xff" * 20, "truncated": data[: len(data) // 2],
                      "empty": b""}[damage])
    with pytest.raises(InputError) as e:
        import_model(path)
    assert "bad.onnx" in e.value.message and "malformed" in e.value.message


def test_unsupported_ops_listed_at_once_with_node_names():
    nodes = [helper.make_node("Erf", ["x"], ["a"], name="my_erf"),
             helper.make_node("Relu", ["a"], ["b"], name="fine"),
             helper.make_node("Pad", ["x", "pads"], ["c"], mode="reflect", name="my_pad"),
             helper.make_node("ReduceMax", ["c"], ["d"], keepdims=1, name="my_max"),
             helper.make_node("Add", ["b", "d"], ["y"], name="add")]
    m = model(nodes, {"x": [1, 2, 4, 4]}, {"y": [1, 2, 4, 4]},
              [const("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))])
    with pytest.raises(UnsupportedError) as e:
        import_onnx_model(m)
    msg = e.value.message
    assert "Erf node 'my_erf'" in msg and "ReduceMax node 'my_max'" in msg
    assert "Pad node 'my_pad'" in msg and "mode reflect (supported: constant)" in msg
    assert "Conv" in msg and "GlobalAveragePool" in msg  # the supported list, once
    assert msg.count("edgec maps the ONNX ops") == 1


def test_unknown_attribute_is_reported():
    m = model([helper.make_node("Relu", ["x"], ["y"])], {"x": [1, 4]}, {"y": [1, 4]})
    m.graph.node[0].attribute.extend([helper.make_attribute("mystery", 3)])
    # onnx.checker (run by the importer's checks) refuses an attribute the schema lacks; an attribute the schema
    # has but an importer function does not read is still reported by the importer ("... is not supported")
    with pytest.raises(InputError, match=r"unnamed node \(Relu\): Unrecognized attribute: mystery"):
        import_onnx_model(m)


def test_non_float_input_is_reported():
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [1, 4])])
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    with pytest.raises(UnsupportedError, match="DOUBLE; edgec computes in float32 and int8"):
        import_onnx_model(m)


# ---- 1-D convolution and pooling (NCW), AveragePool padding rules, Gemm transA ---------------------------------

def test_1d_kws_net_runs_on_the_2d_ops_with_h_1():
    """Conv1d/pool1d map to the 2-D IR ops on [N, 1, W, C]: activations fuse, no transpose between layers; the
    C takes the input as ONNX holds it (NCW), one transpose (+ a free reshape) brings it to [N, 1, W, C]."""
    g = against_ort(kws_1d())
    types = [op.type for op in g.ops]
    assert types == ["transpose", "reshape", "conv2d", "depthwise_conv2d", "conv2d", "pad", "avg_pool2d", "mul",
                     "max_pool2d", "mean", "reshape", "reshape", "fully_connected", "softmax"], types
    assert g.meta["input_layouts"] == {} and g.t("x").shape == (1, 10, 49)
    convs = [op for op in g.ops if op.type.endswith("conv2d")]
    assert [op.attrs["activation"] for op in convs] == ["RELU", "RELU6", "RELU"]
    assert all(g.t(op.outputs[0]).shape[:2] == (1, 1) for op in convs)
    assert g.t(convs[0].inputs[1]).shape == (16, 1, 3, 10)  # [O, 1, K, I]
    assert convs[1].attrs["stride_h"] == 1 and convs[1].attrs["stride_w"] == 2


def test_1d_conv_output_is_a_model_output_in_ncw():
    rng = np.random.default_rng(4)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[5], strides=[1], auto_pad="SAME_LOWER"),
             helper.make_node("Relu", ["c"], ["y"]),
             helper.make_node("MaxPool", ["c"], ["z"], kernel_shape=[3], strides=[2], pads=[1, 1], ceil_mode=1),
             helper.make_node("Transpose", ["c"], ["t"], perm=[0, 2, 1])]
    m = model(nodes, {"x": [1, 3, 17]}, {"y": [1, 4, 17], "z": [1, 4, 9], "t": [1, 17, 4]},
              [const("w", rng.standard_normal((4, 3, 5)).astype(np.float32))])
    g = against_ort(m)
    assert [g.t(o).shape for o in g.outputs] == [(1, 4, 17), (1, 4, 9), (1, 17, 4)]
    assert g.meta["output_layouts"] == {}
    assert [op.type for op in g.ops].count("transpose") == 3  # the input, y and z back to NCW; t costs nothing


def test_1d_conv_transpose():
    rng = np.random.default_rng(5)
    m = model([helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], strides=[2], pads=[1, 0],
                                output_padding=[1])], {"x": [1, 3, 7]}, {"y": [1, 2, 15]},
              [const("w", rng.standard_normal((3, 2, 3)).astype(np.float32)),
               const("b", rng.standard_normal(2).astype(np.float32))])
    g = against_ort(m)
    assert "conv_transpose" in [op.type for op in g.ops]


@pytest.mark.parametrize("include", [0, 1])
@pytest.mark.parametrize("pads,ceil", [([0, 0, 0, 0], 1), ([2, 1, 0, 2], 0), ([1, 1, 1, 1], 1)])
def test_average_pool_padding_and_ceil_mode(include, pads, ceil):
    """ONNX divides by the taps inside the input (count_include_pad 0) or inside input + pads (1), never by the
    overhang of ceil_mode: a VALID pool on the zero-padded input times a constant per output position."""
    x = [1, 2, 7, 8]
    node = helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=pads,
                            ceil_mode=ceil, count_include_pad=include)
    out = [x[2] + pads[0] + pads[2], x[3] + pads[1] + pads[3]]
    out = [(-(-(s - 3) // 2) if ceil else (s - 3) // 2) + 1 for s in out]
    g = against_ort(model([node], {"x": x}, {"y": [1, 2, *out]}))
    assert "avg_pool2d" in [op.type for op in g.ops]


def test_gemm_trans_a():
    rng = np.random.default_rng(6)
    m = model([helper.make_node("Gemm", ["a", "w", "b"], ["y"], transA=1, alpha=0.5)], {"a": [6, 2]}, {"y": [2, 3]},
              [const("w", rng.standard_normal((6, 3)).astype(np.float32)),
               const("b", rng.standard_normal(3).astype(np.float32))])
    g = against_ort(m)
    assert [op.type for op in g.ops] == ["transpose", "fully_connected"]
