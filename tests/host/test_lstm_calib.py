"""edgec's PTQ of a float ONNX LSTM (`--calib`) into TFLite Micro's integer 8x8->16 LSTM: the generated C equals
TFLite Micro running edgec's exported model_int8.tflite (0 LSB; the interpreter reset before each invocation,
as ONNX's LSTM restarts from a zero state) and stays close to the float model (onnxruntime)."""

import numpy as np
import pytest
from test_onnx_lstm import onnx_lstm

from edgec import driver, validate
from edgec.errors import UnsupportedError
from edgec.quantizer import lstm_cell_power

F32 = np.float32


def data(tmp_path, shape, n, seed, name="X"):
    rng = np.random.default_rng(seed)
    # smooth sequences (a random walk per feature), not white noise: what an LSTM is fed
    x = np.cumsum(rng.normal(0, 0.4, (n, *shape)), axis=1 if len(shape) == 3 else 0).astype(F32)
    path = tmp_path / f"{name}_{seed}.npz"
    np.savez(path, **{name: np.clip(x, -3, 3)})
    return path


@pytest.mark.parametrize("seed", range(4))
def test_lstm_calib_bit_exact_with_tflm(tmp_path, seed):
    rng = np.random.default_rng(5000 + seed)
    seq, batch, inputs, hidden = (int(rng.integers(2, 9)), int(rng.integers(1, 3)), int(rng.integers(2, 9)),
                                  int(rng.integers(2, 12)))
    layout = 0  # onnxruntime, the float reference, runs no batch-major (layout 1) LSTM
    path = tmp_path / "lstm.onnx"
    path.write_bytes(onnx_lstm(seq, batch, inputs, hidden, layout, seed))
    xshape = (seq, batch, inputs) if layout == 0 else (batch, seq, inputs)
    calib, test = data(tmp_path, xshape, 64, seed), data(tmp_path, xshape, 20, 100 + seed)
    r = validate.test(path, tmp_path / "out", inputs=test, conversion=driver.Conversion(calib=calib))
    g = r.build.graph
    lstm = next(op for op in g.ops if op.type == "lstm")
    assert g.t(lstm.inputs[14]).dtype == "int16" and g.t(lstm.inputs[1]).dtype == "int8"
    assert r.rows[0].reference.startswith("TFLM") and r.rows[0].max_abs_diff_lsb == 0
    assert r.passed, r.failures
    fm = r.build.report["test"]["float_model"]
    assert fm["cosine"] >= 0.99, fm  # the int8 LSTM against the float one (onnxruntime) on the same inputs
    # h is in (-1, 1): an rmse of 0.02 is ~2.5 of h's 256 steps over that range (measured 0.004-0.006)
    assert r.rows[1].rmse <= 0.02, r.rows[1]
    print(f"seed {seed}: T{seq} B{batch} I{inputs} H{hidden}: vs float cosine {fm['cosine']:.5f}, rmse "
          f"{r.rows[1].rmse:.4f}, max {r.rows[1].max_abs_diff_lsb} LSB")


def test_cell_power():
    assert lstm_cell_power(3.2) == -13  # 32767 * 2^-13 = 3.99997 covers 3.2; 2^-14 would not
    assert lstm_cell_power(3.99) == -13 and lstm_cell_power(4.0) == -12
    assert lstm_cell_power(0.0) == -31 and lstm_cell_power(1e9) == 0


@pytest.mark.parametrize("final", ["Y_h", "Y_c"])
def test_lstm_calib_final_state_refused(tmp_path, final):
    """The final state as an output: Y_c is int16 in the int8 LSTM (the quantizer says so), Y_h has no place in
    TFLite's LSTM, so model_int8.tflite cannot hold it (the exporter says so)."""
    import onnx

    m = onnx.load_from_string(onnx_lstm(3, 1, 2, 4, 0, 0))
    m.graph.node[0].output.extend(["Y_h", "Y_c"])
    m.graph.output.append(onnx.helper.make_tensor_value_info(final, onnx.TensorProto.FLOAT, [1, 1, 4]))
    path = tmp_path / "lstm.onnx"
    path.write_bytes(m.SerializeToString())
    with pytest.raises(UnsupportedError, match=final):
        driver.build(path, tmp_path / "out", conversion=driver.Conversion(calib=data(tmp_path, (3, 1, 2), 8, 0)))


@pytest.mark.parametrize("time_major", [True, False])
def test_tflite_float_lstm_calib_stream(tmp_path, time_major):
    """A float TFLite LSTM (its state kept between invocations) quantized by edgec: 0 LSB against TFLite Micro
    over a stream of invocations (the state carried on both sides), close to the float model on the same stream."""
    from test_op_lstm import lstm_model

    path = tmp_path / "lstm.tflite"
    path.write_bytes(lstm_model(4, 2, 5, 6, time_major, seed=3, dtype="float32"))
    shape = (4, 2, 5) if time_major else (2, 4, 5)
    calib, test = data(tmp_path, shape, 48, 1, name="x"), data(tmp_path, shape, 12, 2, name="x")
    r = validate.test(path, tmp_path / "out", inputs=test, conversion=driver.Conversion(calib=calib))
    assert r.rows[0].reference.startswith("TFLM") and r.rows[0].max_abs_diff_lsb == 0
    assert r.passed, r.failures
    assert r.build.report["test"]["float_model"]["cosine"] >= 0.99, r.build.report["test"]["float_model"]


@pytest.mark.parametrize("seed", range(3))
def test_lstm_calib_int16_bit_exact_with_tflm(tmp_path, seed):
    """`--activations int16`: the ONNX LSTM becomes TFLite Micro's 16x8 LSTM (int16 x, h and y, int64 biases);
    the C equals TFLite Micro on the exported model_int8.tflite (0 LSB) and is closer to the float model than
    int8 is (h's step is 2^-15 of its range, not 2^-8)."""
    rng = np.random.default_rng(7000 + seed)
    seq, batch, inputs, hidden = (int(rng.integers(2, 9)), int(rng.integers(1, 3)), int(rng.integers(2, 9)),
                                  int(rng.integers(3, 12)))
    path = tmp_path / "lstm.onnx"
    path.write_bytes(onnx_lstm(seq, batch, inputs, hidden, 0, seed))
    xshape = (seq, batch, inputs)
    calib, test = data(tmp_path, xshape, 64, seed), data(tmp_path, xshape, 20, 100 + seed)
    r = validate.test(path, tmp_path / "out", inputs=test,
                      conversion=driver.Conversion(calib=calib, activations="int16"))
    g = r.build.graph
    lstm = next(op for op in g.ops if op.type == "lstm")
    assert [g.t(lstm.inputs[k]).dtype for k in (0, 1, 9, 13, 14)] == ["int16", "int8", "int64", "int16", "int16"]
    assert g.t(lstm.outputs[0]).dtype == "int16"
    assert r.rows[0].reference.startswith("TFLM") and r.rows[0].max_abs_diff_lsb == 0
    assert r.passed, r.failures
    fm = r.build.report["test"]["float_model"]
    assert fm["cosine"] >= 0.999, fm
    assert r.rows[1].rmse <= 0.002, r.rows[1]  # int8 measured 0.004-0.006 on the cases above
    print(f"seed {seed}: T{seq} B{batch} I{inputs} H{hidden}: int16 vs float cosine {fm['cosine']:.6f}, rmse "
          f"{r.rows[1].rmse:.5f}")


@pytest.mark.parametrize("direction,seed", [("reverse", 0), ("reverse", 1), ("bidirectional", 2),
                                            ("bidirectional", 3)])
def test_lstm_calib_reverse_bidirectional(tmp_path, direction, seed):
    """An ONNX reverse or bidirectional LSTM quantized to int8: each reverse LSTM becomes TFLite's forward LSTM
    between two time reversals (STRIDED_SLICE, stride -1 on the time axis), so model_int8.tflite holds only ops
    TFLite Micro runs; the C equals it at 0 LSB and stays close to onnxruntime."""
    rng = np.random.default_rng(8000 + seed)
    seq, batch, inputs, hidden = (int(rng.integers(2, 9)), int(rng.integers(1, 3)), int(rng.integers(2, 9)),
                                  int(rng.integers(2, 12)))
    path = tmp_path / "lstm.onnx"
    path.write_bytes(onnx_lstm(seq, batch, inputs, hidden, 0, seed, direction=direction))
    xshape = (seq, batch, inputs)
    calib, test = data(tmp_path, xshape, 64, seed), data(tmp_path, xshape, 20, 100 + seed)
    r = validate.test(path, tmp_path / "out", inputs=test, conversion=driver.Conversion(calib=calib))
    g = r.build.graph
    lstms = [op for op in g.ops if op.type == "lstm"]
    assert len(lstms) == (2 if direction == "bidirectional" else 1)
    assert not any(op.attrs.get("reverse") for op in lstms)
    assert sum(op.type == "strided_slice" for op in g.ops) == 2
    assert r.rows[0].reference.startswith("TFLM") and r.rows[0].max_abs_diff_lsb == 0
    assert r.passed, r.failures
    fm = r.build.report["test"]["float_model"]
    assert fm["cosine"] >= 0.99, fm
    print(f"{direction} seed {seed}: T{seq} B{batch} I{inputs} H{hidden}: vs float cosine {fm['cosine']:.5f}")


def test_lstm_calib_int16_bidirectional(tmp_path):
    """`--activations int16` on a bidirectional LSTM: both LSTMs 16x8 and the time reversals int16 STRIDED_SLICEs
    (no int8 step in between); 0 LSB against TFLite Micro."""
    path = tmp_path / "lstm.onnx"
    path.write_bytes(onnx_lstm(5, 2, 6, 7, 0, 1, direction="bidirectional"))
    calib, test = data(tmp_path, (5, 2, 6), 64, 1), data(tmp_path, (5, 2, 6), 12, 2)
    r = validate.test(path, tmp_path / "out", inputs=test,
                      conversion=driver.Conversion(calib=calib, activations="int16"))
    g = r.build.graph
    assert {g.t(op.outputs[0]).dtype for op in g.ops} == {"int16"}
    assert sum(op.type == "strided_slice" for op in g.ops) == 2
    assert r.rows[0].reference.startswith("TFLM") and r.rows[0].max_abs_diff_lsb == 0
    assert r.passed, r.failures
    assert r.build.report["test"]["float_model"]["cosine"] >= 0.9999
