"""Hostile and broken ONNX models through the real command line: every field is checked before it is used, and a
bad one is one clear message (exit 2) naming the node as `name (OpType)`, the input, attribute or initializer, and
the value, never a traceback or an internal error (docs/onnx.md, "What is validated").

Each test mutates the bundled digits CNN (examples/digits/digits_cnn.onnx) or a small net of tests/onnx_models.py
with the onnx package and saves it without running onnx.checker (a hostile file is not checked by its author)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_models import const, model, quantize_qdq, small_cnn
from run_cli import assert_error, edgec

from edgec.errors import EXIT_INPUT

DIGITS = Path(__file__).resolve().parents[2] / "examples" / "digits"
CONV1 = "/net/conv1/Conv (Conv)"
POOL = "/net/MaxPool (MaxPool)"


def digits() -> onnx.ModelProto:
    return onnx.load(DIGITS / "digits_cnn.onnx")


def node(m: onnx.ModelProto, name: str) -> onnx.NodeProto:
    return next(n for n in m.graph.node if n.name == name)


def set_attr(n: onnx.NodeProto, name: str, value) -> None:
    for a in list(n.attribute):
        if a.name == name:
            n.attribute.remove(a)
    n.attribute.append(helper.make_attribute(name, value))


def init(m: onnx.ModelProto, name: str) -> onnx.TensorProto:
    return next(i for i in m.graph.initializer if i.name == name)


def build_error(tmp_path: Path, m: onnx.ModelProto, *needles: str) -> str:
    path = tmp_path / "bad.onnx"
    path.write_bytes(m.SerializeToString())  # no onnx.save: it would not check either, but be explicit
    res = edgec("build", path, "--dtype", "float32", "--out", tmp_path / "out")
    msg = assert_error(res, EXIT_INPUT, *needles)
    assert not (tmp_path / "out").exists()
    return msg


def mutated(fn: Callable[[onnx.ModelProto], None]) -> onnx.ModelProto:
    m = digits()
    fn(m)
    return m


# ---- initializers and shapes --------------------------------------------------------------------------------

@pytest.mark.parametrize("count, needle", [(69, "holds 69"), (75, "holds 75")])  # 75: an internal error once
def test_initializer_data_does_not_match_its_dims(tmp_path, count, needle):
    def resize(m):
        w = init(m, "net.conv1.weight")
        w.ClearField("float_data")
        w.raw_data = np.resize(numpy_helper.to_array(w).reshape(-1), count).tobytes()
    build_error(tmp_path, mutated(resize), "net.conv1.weight", "[8, 1, 3, 3]", "72", needle)


def test_initializer_raw_data_of_a_partial_value(tmp_path):
    def odd(m):
        w = init(m, "net.conv1.weight")
        w.raw_data = w.raw_data[:-2] if w.raw_data else numpy_helper.to_array(w).tobytes()[:-2]
        w.ClearField("float_data")
    build_error(tmp_path, mutated(odd), "net.conv1.weight", "288 bytes", "286 bytes")


def test_initializer_with_a_negative_dim(tmp_path):
    def neg(m):
        init(m, "net.conv1.bias").dims[0] = -8
    build_error(tmp_path, mutated(neg), "net.conv1.bias", "-8")


def test_initializer_with_a_zero_dim(tmp_path):
    def zero(m):
        b = init(m, "net.conv1.bias")
        b.dims[0] = 0
        b.raw_data = b""
        b.ClearField("float_data")
    build_error(tmp_path, mutated(zero), "/net/conv1/Conv", "bias of 0 values for 8 outputs")


@pytest.mark.parametrize("dim", [0, -4])
def test_graph_input_with_a_zero_or_negative_dim(tmp_path, dim):
    def bad(m):
        m.graph.input[0].type.tensor_type.shape.dim[2].dim_value = dim
    build_error(tmp_path, mutated(bad), "image", str(dim))


def test_a_value_too_large_for_the_c_sizes(tmp_path):
    def huge(m):
        dims = m.graph.input[0].type.tensor_type.shape.dim
        dims[2].dim_value = dims[3].dim_value = 1 << 17  # 2^34 elements: no int32 size holds it
    build_error(tmp_path, mutated(huge), "image", "131072")


def test_graph_input_that_is_also_an_initializer_of_another_shape(tmp_path):
    def clash(m):
        w = init(m, "net.fc.weight")
        m.graph.input.append(helper.make_tensor_value_info(w.name, TensorProto.FLOAT, [3, 3]))
    build_error(tmp_path, mutated(clash), "net.fc.weight", "[3, 3]", "[10, 64]")


def test_initializer_listed_twice(tmp_path):
    def twice(m):
        m.graph.initializer.append(init(m, "net.fc.bias"))
    build_error(tmp_path, mutated(twice), "net.fc.bias", "twice")


# ---- the graph's structure ----------------------------------------------------------------------------------

def test_missing_required_input(tmp_path):
    def drop(m):
        del node(m, "/net/conv1/Conv").input[1:]
    build_error(tmp_path, mutated(drop), CONV1, "input 1", "W")


def test_empty_required_input(tmp_path):
    def empty(m):
        node(m, "/net/fc/Gemm").input[1] = ""
    build_error(tmp_path, mutated(empty), "/net/fc/Gemm (Gemm)", "input 1")


def test_node_reads_a_tensor_nobody_produces(tmp_path):
    def dangling(m):
        node(m, "/net/Relu").input[0] = "ghost"
    build_error(tmp_path, mutated(dangling), "/net/Relu (Relu)", "ghost")


def test_graph_cycle(tmp_path):
    def cycle(m):  # conv1 reads the output of the Relu that reads conv1
        node(m, "/net/conv1/Conv").input[0] = "/net/Relu_output_0"
    build_error(tmp_path, mutated(cycle), "cycle", "/net/conv1/Conv (Conv)", "/net/Relu (Relu)")


def test_two_nodes_write_one_tensor(tmp_path):
    def dup(m):
        node(m, "/net/Relu_1").output[0] = "/net/Relu_output_0"
    build_error(tmp_path, mutated(dup), "/net/Relu_output_0", "/net/Relu (Relu)", "/net/Relu_1 (Relu)")


def test_duplicate_graph_output(tmp_path):
    def dup(m):
        m.graph.output.append(m.graph.output[0])
    build_error(tmp_path, mutated(dup), "probs", "twice")


def test_graph_output_nobody_produces(tmp_path):
    def ghost(m):
        m.graph.output[0].name = "ghost"
    build_error(tmp_path, mutated(ghost), "ghost")


def test_empty_graph(tmp_path):
    def empty(m):
        m.graph.ClearField("node")
    build_error(tmp_path, mutated(empty), "probs")


def test_no_outputs(tmp_path):
    def none(m):
        m.graph.ClearField("output")
    build_error(tmp_path, mutated(none), "no outputs")


# ---- domains and opsets -------------------------------------------------------------------------------------

def test_unknown_domain(tmp_path):
    def foreign(m):
        node(m, "/net/Relu").domain = "com.example.evil"
        m.opset_import.append(helper.make_opsetid("com.example.evil", 1))
    build_error(tmp_path, mutated(foreign), "/net/Relu (Relu)", "com.example.evil")


def test_domain_without_an_opset_import(tmp_path):
    def foreign(m):
        node(m, "/net/Relu").domain = "com.example.evil"
    build_error(tmp_path, mutated(foreign), "com.example.evil")


@pytest.mark.parametrize("version", [7, 99, -1])
def test_opset_outside_the_supported_range(tmp_path, version):
    def old(m):
        m.opset_import[0].version = version
    build_error(tmp_path, mutated(old), f"opset {version}", "13", "21")


# ---- attributes ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("attr, value, needle", [
    ("strides", [0, 1], "strides [0, 1]"),
    ("strides", [-2, 1], "strides [-2, 1]"),
    ("dilations", [1, 0], "dilations [1, 0]"),
    ("kernel_shape", [3, -3], "kernel_shape [3, -3]"),
    ("pads", [1, -1, 1, 1], "pads [1, -1, 1, 1]"),
    ("strides", [1 << 40, 1], "strides [1099511627776, 1]"),
    ("pads", [1 << 31, 1, 1, 1], "pads [2147483648, 1, 1, 1]"),
])
def test_absurd_conv_attribute(tmp_path, attr, value, needle):
    def bad(m):
        set_attr(node(m, "/net/conv1/Conv"), attr, value)
    build_error(tmp_path, mutated(bad), CONV1, needle)


@pytest.mark.parametrize("attr, value, needle", [
    ("kernel_shape", [0, 2], "kernel_shape [0, 2]"),
    ("strides", [2, 0], "strides [2, 0]"),
    ("pads", [2, 0, 0, 0], "pads [2, 0, 0, 0]"),  # a pad as large as the kernel: windows of padding only
    ("pads", [0, 0, -1, 0], "pads [0, 0, -1, 0]"),
])
def test_absurd_pool_attribute(tmp_path, attr, value, needle):
    def bad(m):
        set_attr(node(m, "/net/MaxPool"), attr, value)
    build_error(tmp_path, mutated(bad), POOL, needle)


def test_ceil_mode_window_of_padding_only(tmp_path):
    """ONNX's shape inference gives this pool 5 x 5 outputs, onnxruntime and the ONNX reference 4 x 4: the fifth
    window starts in the padding. Refused, rather than computing a -FLT_MAX row no runtime computes."""
    def bad(m):
        n = node(m, "/net/MaxPool")
        set_attr(n, "pads", [0, 0, 1, 1])
        set_attr(n, "ceil_mode", 1)
    build_error(tmp_path, mutated(bad), POOL, "padding only")


def test_group_not_dividing_the_channels(tmp_path):
    def bad(m):
        set_attr(node(m, "/net/dw/Conv"), "group", 3)
    build_error(tmp_path, mutated(bad), "/net/dw/Conv (Conv)", "group 3", "8")


def test_group_zero(tmp_path):
    def bad(m):
        set_attr(node(m, "/net/dw/Conv"), "group", 0)
    build_error(tmp_path, mutated(bad), "/net/dw/Conv (Conv)", "group 0")


@pytest.mark.parametrize("op, axis", [("/Softmax", 5), ("/net/Flatten", -7)])
def test_axis_out_of_range(tmp_path, op, axis):
    def bad(m):
        set_attr(node(m, op), "axis", axis)
    build_error(tmp_path, mutated(bad), f"axis {axis}")


def test_concat_axis_out_of_range(tmp_path):
    m = model([helper.make_node("Concat", ["a", "b"], ["y"], axis=4, name="cat")],
              {"a": [1, 2, 3], "b": [1, 2, 3]}, {"y": [1, 4, 3]})
    build_error(tmp_path, m, "cat (Concat)", "axis 4")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_float_attribute_not_finite(tmp_path, value):
    m = model([helper.make_node("LeakyRelu", ["x"], ["y"], alpha=value, name="leaky")], {"x": [1, 4]}, {"y": [1, 4]})
    build_error(tmp_path, m, "leaky (LeakyRelu)", f"attribute alpha is {value}")


def test_pad_value_nan(tmp_path):
    """NaN padding once built and wrote `.pad_value = nanf` into the C (a function name, not a float)."""
    m = model([helper.make_node("Pad", ["x", "pads", "value"], ["y"], name="pad")], {"x": [2, 3]}, {"y": [2, 5]},
              [const("pads", np.array([0, 1, 0, 1], np.int64)), const("value", np.float32(np.nan))])
    build_error(tmp_path, m, "pad (Pad)", "constant_value value is NaN")


def test_attribute_of_the_wrong_type(tmp_path):
    def bad(m):
        set_attr(node(m, "/net/conv1/Conv"), "group", 1.5)
    build_error(tmp_path, mutated(bad), CONV1, "group")


# ---- quantized (QDQ) models ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def qdq(tmp_path_factory) -> onnx.ModelProto:
    folder = tmp_path_factory.mktemp("qdq")
    return onnx.load(quantize_qdq(small_cnn(seed=5), folder / "qdq.onnx", samples=8))


def _scale_of_first_q(m: onnx.ModelProto) -> tuple[onnx.NodeProto, onnx.TensorProto]:
    q = next(n for n in m.graph.node if n.op_type == "QuantizeLinear")
    return q, init(m, q.input[1])


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0.0, -0.5])
def test_qdq_scale_not_finite_or_not_positive(tmp_path, qdq, value):
    m = onnx.ModelProto()
    m.CopyFrom(qdq)
    q, scale = _scale_of_first_q(m)
    scale.CopyFrom(numpy_helper.from_array(np.full(numpy_helper.to_array(scale).shape, value, np.float32),
                                           scale.name))
    build_error(tmp_path, m, f"{q.name} (QuantizeLinear)", scale.name, str(value))


def test_qdq_zero_point_of_another_type(tmp_path, qdq):
    m = onnx.ModelProto()
    m.CopyFrom(qdq)
    q, _ = _scale_of_first_q(m)
    zp = init(m, q.input[2])
    zp.CopyFrom(numpy_helper.from_array(np.full(numpy_helper.to_array(zp).shape, 1000, np.int32), zp.name))
    build_error(tmp_path, m, f"{q.name} (QuantizeLinear)", zp.name, "int32")


def test_qdq_zero_point_outside_its_type(tmp_path, qdq):
    """An int8 zero point stored as 1000 in int32_data (where ONNX keeps int8 values): not wrapped to -24."""
    m = onnx.ModelProto()
    m.CopyFrom(qdq)
    q, _ = _scale_of_first_q(m)
    zp = init(m, q.input[2])
    count = int(np.prod(list(zp.dims), dtype=np.int64))
    zp.data_type = TensorProto.INT8
    zp.ClearField("raw_data")
    zp.ClearField("int32_data")
    zp.int32_data.extend([1000] * count)
    build_error(tmp_path, m, zp.name, "1000", "-128..127")


# ---- what onnx.checker itself finds is a message too, not its dump ------------------------------------------

def test_checker_finding_is_one_line(tmp_path):
    def bad(m):
        node(m, "/net/Relu").op_type = "NoSuchOp"
    msg = build_error(tmp_path, mutated(bad), "NoSuchOp")
    assert len(msg.strip().splitlines()) <= 4, msg


def test_shape_inference_finding_names_the_node(tmp_path):
    m = model([helper.make_node("Pad", ["x", "pads"], ["y"], name="pad")], {"x": [2, 3]}, {"y": [2, 5]},
              [const("pads", np.array([0, 0, 1, 1], np.int64))])  # pads rows: [3, 4], not the declared [2, 5]
    msg = build_error(tmp_path, m, "pad (Pad): Inferred shape and existing shape differ")
    assert "op_type:" not in msg, msg


def test_mutations_leave_the_original_valid(tmp_path):
    """The base model itself passes every check (the tests above fail for their mutation, not the model)."""
    m = model([helper.make_node("Relu", ["x"], ["y"], name="r")], {"x": [1, 4]}, {"y": [1, 4]}, inits=[
        const("unused", np.zeros(2, np.float32))])
    path = tmp_path / "ok.onnx"
    onnx.save(m, path)
    res = edgec("build", path, "--dtype", "float32", "--out", tmp_path / "out")
    assert res.returncode == 0, res.stderr
    path = tmp_path / "digits.onnx"
    onnx.save(digits(), path)
    res = edgec("build", path, "--dtype", "float32", "--out", tmp_path / "out2")
    assert res.returncode == 0, res.stderr


# ---- quantization: what the float model holds must fit the int8 kernels' int32 accumulators ---------------------

def _gemm_alpha_tiny(m: onnx.ModelProto) -> None:
    set_attr(node(m, "/net/fc/Gemm"), "alpha", 1e-30)


def _conv_bias_huge(m: onnx.ModelProto) -> None:
    """One channel's bias 1e8: its activations stay finite (far below 1e30), but at the bias scale s_x * s_w it
    is far more than an int32 holds."""
    b = init(m, node(m, "/net/conv1/Conv").input[2])
    values = numpy_helper.to_array(b).copy()
    values[0] = 1e8
    b.CopyFrom(numpy_helper.from_array(values, b.name))


@pytest.mark.parametrize("edit,where", [(_gemm_alpha_tiny, "/net/fc/Gemm"), (_conv_bias_huge, "/net/conv1/Conv")],
                         ids=["gemm-alpha-1e-30", "conv-bias-1e8"])
def test_bias_that_would_overflow_the_accumulator_once_quantized(tmp_path, edit, where):
    """Found by the mutation fuzzer: weights scaled by 1e-30 (so the bias scale s_x * s_w is tiny) or a bias of
    1e38 (kws_1d) quantized to a saturated int32 bias, the model built with exit 0 and the C overflowed its int32
    accumulator (UBSan). Now refused before any C is written, naming the op, the channel and the bound."""
    path = tmp_path / "bad.onnx"
    path.write_bytes(mutated(edit).SerializeToString())
    res = edgec("build", path, "--calib", DIGITS / "digits_calib.npz", "--calib-samples", "8",
                "--out", tmp_path / "out")
    assert_error(res, EXIT_INPUT, "cannot run in int8", "Gemm alpha", where, "output channel", "int32 accumulator",
                 "2147483647")
    assert not (tmp_path / "out").exists()


def test_qdq_int32_bias_that_would_overflow_the_accumulator(tmp_path):
    """An already quantized (QDQ) model's int32 bias at 2^31 - 1 built with exit 0 and the C's accumulator would
    overflow: held to the same bound as the TFLite importer and the quantizer."""
    m = onnx.load(quantize_qdq(small_cnn(), tmp_path / "qdq.onnx"))
    b = init(m, "b1_quantized")
    values = numpy_helper.to_array(b).copy()
    values[0] = 2**31 - 1
    b.CopyFrom(numpy_helper.from_array(values, b.name))
    path = tmp_path / "bad.onnx"
    path.write_bytes(m.SerializeToString())
    assert_error(edgec("build", path, "--out", tmp_path / "out"), EXIT_INPUT, "cannot run in int8",
                 "int32 biases are too large", "conv1", "output channel 0", "|bias| 2147483647")
    assert not (tmp_path / "out").exists()


def test_a_name_that_is_not_utf8(tmp_path):
    """Found by the mutation fuzzer: one flipped bit made a node's name invalid UTF-8; protobuf hands such a string
    over as bytes and the importer died on it (TypeError, exit 5)."""
    m = small_cnn()
    node(m, "conv1").name = "cXnv1"
    data = m.SerializeToString()
    assert data.count(b"cXnv1") == 1
    path = tmp_path / "bad.onnx"
    path.write_bytes(data.replace(b"cXnv1", b"c\xefnv1"))
    assert_error(edgec("build", path, "--dtype", "float32", "--out", tmp_path / "out"), EXIT_INPUT,
                 "node #0", "name is not valid UTF-8", "c\\xefnv1")
    assert not (tmp_path / "out").exists()
