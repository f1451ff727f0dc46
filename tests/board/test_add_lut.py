"""ADD and SUB through the table kernel (runtime/add_s8_lut.c), chosen for every Cortex-M core: one-op models
with broadcasting, 100x scale ratios, zero points at both ends and fused activations run on the emulated M4 (DSP) and
M3 (no DSP) at 0 LSB against TFLite Micro, and report.json names the kernel (the host keeps the portable kernel)."""

import json

import pytest
from oneop import binary_model
from run_cli import edgec
from test_cortexm import needs_tools

CASES = [  # kind, shape1, shape2, (s1, s2, s_out), activation, zero points
    ("ADD", (1, 4, 4, 3), (1, 4, 4, 3), (0.05, 0.07, 0.1), "NONE", [-128, 127, 0]),
    ("ADD", (1, 4, 1, 3), (1, 1, 5, 3), (0.1, 0.01, 0.08), "RELU6", [127, -128, -128]),
    ("SUB", (6, 5), (5,), (0.3, 0.003, 0.2), "RELU_N1_TO_1", [3, -7, 11]),
    ("SUB", (2, 1, 3, 1, 2, 4), (3, 1, 4, 1, 4), (0.04, 0.06, 0.05), "NONE", [-128, -128, 127]),
]


@needs_tools
@pytest.mark.parametrize("board", ["nucleo_l4r5zi", "mps2_an385"])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_add_sub_tables_bit_exact_on_the_board(tmp_path, board, case):
    kind, s1, s2, scales, act, zps = CASES[case]
    path = tmp_path / "m.tflite"
    path.write_bytes(binary_model(kind, s1, s2, scales, act, zero_points=zps, seed=case))
    res = edgec("test", path, "--board", board, "--samples", "20", "--out", tmp_path / "out", "--json")
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)
    assert r["test"]["max_abs_diff_lsb"] == 0 and r["test"]["passed"]
    assert r["layers"][0]["kernel"] == "edgec_add_s8_lut", r["layers"][0]
