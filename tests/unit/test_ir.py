"""verifier.verify(): the invariants every stage relies on."""

import numpy as np
import pytest

from edgec.ir import Graph, Op, Quant, Tensor
from edgec.verifier import IRError, verify


def q():
    return Quant(scale=np.array([0.1], np.float32), zero_point=np.array([0], np.int64))


def t(name, shape=(1, 4), data=None, dtype="int8"):
    return Tensor(name=name, shape=shape, dtype=dtype, quant=q(), data=data)


def graph(ops, tensors, inputs=("x",), outputs=("z",)):
    return Graph(name="g", tensors={x.name: x for x in tensors}, ops=ops, inputs=list(inputs), outputs=list(outputs))


def chain():
    """x -> reshape -> y -> reshape -> z"""
    return [Op("reshape", "r0", ["x"], ["y"]), Op("reshape", "r1", ["y"], ["z"])], [t("x"), t("y"), t("z")]


def test_valid_graph_passes():
    ops, ts = chain()
    g = graph(ops, ts)
    assert verify(g) is g


def test_op_names_are_unique():
    ops, ts = chain()
    ops[1].name = ops[0].name  # generated C names an op's scratch and records after it
    with pytest.raises(IRError, match="op name r0 is used twice"):
        verify(graph(ops, ts))


def test_use_before_def():
    ops, ts = chain()
    with pytest.raises(IRError, match="r1: input y is used before it is produced"):
        verify(graph(list(reversed(ops)), ts))


def test_double_definition():
    ops, ts = chain()
    ops.append(Op("reshape", "r2", ["x"], ["y"]))
    with pytest.raises(IRError, match="output y is produced twice"):
        verify(graph(ops, ts))


def test_writing_a_graph_input_or_constant_is_a_double_definition():
    ops, ts = chain()
    ops.append(Op("reshape", "r2", ["y"], ["x"]))
    with pytest.raises(IRError, match="output x is produced twice"):
        verify(graph(ops, ts))


def test_missing_tensors():
    ops, ts = chain()
    ops.append(Op("reshape", "r2", ["nope"], ["gone"]))
    with pytest.raises(IRError) as e:
        verify(graph(ops, ts, outputs=("z", "absent")))
    msg = str(e.value)
    assert "input nope has no tensor" in msg and "output gone has no tensor" in msg
    assert "graph input/output absent has no tensor" in msg


def test_output_never_produced():
    with pytest.raises(IRError, match="graph output z is never produced"):
        verify(graph([], [t("x"), t("z")]))


def test_shape_data_mismatch():
    ops = [Op("fully_connected", "fc", ["x", "w", None], ["z"])]
    w = t("w", shape=(3, 4), data=np.zeros((4, 3), np.int8))
    with pytest.raises(IRError, match=r"constant w: data shape \(4, 3\) != \(3, 4\)"):
        verify(graph(ops, [t("x"), w, t("z", shape=(1, 3))]))


def test_non_static_shape_unknown_dtype_unknown_op_and_bad_quant():
    bad = Tensor(name="y", shape=(1, -1), dtype="int2", quant=Quant(scale=np.ones(2, np.float32),
                                                                      zero_point=np.zeros(3, np.int64)))
    ops = [Op("frobnicate", "f", ["x"], ["y"]), Op("reshape", "r", ["y"], ["z"])]
    with pytest.raises(IRError) as e:
        verify(graph(ops, [t("x"), bad, t("z")]))
    msg = str(e.value)
    for needle in ["non-static shape", "unknown dtype int2", "unknown IR op type frobnicate",
                   "scale and zero point lengths differ"]:
        assert needle in msg, msg


def test_int4_values_in_range():
    """An int4 tensor holds its values unpacked in an int8 array (ir.py), each in [-8, 7], and is a constant."""
    ops = [Op("fully_connected", "fc", ["x", "w", None], ["z"])]
    ok = t("w", shape=(3, 4), dtype="int4", data=np.full((3, 4), -8, np.int8))
    verify(graph(ops, [t("x"), ok, t("z", shape=(1, 3))]))
    assert ok.nbytes == 6
    wide = t("w", shape=(3, 4), dtype="int4", data=np.full((3, 4), 8, np.int8))
    with pytest.raises(IRError, match=r"int4 tensor w: not a constant of int8-held values in \[-8, 7\]"):
        verify(graph(ops, [t("x"), wide, t("z", shape=(1, 3))]))


def test_tensor_key_must_match_name():
    ops, ts = chain()
    g = graph(ops, ts)
    g.tensors["y2"] = g.tensors.pop("y")
    with pytest.raises(IRError, match="tensor key y2 != name y"):
        verify(g)


def test_all_problems_reported_together():
    ops, ts = chain()
    ops = list(reversed(ops)) + [Op("reshape", "r2", ["x"], ["y"])]
    with pytest.raises(IRError) as e:
        verify(graph(ops, ts))
    assert str(e.value).count("\n  ") >= 2


def test_float16_only_in_training_graphs():
    """float16 is the storage of a training step's gradients (edgec train --gradients fp16); elsewhere a float16
    tensor is refused as before."""
    ops = [Op("reshape", "r", ["x"], ["z"])]
    tensors = [t("x", dtype="float16"), t("z", dtype="float16")]
    with pytest.raises(IRError, match="float16, which edgec supports for training gradients only"):
        verify(graph(ops, tensors))
    g = graph(ops, [t("x", dtype="float16"), t("z", dtype="float16")])
    g.meta = {"training": {}}
    verify(g)
