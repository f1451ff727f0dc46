"""The recurrent layers this branch added, on the emulated Cortex-M7 (nucleo_f746zg, with an FPU), through
validate.test (what `edgec test --board` calls): an ONNX GRU in float32 against onnxruntime (relative 1e-5), and
an ONNX LSTM quantized by edgec (`--calib`, int8 and 16x8) at 0 LSB against TFLite Micro running the exported
model_int8.tflite.

Skipped (with the reason) only when arm-none-eabi-gcc / qemu-system-arm are not installed.
"""

import sys
from pathlib import Path

import numpy as np
import pytest
from test_cortexm import M7_BOARD, needs_tools

from edgec import driver, validate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host"))
from test_lstm_calib import data  # noqa: E402
from test_onnx_gru import onnx_gru  # noqa: E402
from test_onnx_lstm import onnx_lstm  # noqa: E402


@needs_tools
@pytest.mark.parametrize("lbr", [0, 1])
def test_gru_float32_on_m7(tmp_path, lbr):
    path = tmp_path / "gru.onnx"
    path.write_bytes(onnx_gru(6, 1, 5, 12, 0, lbr, seed=21 + lbr))
    r = validate.test(path, tmp_path / "out", M7_BOARD, samples=4, seed=3,
                      conversion=driver.Conversion(dtype="float32"))
    t = r.build.report["test"]
    assert r.passed and r.rows[0].reference == "onnxruntime", r.failures
    assert t["max_rel_error"] <= 1e-5 and t["target"].startswith("qemu")
    assert t["instructions_per_inference"] > r.build.report["macs"] > 0
    assert r.build.report["state_bytes"] == 12 * 4


@needs_tools
def test_lstm_calib_on_m7(tmp_path):
    path = tmp_path / "lstm.onnx"
    path.write_bytes(onnx_lstm(7, 1, 6, 10, 0, 4))
    calib, test = data(tmp_path, (7, 1, 6), 48, 4), data(tmp_path, (7, 1, 6), 6, 5)
    r = validate.test(path, tmp_path / "out", M7_BOARD, inputs=test, conversion=driver.Conversion(calib=calib))
    assert r.rows[0].reference.startswith("TFLM") and r.rows[0].max_abs_diff_lsb == 0
    assert r.passed, r.failures
    assert np.isfinite(r.build.report["test"]["float_model"]["cosine"])


@needs_tools
def test_lstm_int16_calib_on_m7(tmp_path):
    """The 16x8 LSTM (`--activations int16`: runtime/lstm_s16.c, int64 sums) on the M7 at 0 LSB against TFLite
    Micro running the exported model."""
    path = tmp_path / "lstm.onnx"
    path.write_bytes(onnx_lstm(5, 2, 6, 9, 0, 6))
    calib, test = data(tmp_path, (5, 2, 6), 48, 6), data(tmp_path, (5, 2, 6), 4, 7)
    r = validate.test(path, tmp_path / "out", M7_BOARD, inputs=test,
                      conversion=driver.Conversion(calib=calib, activations="int16"))
    assert r.build.report["test"]["target"].startswith("qemu")
    assert r.rows[0].reference.startswith("TFLM") and r.rows[0].max_abs_diff_lsb == 0
    assert r.passed, r.failures
    lstm = next(op for op in r.build.graph.ops if op.type == "lstm")
    assert r.build.graph.t(lstm.outputs[0]).dtype == "int16"
