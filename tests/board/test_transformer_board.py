"""Transformer kernels on an emulated Cortex-M7 (NUCLEO-F746ZG, FPU): int8 BATCH_MATMUL at 0 LSB against TFLite
Micro (portable kernel: no DSP form yet), and float32 attention (the row-wise op) within the float tolerance of
onnxruntime, built with arm-none-eabi-gcc and newlib's expf."""

import json
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper
from onnx_models import const, model
from run_cli import edgec
from test_cortexm import needs_tools

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "host"))  # the one-op model of the host test
from test_op_batch_matmul import bmm_model  # noqa: E402

BOARD = "nucleo_f746zg"


@needs_tools
@pytest.mark.parametrize("a,b,adj_x,adj_y", [((1, 2, 17, 8), (1, 2, 8, 17), False, False),
                                             ((2, 7, 6), (2, 9, 7), True, True)])
def test_batch_matmul_int8_on_the_board(tmp_path, a, b, adj_x, adj_y):
    path = tmp_path / "bmm.tflite"
    path.write_bytes(bmm_model(a, b, adj_x, adj_y, seed=len(a)))
    res = edgec("test", path, "--board", BOARD, "--samples", "10", "--out", tmp_path / "out", "--json", timeout=600)
    assert res.returncode == 0, res.stderr
    t = json.loads(res.stdout)["test"]
    assert t["max_abs_diff_lsb"] == 0 and t["passed"] and t["instructions_per_inference"] > 0


@needs_tools
def test_row_wise_attention_f32_on_the_board(tmp_path):
    n, d = 16, 8
    mask = np.triu(np.full((n, n), -1e9, np.float32), 1)
    nodes = [helper.make_node("MatMul", ["q", "kt"], ["s"]), helper.make_node("Mul", ["s", "scale"], ["ss"]),
             helper.make_node("Add", ["ss", "mask"], ["sm"]), helper.make_node("Softmax", ["sm"], ["a"], axis=-1),
             helper.make_node("MatMul", ["a", "v"], ["y"])]
    onnx.save(model(nodes, {"q": [2, n, d], "kt": [2, d, n], "v": [2, n, d]}, {"y": [2, n, d]},
                    [const("scale", np.float32(d ** -0.5)), const("mask", mask)]), tmp_path / "att.onnx")
    res = edgec("test", tmp_path / "att.onnx", "--dtype", "float32", "--board", BOARD, "--samples", "3",
                "--out", tmp_path / "out", "--json", timeout=600)
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)
    assert r["attention"]["fused"] and [layer["op"] for layer in r["layers"]] == ["attention"]
    assert r["test"]["reference"] == "onnxruntime" and r["test"]["passed"] and r["test"]["max_rel_error"] < 1e-5
