"""ONNX GRU mapped onto the IR's float gru op: edgec's C (ASan+UBSan) and numpy reference against onnxruntime
(time-major) or the onnx package's reference evaluator (batch-major, which onnxruntime lacks), over random
one-op models with linear_before_reset 0 and 1 and over PyTorch nn.GRU exports; the state carried between
invocations when the op keeps it; the forms edgec cannot compute refused by name."""

import numpy as np
import onnx
import pytest
from oneop import FLOAT_TOLERANCE, assert_float_close
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from edgec import codegen, driver, host, reference, validate
from edgec.errors import UnsupportedError

F32 = np.float32


def onnx_gru(seq, batch, inputs, hidden, layout, lbr, seed, y_h=False, **extra) -> bytes:
    rng = np.random.default_rng(seed)
    d = 2 if extra.get("direction") == "bidirectional" else 1
    xshape = [seq, batch, inputs] if layout == 0 else [batch, seq, inputs]
    yshape = [seq, d, batch, hidden] if layout == 0 else [batch, seq, d, hidden]
    inits = [numpy_helper.from_array(rng.uniform(-0.7, 0.7, (d, 3 * hidden, inputs)).astype(F32), "W"),
             numpy_helper.from_array(rng.uniform(-0.7, 0.7, (d, 3 * hidden, hidden)).astype(F32), "R"),
             numpy_helper.from_array(rng.uniform(-0.6, 0.6, (d, 6 * hidden)).astype(F32), "B")]
    outs = ["Y", "Y_h"] if y_h else ["Y"]
    node = helper.make_node("GRU", ["X", "W", "R", "B"], outs, hidden_size=hidden, layout=layout,
                            linear_before_reset=lbr, **extra)
    out_info = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, yshape)]
    if y_h:
        out_info.append(helper.make_tensor_value_info("Y_h", TensorProto.FLOAT,
                                                      [d, batch, hidden] if layout == 0 else [batch, d, hidden]))
    graph = helper.make_graph([node], "gru", [helper.make_tensor_value_info("X", TensorProto.FLOAT, xshape)],
                              out_info, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def three_ways(path, tmp_path, xs, reference_evaluator=False):
    b = driver.build(path, tmp_path / "out", conversion=driver.Conversion(dtype="float32"))
    g = b.graph
    if reference_evaluator:  # onnxruntime runs no batch-major (layout 1) GRU: the onnx package's evaluator does
        ev = ReferenceEvaluator(str(path))
        theirs = [[np.asarray(v).reshape(g.t(o).shape) for v, o in zip(ev.run(None, {"X": s[0]}), g.outputs)]
                  for s in xs]
    else:
        theirs = reference.run_onnxruntime(path, xs, g)
    state = reference.reset_state(g)
    ours_np = [[reference.run_numpy(g, s, state)[o].copy() for o in g.outputs] for s in xs]
    exe = host.build(b.out, b.sources, sanitize=True)
    ours_c = validate.split_outputs(host.run(exe, xs), g, len(xs))
    return b, assert_float_close(dict(tflm=theirs, numpy=ours_np, c=ours_c))


@pytest.mark.parametrize("seed", range(8))
def test_onnx_gru_float32(tmp_path, seed):
    rng = np.random.default_rng(4000 + seed)
    seq, batch, inputs, hidden = (int(rng.integers(1, 7)), int(rng.integers(1, 3)), int(rng.integers(1, 9)),
                                  int(rng.integers(1, 9)))
    layout, lbr = seed % 2, (seed // 2) % 2
    path = tmp_path / "gru.onnx"
    path.write_bytes(onnx_gru(seq, batch, inputs, hidden, layout, lbr, seed, y_h=seed >= 4))
    xshape = (seq, batch, inputs) if layout == 0 else (batch, seq, inputs)
    xs = [[rng.uniform(-2, 2, xshape).astype(F32)] for _ in range(4)]
    b, errors = three_ways(path, tmp_path, xs, reference_evaluator=layout == 1)
    assert [op.type for op in b.graph.ops] == ["gru", "reshape"] + (["reshape"] if seed >= 4 else [])
    assert all(rel <= FLOAT_TOLERANCE for _, rel in errors.values())


@pytest.mark.parametrize("batch_first,hidden,inputs,seq,bidirectional", [(True, 16, 8, 10, False),
                                                                       (False, 7, 5, 6, False),
                                                                       (True, 9, 6, 7, True)])
def test_pytorch_gru_export(tmp_path, batch_first, hidden, inputs, seq, bidirectional):
    """nn.GRU (gates r, z, n, linear_before_reset 1) as PyTorch's ONNX exporter writes it, with a Linear head."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(7)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.gru = torch.nn.GRU(inputs, hidden, batch_first=batch_first, bidirectional=bidirectional)
            self.fc = torch.nn.Linear(hidden * (2 if bidirectional else 1), 3)

        def forward(self, x):
            y, _ = self.gru(x)
            return self.fc(y)

    shape = (2, seq, inputs) if batch_first else (seq, 2, inputs)
    path = tmp_path / "gru.onnx"
    torch.onnx.export(Net().eval(), (torch.zeros(shape),), str(path), input_names=["x"], output_names=["y"],
                      opset_version=14, dynamo=False)
    assert any(n.op_type == "GRU" for n in onnx.load(str(path)).graph.node)
    rng = np.random.default_rng(11)
    xs = [[rng.uniform(-2, 2, shape).astype(F32)] for _ in range(3)]
    b, _ = three_ways(path, tmp_path, xs)
    assert "gru" in [op.type for op in b.graph.ops]


RESET_MAIN = r"""
#include <stdio.h>
#include "model.h"
#define N %(n)d
/* a stream of N chunks, reset, the same stream again: both halves must be the same outputs */
int main(void) {
    static float in[N][%(P)s_INPUT0_SIZE];
    if (fread(in, sizeof(float), N * %(P)s_INPUT0_SIZE, stdin) != (size_t)(N * %(P)s_INPUT0_SIZE)) return 2;
    %(p)s_init();
    for (int round = 0; round < 2; round++) {
        for (int s = 0; s < N; s++) {
            for (int i = 0; i < %(P)s_INPUT0_SIZE; i++) %(p)s_input(0)[i] = in[s][i];
            %(p)s_invoke();
            fwrite(%(p)s_output(0), sizeof(float), %(P)s_OUTPUT0_SIZE, stdout);
        }
        %(p)s_reset();
    }
    return 0;
}
"""


def test_gru_state_carried(tmp_path, monkeypatch):
    """With the state kept (the op's reset_state off, as a streaming model would have it), two invocations of
    T steps equal one ONNX run over the 2T steps; <prefix>_reset() starts the stream over; a fresh start on the
    second chunk differs."""
    seq, hidden, inputs = 3, 5, 4
    long = tmp_path / "long.onnx"
    long.write_bytes(onnx_gru(2 * seq, 1, inputs, hidden, 0, 0, 9))
    short = tmp_path / "short.onnx"
    short.write_bytes(onnx_gru(seq, 1, inputs, hidden, 0, 0, 9))  # the same weights (same seed and shapes)
    rng = np.random.default_rng(5)
    x = rng.uniform(-2, 2, (2 * seq, 1, inputs)).astype(F32)
    g_long = driver.build(long, tmp_path / "outl", conversion=driver.Conversion(dtype="float32")).graph
    imported = driver.import_model

    def keep_state(*args, **kwargs):
        g = imported(*args, **kwargs)
        for op in g.ops:
            if op.type == "gru":
                op.attrs["reset_state"] = False
        return g

    monkeypatch.setattr(driver, "import_model", keep_state)
    b = driver.build(short, tmp_path / "out", conversion=driver.Conversion(dtype="float32"))
    g = b.graph
    assert not next(op for op in g.ops if op.type == "gru").attrs["reset_state"]
    want = reference.run_onnxruntime(long, [[x]], g_long)[0][0].reshape(2 * seq, hidden)
    xs = [[x[:seq]], [x[seq:]]]
    state = reference.reset_state(g)
    ours_np = np.concatenate([reference.run_numpy(g, s, state)[g.outputs[0]].reshape(seq, hidden) for s in xs])
    exe = host.build(b.out, b.sources, sanitize=True)
    ours_c = np.concatenate([o[0].reshape(seq, hidden) for o in validate.split_outputs(host.run(exe, xs), g, 2)])
    top = np.abs(want).max()
    assert np.abs(ours_np - want).max() / top <= FLOAT_TOLERANCE
    assert np.abs(ours_c - want).max() / top <= FLOAT_TOLERANCE
    # <prefix>_reset() restarts the stream: the same two chunks after it give the same outputs again
    prefix = codegen.model_prefix(g.name)
    (b.out / "reset_main.c").write_text(RESET_MAIN % dict(n=2, p=prefix, P=prefix.upper()))
    reset_exe = host.build(b.out, [s if s != "main.c" else "reset_main.c" for s in b.sources], exe="reset",
                           sanitize=True)
    raw = np.frombuffer(host.run(reset_exe, xs), dtype=F32).reshape(2, 2 * seq, hidden)
    assert np.abs(raw[0] - want).max() / top <= FLOAT_TOLERANCE
    np.testing.assert_array_equal(raw[1], raw[0])
    assert b.report["state_bytes"] == hidden * 4
    # the carried state matters: a fresh start on the second chunk gives another answer
    fresh = reference.run_numpy(g, xs[1], reference.reset_state(g))[g.outputs[0]].reshape(seq, hidden)
    assert np.abs(fresh - want[seq:]).max() > 1e-3


@pytest.mark.parametrize("direction", ["reverse", "bidirectional"])
@pytest.mark.parametrize("layout,lbr", [(0, 0), (0, 1), (1, 1)])
def test_onnx_gru_directions(tmp_path, direction, layout, lbr):
    """reverse: the steps run from the last to the first; bidirectional: a forward and a reverse gru op, their
    sequences and final states concatenated on ONNX's direction axis."""
    seq, batch, inputs, hidden = 5, 2, 4, 6
    path = tmp_path / "gru.onnx"
    path.write_bytes(onnx_gru(seq, batch, inputs, hidden, layout, lbr, 17, y_h=True, direction=direction))
    rng = np.random.default_rng(17)
    xshape = (seq, batch, inputs) if layout == 0 else (batch, seq, inputs)
    xs = [[rng.uniform(-2, 2, xshape).astype(F32)] for _ in range(3)]
    b, _ = three_ways(path, tmp_path, xs, reference_evaluator=layout == 1)
    grus = [op for op in b.graph.ops if op.type == "gru"]
    assert [op.attrs["reverse"] for op in grus] == ([True] if direction == "reverse" else [False, True])


@pytest.mark.parametrize("extra,words", [
    (dict(clip=1.0), "clip"),
    (dict(activations=["Sigmoid", "Relu"]), "activations"),
])
def test_onnx_gru_refused(tmp_path, extra, words):
    path = tmp_path / "gru.onnx"
    try:
        path.write_bytes(onnx_gru(2, 1, 3, 4, 0, 0, 0, **extra))
    except onnx.checker.ValidationError:
        pytest.skip("the ONNX checker refuses this form itself")
    with pytest.raises(UnsupportedError, match=words):
        driver.build(path, tmp_path / "out", conversion=driver.Conversion(dtype="float32"))


def test_onnx_gru_dynamic_sequence_length(tmp_path):
    """A symbolic sequence length: refused with the --input-shape fix named; with it, the GRU builds."""
    from edgec.errors import InputError

    model = onnx.load_from_string(onnx_gru(2, 1, 3, 4, 0, 1, 0))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "T"
    model.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "T"
    path = tmp_path / "dyn.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(InputError, match="dynamic shape.*--input-shape X="):
        driver.build(path, tmp_path / "out", conversion=driver.Conversion(dtype="float32"))
    fixed = driver.Conversion(dtype="float32", input_shapes={"X": (6, 1, 3)})
    b = driver.build(path, tmp_path / "out", conversion=fixed)
    assert b.graph.t(b.graph.outputs[0]).shape == (6, 1, 1, 4)
