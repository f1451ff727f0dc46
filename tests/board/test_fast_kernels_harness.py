"""Every fast (DSP) int8 kernel against its portable twin on 12,554 random cases per core, byte for byte:
tests/board/fast_kernels_harness.c draws shapes with odd channel counts, strides 1 and 2, SAME/VALID, zero points at
both ends, per-channel multipliers with left and right shifts, fused clamps and both rounding modes, and runs the
pointwise conv (also in place, and as an FC over its pixels from compile-time records), im2col conv, fully
connected (also from its compile-time records), depthwise (also in place; 3x3 with a stage also from the compiler's
per-channel records, and with depth multiplier 1 on the channels-last kernel from its group records), average pool
(with the reciprocal and with TFLite's division) and max pool kernels, the pools also over a region. On the host the
DSP instructions are edgec_acle.h's C models, under ASan/UBSan; on the emulated Cortex-M4, M7, M33 and M55 they are
the real instructions. On the M55 (Helium) the MVE kernels run on the same cases against the same portable kernels.
The whole-model tests (tests/board/test_loop.py) compare the same kernels with TFLite Micro."""

from __future__ import annotations

import shutil
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from edgec import cortexm, host
from edgec.board import get_board

HARNESS = Path(__file__).with_name("fast_kernels_harness.c")
KERNELS = ["conv2d_s8", "conv2d_s8_dsp", "conv2d_s8_fc_dsp", "depthwise_conv2d_s8", "depthwise_conv2d_s8_dsp",
           "fully_connected_s8", "fully_connected_s8_dsp", "pool2d_s8", "pool2d_s8_dsp"]
CASES = 12554  # 1,000 seeds: pointwise (and in place; PW_REC_CASES also from the pointwise records), FC (and
# FC_REC_CASES more from the compile-time records; 500 more FC layers of 1-3, 5-7 or 10 rows),
# depthwise (and in place where allowed; 3x3 with a stage also from the compiler's per-channel records,
# edgec_depthwise_conv2d_s8_dsp_3x3; 250 more 3x3 layers with stride_h and stride_w 1 to 3 drawn apart), im2col,
# average and max pool (whole and a region)
FC_REC_CASES = 674  # edgec_fully_connected_s8_dsp_rec: staged, full int8 clamp, pre <= 8, depth <= 8, a multiple
# of 4 or up to 256 (any out_c)
FC_REC_TAILS = "184/100/99"  # of them with depth > 8 and out_c % 4 = 1, 2, 3: the 1-, 2- and 3-row blocks
PW_REC_CASES = 506  # edgec_conv2d_s8_pointwise_dsp_rec (apart and in place): staged, full clamp, pre <= 8;
# 77 of them on 100 more seeds with in_c 97..256
# edgec_depthwise_conv2d_s8_lanes_mve's pixel-pair path (3x3, stride_w 1 or 2, C % 4 == 0, TFLite's rounding),
# M55 only
MVE_DW_PAIRS = 85
DW_CL_CASES = 349  # edgec_depthwise_conv2d_s8_dsp_cl: 3x3, depth multiplier 1, staged, pre <= 8
# the Helium (MVE) kernels, compiled and run on the Cortex-M55 only, on the same seeds' cases
MVE_KERNELS = ["conv2d_s8_mve", "depthwise_conv2d_s8_mve", "fully_connected_s8_mve", "pool2d_s8_mve", "add_s8",
               "add_s8_mve"]
STAGED_MIN, STAGED_MAX = 1000, 3500  # DSP layers given the output stage of edgec_dsp_out.h (others: NULL)
MVE_CASES = 16727  # FC (and the 500 few-row FC layers), pointwise (and in place; 1,000 more with in_c 32..96,
# out_c 31..96), im2col, max pool
# (whole and a region, on the DSP pool cases),
# the lanes conv (out_c <= 16; pointwise also in place),
# depthwise (and in place) when it fits the MVE kernel, the lanes depthwise (depth multiplier 1; in place when the
# ring schedule allows),
# average pool (whole and a region), ADD and SUB (and in place)


def _folder(tmp_path: Path) -> Path:
    """The harness beside copies of the kernels and headers it includes, as a generated folder holds them."""
    runtime = resources.files("edgec.runtime")
    for entry in runtime.iterdir():
        if entry.name.endswith(".h") or entry.name.removesuffix(".c") in KERNELS + MVE_KERNELS:
            (tmp_path / entry.name).write_text(entry.read_text())
    shutil.copy(HARNESS, tmp_path / "main.c")
    return tmp_path


def _summary(text: str, mve_cases: int = 0) -> str:
    """The harness's last line: every case ran (the same seeds on every target) and none differed."""
    line = next((s for s in text.splitlines() if s.startswith("edgec_fast_kernels:")), "")
    assert f"cases={CASES} mismatches=0 mve_cases={mve_cases}" in line, text[-3000:]
    staged = int(line.split("staged=")[1].split()[0])  # the DSP calls given a compile-time output stage
    assert STAGED_MIN <= staged <= STAGED_MAX, line
    assert f"fc_rec_cases={FC_REC_CASES} fc_rec_tails={FC_REC_TAILS}" in line, line
    assert f"pw_rec_cases={PW_REC_CASES}" in line, line
    assert f"mve_dw_pairs={MVE_DW_PAIRS if mve_cases else 0}" in line, line
    assert f"dw_cl_cases={DW_CL_CASES}" in line, line
    return line


def test_on_the_host_under_sanitizers(tmp_path):
    d = _folder(tmp_path)
    cmd = [host.find_cc(), *host.CFLAGS, *host.SANITIZE, "-I.", "-o", "harness", "main.c",
           *[f"{k}.c" for k in KERNELS], "-lm"]
    build = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = subprocess.run(["./harness"], cwd=d, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    _summary(run.stdout)


@pytest.mark.skipif(cortexm.toolchain_available() is not None, reason="needs arm-none-eabi-gcc and qemu-system-arm")
@pytest.mark.parametrize("board", ["nucleo_l4r5zi", "nucleo_f746zg", "nucleo_u575zi", "mps3_an547"])
def test_on_each_emulated_core(tmp_path, board):
    b = get_board(board)
    assert b.dsp
    kernels = KERNELS + (MVE_KERNELS if b.mve else [])
    d = _folder(tmp_path)
    target = resources.files("edgec.targets") / "cortexm"
    for name in ("startup.c", "semihost.c", "semihost.h", "edgec_cortexm.h"):
        (d / name).write_text((target / name).read_text())
    (d / "board.ld").write_text(cortexm.linker_script(b, emulated=True))
    tc = cortexm.find_toolchain()
    cmd = [tc.gcc, *cortexm.cpu_flags(b), *cortexm.CFLAGS, "-I.", "main.c", "startup.c", "semihost.c",
           *[f"{k}.c" for k in kernels], *cortexm.LDFLAGS, "-T", "board.ld", "-o", "harness.elf", *cortexm.LIBS]
    build = subprocess.run(cmd, cwd=d, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    run = cortexm.run_firmware(d / "harness.elf", b, [[np.zeros(1, np.uint8)]], timeout=300)
    _summary(run.console, MVE_CASES if b.mve else 0)
