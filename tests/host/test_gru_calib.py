"""edgec's PTQ of a float ONNX GRU (`--calib`): TFLite Micro has no GRU, so the quantizer lowers each GRU into
the ops of its unrolled steps (STRIDED_SLICE, FULLY_CONNECTED, ADD, SUB, MUL, LOGISTIC, TANH, RESHAPE,
CONCATENATION; ops/gru.py, lower_to_tflite_ops), every one of which TFLite Micro runs in int8. The generated C
equals TFLite Micro on the exported model_int8.tflite (0 LSB) and stays close to the float model (onnxruntime)."""

import numpy as np
import pytest
from test_lstm_calib import data
from test_onnx_gru import onnx_gru

from edgec import driver, validate


@pytest.mark.parametrize("seed,lbr,direction", [(0, 0, "forward"), (1, 1, "forward"), (3, 0, "bidirectional")])
def test_gru_calib_bit_exact_with_tflm(tmp_path, seed, lbr, direction):
    rng = np.random.default_rng(9000 + seed)
    # T 2..3: the unrolled graph has about 16 ops per step, whose build (the operator-order search) is the cost
    seq = int(rng.integers(2, 4 if direction == "forward" else 3))
    batch, inputs, hidden = int(rng.integers(1, 3)), int(rng.integers(2, 9)), int(rng.integers(2, 10))
    path = tmp_path / "gru.onnx"
    path.write_bytes(onnx_gru(seq, batch, inputs, hidden, 0, lbr, seed, direction=direction))
    xshape = (seq, batch, inputs)
    calib, test = data(tmp_path, xshape, 64, seed), data(tmp_path, xshape, 20, 100 + seed)
    r = validate.test(path, tmp_path / "out", inputs=test, conversion=driver.Conversion(calib=calib))
    g = r.build.graph
    assert not any(op.type == "gru" for op in g.ops)
    # three on x per step (two at the first with linear_before_reset 0: r o h = 0), three on h from the second on
    assert sum(op.type == "fully_connected" for op in g.ops) == (2 if direction == "bidirectional" else 1) * (
        6 * seq - 3 - (1 - lbr))
    assert r.rows[0].reference.startswith("TFLM") and r.rows[0].max_abs_diff_lsb == 0
    assert r.passed, r.failures
    fm = r.build.report["test"]["float_model"]
    assert fm["cosine"] >= 0.99, fm
    print(f"{direction} lbr {lbr} seed {seed}: T{seq} B{batch} I{inputs} H{hidden}: vs float cosine "
          f"{fm['cosine']:.5f}")


def test_gru_carrying_state_not_lowered(tmp_path):
    """The lowering starts from h = 0 (ONNX's GRU restarts every run); a GRU carrying h between invocations is
    refused by name with --calib."""
    from edgec.errors import UnsupportedError
    from edgec.importers import import_model
    from edgec.quantizer import quantize_graph

    path = tmp_path / "gru.onnx"
    path.write_bytes(onnx_gru(2, 1, 3, 4, 0, 0, 0))
    g = import_model(path)
    next(op for op in g.ops if op.type == "gru").attrs["reset_state"] = False
    with pytest.raises(UnsupportedError, match="state persists between invocations.*--dtype float32"):
        quantize_graph(g, [[np.zeros((2, 1, 3), np.float32)]])


def test_gru_calib_int16(tmp_path):
    """`--activations int16`: the lowered GRU's ops are all int16 (16x8), 0 LSB against TFLite Micro."""
    path = tmp_path / "gru.onnx"
    path.write_bytes(onnx_gru(2, 1, 5, 6, 0, 1, 4))
    calib, test = data(tmp_path, (2, 1, 5), 64, 1), data(tmp_path, (2, 1, 5), 12, 2)
    r = validate.test(path, tmp_path / "out", inputs=test,
                      conversion=driver.Conversion(calib=calib, activations="int16"))
    g = r.build.graph
    assert {g.t(op.outputs[0]).dtype for op in g.ops} == {"int16"}
    assert r.rows[0].reference.startswith("TFLM") and r.rows[0].max_abs_diff_lsb == 0
    assert r.passed, r.failures
    assert r.build.report["test"]["float_model"]["cosine"] >= 0.9999
