"""The ADD/SUB table kernel's flash rule (toolchain/ops/add.py table_pays) and its shared tables
(c_emit.shared_const_array), counted in bytes: a chain of many small ADDs keeps the portable kernel on a board (each
layer would save fewer instructions than its 2 KB of tables), so its firmware is at least the tables' bytes smaller
than with the tables forced; a chain of large ADDs with the same scales emits each distinct table once, whatever the
number of layers; both run on the emulated Cortex-M4 at 0 LSB against TFLite Micro; and the half-flash rule refuses
tables that do not fit."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from run_cli import edgec
from test_cortexm import needs_tools

from edgec import driver
from edgec.board import get_board
from edgec.kernels import kernel_target, select_kernels
from edgec.modelbuilder import ModelBuilder
from edgec.ops import add

BOARD = "nucleo_l4r5zi"  # Cortex-M4 with DSP: the table kernel is edgec_add_s8_lut_dsp


def add_chain(n_layers: int, size: int, same_scales: bool, seed: int = 0) -> bytes:
    """y_0 = x; y_k = y_(k-1) + c_k (c_k a constant [size] int8 tensor), k = 1..n_layers. same_scales: every y_k
    has scale 0.1, zero point 3, and every c_k 0.05, -2 (so every layer has the same two tables); else each layer's
    scales and its output zero point differ (no two tables alike)."""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    y = b.input("x", (1, size), scale=0.1, zero_point=3)
    for k in range(1, n_layers + 1):
        s_c, s_y = (0.05, 0.1) if same_scales else (0.05 + 0.01 * k, 0.1 + 0.013 * k)
        c = b.const(f"c{k}", rng.integers(-128, 128, size=(size,), dtype=np.int8), scale=s_c,
                    zero_point=-2 if same_scales else int(rng.integers(-20, 20)))
        out = b.activation(f"y{k}", (1, size), scale=s_y, zero_point=3 if same_scales else 3 * k - 10)
        b.op("ADD", [y, c], [out], "AddOptions", fusedActivationFunction=0)
        y = out
    b.output(y)
    return b.build()


def _tested(path: Path, out: Path) -> dict:
    res = edgec("test", path, "--board", BOARD, "--samples", "10", "--out", out, "--json")
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)
    assert r["test"]["max_abs_diff_lsb"] == 0 and r["test"]["passed"], r["test"]
    return r


def _table_arrays(out: Path) -> int:
    """How many table arrays the generated weights.c defines."""
    return len(re.findall(r"^(?:static )?const int32_t \w+_table[12]\[256\]",
                          (out / "weights.c").read_text(), re.M))


@needs_tools
def test_many_small_adds_keep_the_portable_kernel_and_the_flash(tmp_path, monkeypatch):
    path = tmp_path / "small.tflite"
    path.write_bytes(add_chain(12, 4, same_scales=False))
    r = _tested(path, tmp_path / "rule")
    assert all(layer["kernel"] == "edgec_add_s8" for layer in r["layers"]), r["layers"]
    assert all("fewer than its bytes" in layer["kernel_reason"] for layer in r["layers"])
    assert _table_arrays(tmp_path / "rule") == 0
    # the same model with every table forced (no instruction is worth less than a byte): 24 tables more
    monkeypatch.setattr(add, "INSTRUCTIONS_PER_TABLE_BYTE", 0)
    forced = driver.build(path, tmp_path / "forced", board=BOARD)
    assert _table_arrays(tmp_path / "forced") == 24
    assert all(op.attrs["kernel_choice"]["kernel"] == "add_s8_lut_dsp" for op in forced.graph.ops)
    # 24 KB of tables, less the table kernel's code (it is replaced by the portable kernel's): at least 22 KB
    assert forced.report["flash_bytes"] - r["flash_bytes"] >= 22 * 1024, (forced.report["flash_bytes"],
                                                                         r["flash_bytes"])


@needs_tools
def test_identical_tables_are_emitted_once(tmp_path):
    path = tmp_path / "same.tflite"
    path.write_bytes(add_chain(6, 64, same_scales=True))
    r = _tested(path, tmp_path / "out")
    assert all(layer["kernel"] == "edgec_add_s8_lut_dsp" for layer in r["layers"]), r["layers"]
    reasons = [layer["kernel_reason"] for layer in r["layers"]]
    assert "2 new tables (2,048 B of flash)" in reasons[0]
    assert all("0 new tables (0 B of flash, 2 shared with an earlier layer)" in why for why in reasons[1:]), reasons
    assert _table_arrays(tmp_path / "out") == 2  # 6 layers, 12 table references, 2 arrays
    # the same chain with a different scale per layer: 12 arrays and 10 KB more flash
    other = tmp_path / "distinct.tflite"
    other.write_bytes(add_chain(6, 64, same_scales=False))
    distinct = driver.build(other, tmp_path / "distinct", board=BOARD)
    assert _table_arrays(tmp_path / "distinct") == 12
    assert distinct.report["flash_bytes"] - r["flash_bytes"] >= 10 * 1024


def test_tables_only_within_half_the_flash(tmp_path):
    """The half-flash rule of the int16 weight copies (kernels.conv_weights16_fit) weighs the tables too: with
    8 KB of flash (4 KB for constants) the 6 x 256 B of constants leave room for one layer's 2 KB of tables, the
    next layers (other scales, their own tables) keep the portable kernel and say why; on the host all take them."""
    path = tmp_path / "m.tflite"
    path.write_bytes(add_chain(6, 256, same_scales=False))
    g = driver.compile_model(path).graph
    select_kernels(g, kernel_target(get_board(BOARD), flash_budget=8 * 1024))
    chosen = [op.attrs.get("kernel_choice", {}).get("kernel") for op in g.ops]
    assert chosen == ["add_s8_lut_dsp"] + [None] * 5, chosen
    assert all("over half the flash (4,096 B)" in op.attrs["portable_reason"] for op in g.ops[1:])
    assert g.meta["kernels"]["table_bytes"] == 2048
    select_kernels(g, kernel_target(get_board("host")))
    assert all(op.attrs["kernel_choice"]["kernel"] == "add_s8_lut" for op in g.ops)


def test_optimize_size_keeps_no_table(tmp_path):
    """--optimize size: the portable kernel on every layer, no table, whatever the layer's size."""
    path = tmp_path / "m.tflite"
    path.write_bytes(add_chain(3, 64, same_scales=True))
    g = driver.compile_model(path).graph
    select_kernels(g, kernel_target(get_board(BOARD)), optimize="size")
    assert not any("kernel_choice" in op.attrs for op in g.ops)
    assert g.meta["kernels"]["table_bytes"] == 0
