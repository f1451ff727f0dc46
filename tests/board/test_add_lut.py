"""ADD and SUB through the table kernel (runtime/add_s8_lut.c), chosen for every Cortex-M core on layers large
enough for its tables to pay (ops/add.py table_pays: every case here; tests/board/test_add_tables_flash.py): one-op
models with broadcasting, 100x scale ratios, zero points at both ends and fused activations run on the emulated M4,
M7, M33 (DSP: the tables with the output's rescale by the compile-time stage, edgec_add_s8_lut_dsp) and M3 (no DSP:
edgec_add_s8_lut) at 0 LSB against TFLite Micro, and report.json names the kernel."""

import json

import pytest
from oneop import binary_model
from run_cli import edgec
from test_cortexm import needs_tools

CASES = [  # kind, shape1, shape2, (s1, s2, s_out), activation, zero points
    ("ADD", (1, 4, 4, 3), (1, 4, 4, 3), (0.05, 0.07, 0.1), "NONE", [-128, 127, 0]),
    ("ADD", (1, 4, 1, 3), (1, 1, 5, 3), (0.1, 0.01, 0.08), "RELU6", [127, -128, -128]),
    ("SUB", (8, 5), (5,), (0.3, 0.003, 0.2), "RELU_N1_TO_1", [3, -7, 11]),  # 40 elements: the tables pay on the M3
    ("SUB", (2, 1, 3, 1, 2, 4), (3, 1, 4, 1, 4), (0.04, 0.06, 0.05), "NONE", [-128, -128, 127]),
    ("ADD", (1, 8, 8, 5), (1, 8, 8, 5), (0.02, 0.03, 0.04), "RELU", [-5, 9, -128]),
    ("SUB", (1, 7, 3, 9), (1, 7, 3, 9), (0.5, 0.006, 0.3), "RELU6", [100, -100, 20]),
]
#: board -> the kernel its ADD/SUB layers run (every case above has an exact stage on a DSP core)
KERNEL = {"nucleo_l4r5zi": "edgec_add_s8_lut_dsp", "nucleo_f746zg": "edgec_add_s8_lut_dsp",
          "nucleo_u575zi": "edgec_add_s8_lut_dsp", "mps2_an385": "edgec_add_s8_lut"}


@needs_tools
@pytest.mark.parametrize("board", list(KERNEL))
@pytest.mark.parametrize("case", range(len(CASES)))
def test_add_sub_tables_bit_exact_on_the_board(tmp_path, board, case):
    kind, s1, s2, scales, act, zps = CASES[case]
    path = tmp_path / "m.tflite"
    path.write_bytes(binary_model(kind, s1, s2, scales, act, zero_points=zps, seed=case))
    res = edgec("test", path, "--board", board, "--samples", "20", "--out", tmp_path / "out", "--json")
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)
    assert r["test"]["max_abs_diff_lsb"] == 0 and r["test"]["passed"]
    assert r["layers"][0]["kernel"] == KERNEL[board], r["layers"][0]
