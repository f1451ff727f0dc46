"""ONNX LSTM mapped onto the IR's lstm op (float32): edgec's C (ASan+UBSan) and numpy reference against
onnxruntime (time-major) or the onnx package's reference evaluator (batch-major, which onnxruntime lacks) over
random shapes, with biases; every invocation starts from a zero state, as ONNX
defines. The forms TFLite Micro's LSTM cannot compute are refused by name."""

import numpy as np
import onnx
import pytest
from oneop import assert_float_close
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from edgec import driver, host, reference, validate
from edgec.errors import InputError, UnsupportedError

F32 = np.float32


def onnx_lstm(seq, batch, inputs, hidden, layout, seed, **extra) -> bytes:
    rng = np.random.default_rng(seed)
    d = 2 if extra.get("direction") == "bidirectional" else 1
    xshape = [seq, batch, inputs] if layout == 0 else [batch, seq, inputs]
    yshape = [seq, d, batch, hidden] if layout == 0 else [batch, seq, d, hidden]
    inits = [numpy_helper.from_array(rng.uniform(-0.6, 0.6, (d, 4 * hidden, inputs)).astype(F32), "W"),
             numpy_helper.from_array(rng.uniform(-0.6, 0.6, (d, 4 * hidden, hidden)).astype(F32), "R"),
             numpy_helper.from_array(rng.uniform(-0.5, 0.5, (d, 8 * hidden)).astype(F32), "B")]
    names = ["X", "W", "R", "B"]
    if "P" in extra:
        inits.append(numpy_helper.from_array(np.zeros((1, 3 * hidden), F32), "P"))
        names += ["", "", "", "P"]
        extra.pop("P")
    node = helper.make_node("LSTM", names, ["Y"], hidden_size=hidden, layout=layout, **extra)
    graph = helper.make_graph([node], "lstm", [helper.make_tensor_value_info("X", TensorProto.FLOAT, xshape)],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, yshape)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.mark.parametrize("seed", range(6))
def test_onnx_lstm_float32(tmp_path, seed):
    rng = np.random.default_rng(3000 + seed)
    seq, batch, inputs, hidden = (int(rng.integers(1, 6)), int(rng.integers(1, 3)), int(rng.integers(1, 9)),
                                  int(rng.integers(1, 8)))
    layout = seed % 2
    path = tmp_path / "lstm.onnx"
    path.write_bytes(onnx_lstm(seq, batch, inputs, hidden, layout, seed))
    b = driver.build(path, tmp_path / "out", conversion=driver.Conversion(dtype="float32"))
    g = b.graph
    assert [op.type for op in g.ops] == ["lstm", "reshape"]
    xshape = (seq, batch, inputs) if layout == 0 else (batch, seq, inputs)
    xs = [[rng.uniform(-2, 2, xshape).astype(F32)] for _ in range(4)]
    if layout == 0:
        theirs = reference.run_onnxruntime(path, xs, g)
    else:  # onnxruntime runs no batch-major (layout 1) LSTM: the onnx package's reference evaluator does
        ev = ReferenceEvaluator(str(path))
        theirs = [[np.asarray(ev.run(None, {"X": s[0]})[0]).reshape(g.t(g.outputs[0]).shape)] for s in xs]
    state = reference.reset_state(g)
    ours_np = [[reference.run_numpy(g, s, state)[o].copy() for o in g.outputs] for s in xs]
    exe = host.build(b.out, b.sources, sanitize=True)
    ours_c = validate.split_outputs(host.run(exe, xs), g, len(xs))
    assert_float_close(dict(tflm=theirs, numpy=ours_np, c=ours_c))


@pytest.mark.parametrize("direction", ["reverse", "bidirectional"])
@pytest.mark.parametrize("layout", [0, 1])
def test_onnx_lstm_directions(tmp_path, direction, layout):
    """float32: reverse runs the steps from the last to the first; bidirectional is a forward and a reverse lstm
    op, their sequences concatenated on ONNX's direction axis."""
    seq, batch, inputs, hidden = 5, 2, 3, 4
    path = tmp_path / "lstm.onnx"
    path.write_bytes(onnx_lstm(seq, batch, inputs, hidden, layout, 8, direction=direction))
    b = driver.build(path, tmp_path / "out", conversion=driver.Conversion(dtype="float32"))
    g = b.graph
    assert [op.attrs["reverse"] for op in g.ops if op.type == "lstm"] == (
        [True] if direction == "reverse" else [False, True])
    rng = np.random.default_rng(8)
    xshape = (seq, batch, inputs) if layout == 0 else (batch, seq, inputs)
    xs = [[rng.uniform(-2, 2, xshape).astype(F32)] for _ in range(3)]
    if layout == 0:
        theirs = reference.run_onnxruntime(path, xs, g)
    else:
        ev = ReferenceEvaluator(str(path))
        theirs = [[np.asarray(ev.run(None, {"X": s[0]})[0]).reshape(g.t(g.outputs[0]).shape)] for s in xs]
    state = reference.reset_state(g)
    ours_np = [[reference.run_numpy(g, s, state)[o].copy() for o in g.outputs] for s in xs]
    exe = host.build(b.out, b.sources, sanitize=True)
    ours_c = validate.split_outputs(host.run(exe, xs), g, len(xs))
    assert_float_close(dict(tflm=theirs, numpy=ours_np, c=ours_c))


@pytest.mark.parametrize("extra,words", [
    (dict(clip=1.0), "clip"),
    (dict(input_forget=1), "CIFG"),
    (dict(P=True), "peephole weights P \\(input 7"),
    (dict(activations=["Sigmoid", "Relu", "Tanh"]), "activations"),
])
def test_onnx_lstm_refused(tmp_path, extra, words):
    path = tmp_path / "lstm.onnx"
    try:
        path.write_bytes(onnx_lstm(2, 1, 3, 4, 0, 0, **extra))
    except onnx.checker.ValidationError:
        pytest.skip("the ONNX checker refuses this form itself")
    with pytest.raises(UnsupportedError, match=words):
        driver.build(path, tmp_path / "out", conversion=driver.Conversion(dtype="float32"))


def test_onnx_lstm_dynamic_sequence_length(tmp_path):
    """A symbolic sequence length: refused with the --input-shape fix named; with it, the LSTM builds."""
    model = onnx.load_from_string(onnx_lstm(2, 1, 3, 4, 0, 0))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "T"
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "T"
    path = tmp_path / "dyn.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(InputError, match="dynamic shape.*--input-shape X="):
        driver.build(path, tmp_path / "out", conversion=driver.Conversion(dtype="float32"))
    fixed = driver.Conversion(dtype="float32", input_shapes={"X": (5, 1, 3)})
    b = driver.build(path, tmp_path / "out", conversion=fixed)
    assert b.graph.t(b.graph.outputs[0]).shape == (5, 1, 1, 4)

