"""Messages a new user meets: an already-quantized model of a type edgec has no kernels for names the type and never
suggests --calib; a model too big for both SRAM and flash says both; float32 results are relative errors."""

from __future__ import annotations

import numpy as np
import pytest
from run_cli import assert_error, edgec
from small_models import wide_fc

from edgec.errors import EXIT_BUDGET, EXIT_INPUT
from edgec.modelbuilder import ModelBuilder


def _abs16(tmp_path, input_dtype=np.int16):
    """x (int16 or int8) -> [QUANTIZE to int16 ->] ABS (int16, which edgec has no int16 kernel for): a 16x8 model."""
    b = ModelBuilder()
    x = b.input("x", (1, 8), input_dtype, 0.01, 0)
    h = x
    if input_dtype != np.int16:
        h = b.activation("h", (1, 8), np.int16, 0.001, 0)
        b.op("QUANTIZE", [x], [h])
    y = b.activation("y", (1, 8), np.int16, 0.001, 0)
    b.op("ABS", [h], [y])
    b.output(y)
    path = tmp_path / "abs16.tflite"
    path.write_bytes(b.build())
    return path


@pytest.mark.parametrize("input_dtype", [np.int16, np.int8])
def test_int16_op_without_kernel_names_op_node_type_and_not_calib(tmp_path, input_dtype):
    """A 16x8 model (int16 input, or int8 input requantized to int16) with an op edgec has no int16 kernel for:
    the message names the operator, its node (index and output tensor) and the type, and never suggests --calib
    (the model is quantized already). The int16 input itself is fine (16x8 models are supported)."""
    node = "#0 ABS (y)" if input_dtype == np.int16 else "#1 ABS (y)"
    msg = assert_error(edgec("build", _abs16(tmp_path, input_dtype), "--out", tmp_path / "out"), EXIT_INPUT,
                       node, "int16 activations (16x8 quantization)", "no int16 kernel for ABS")
    assert "--calib" not in msg and "model input x" not in msg, msg


def too_big(tmp_path):
    """FULLY_CONNECTED over 150,000 int8 inputs to 4: a 150 KB arena and 600 KB of weights."""
    path = tmp_path / "big.tflite"
    path.write_bytes(wide_fc(150_000, 4))
    return path


def test_too_big_for_sram_and_flash_of_a_board(tmp_path):
    # nucleo_f411re: 128 KB SRAM, 512 KB flash
    assert_error(edgec("build", too_big(tmp_path), "--board", "nucleo_f411re", "--out", tmp_path / "out"),
                 EXIT_BUDGET, "activation arena does not fit", "150,008 B",
                 "flash does not fit either", "600,016 B", "524,288 B")
    assert not (tmp_path / "out").exists()


def test_too_big_for_both_budgets(tmp_path):
    assert_error(edgec("build", too_big(tmp_path), "--sram-budget", "100k", "--flash-budget", "500k",
                       "--out", tmp_path / "out"),
                 EXIT_BUDGET, "activation arena does not fit", "flash does not fit either", "--flash-budget")


def test_check_budgets_lists_both():
    from edgec.board import get_board
    from edgec.budget import check_budgets
    from edgec.errors import BudgetError

    report = dict(weights_bytes=600_000, arena_bytes=150_000, layers=[dict(name="fc", weight_bytes=600_000)])
    with pytest.raises(BudgetError) as e:
        check_budgets(report, 100_000, 500_000, get_board("host"))
    assert "flash budget" in e.value.message and "SRAM budget" in e.value.message, e.value.message


def test_float32_verdict_is_a_relative_error(tmp_path):
    from edgec.modelbuilder import ModelBuilder

    b = ModelBuilder()
    x = b.input("x", (1, 8), np.float32)
    y = b.activation("y", (1, 8), np.float32)
    b.op("RELU", [x], [y])
    b.output(y)
    (tmp_path / "f.tflite").write_bytes(b.build())
    res = edgec("test", tmp_path / "f.tflite", "--dtype", "float32", "--samples", "5", "--out", tmp_path / "out")
    assert res.returncode == 0, res.stderr
    verdict = next(line for line in res.stderr.splitlines() if line.startswith("PASS"))
    assert "relative error" in verdict and "LSB" not in verdict, verdict
    assert "relative error" in res.stdout and "LSB" not in res.stdout, res.stdout  # the table
