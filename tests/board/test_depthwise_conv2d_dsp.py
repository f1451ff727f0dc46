"""The DSP depthwise kernel (runtime/depthwise_conv2d_s8_dsp.c) on emulated Cortex-M4, M7 and M33 boards through the
real CLI: a 3x3 stride-1 layer (the paired path, an odd output width), a 3x3 stride-2 layer with depth multiplier 2,
a 5x5 layer (the general path) and a dilated layer (which keeps the portable kernel), at the int8 zero-point ends,
0 LSB against TFLM, and report.json names the kernel of every layer. The two stride-1 DSP layers run in place
(the plane is the saved input channel); the two 3x3 layers run from the compiler's per-channel records
(edgec_depthwise_conv2d_s8_dsp_3x3). A 3x3 stride-2 layer of 10 channels on a 6 x 5 input (RELU6: a narrowed
clamp) takes the channels-last kernel (edgec_depthwise_conv2d_s8_dsp_cl, its counted cost below the planes'): two
groups of 4 channels in assembly and a last group of 2 in C, from the compiler's group records, not in place.

Skipped (with the reason) only when arm-none-eabi-gcc / qemu-system-arm are not installed."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
from oneop import ModelBuilder, conv_op, conv_out_hw
from run_cli import edgec

from edgec import cortexm

MISSING = cortexm.toolchain_available()
needs_tools = pytest.mark.skipif(MISSING is not None and not os.environ.get("CI"),
                                 reason=f"Cortex-M toolchain or QEMU missing: {MISSING}")


def depthwise_chain(seed: int = 0) -> bytes:
    """x [1,11,9,5] (zp 127) -> dw 3x3 s1 SAME (RELU) -> dw 3x3 s2 SAME x2 -> dw 5x5 s1 SAME (RELU6)
    -> dw 3x3 s2 SAME (RELU6; channels last) -> dw 3x3 dilation 2 SAME"""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.input("x", (1, 11, 9, 5), scale=0.03, zero_point=127)
    shape = [11, 9, 5]

    def dw(name, x, k, stride, dilation, mult, zp, act, scale):
        cout = shape[2] * mult
        w = rng.integers(-127, 128, size=(1, k, k, cout), dtype=np.int8)
        w_scale = rng.uniform(0.002, 0.02, size=cout).astype(np.float32)
        wt = b.const(f"{name}_w", w, scale=w_scale, zero_point=np.zeros(cout, np.int64), axis=3)
        bt = b.const(f"{name}_b", rng.integers(-2000, 2000, size=cout).astype(np.int32),
                     scale=(0.03 * w_scale).astype(np.float32), zero_point=np.zeros(cout, np.int64))
        shape[:] = [*conv_out_hw(shape[0], shape[1], (k, k), stride, dilation, "SAME"), cout]
        y = b.activation(name, (1, *shape), scale=scale, zero_point=zp)
        conv_op(b, [x, wt, bt], y, stride, dilation, "SAME", act, depthwise=True, mult=mult)
        return y

    y = dw("dw3s1", x, 3, 1, 1, 1, -128, "RELU", 0.05)
    y = dw("dw3s2", y, 3, 2, 1, 2, 3, "NONE", 0.04)
    y = dw("dw5", y, 5, 1, 1, 1, -128, "RELU6", 0.03)
    y = dw("dw3s2cl", y, 3, 2, 1, 1, -128, "RELU6", 0.03)
    b.output(dw("dilated", y, 3, 1, 2, 1, -5, "NONE", 0.05))
    return b.build()


@needs_tools
@pytest.mark.parametrize("board", ["nucleo_l4r5zi", "nucleo_f746zg", "nucleo_u575zi"])  # M4, M7, M33
def test_dsp_depthwise_kernel_bit_exact_on_the_board(tmp_path, board):
    model = tmp_path / "chain.tflite"
    model.write_bytes(depthwise_chain())
    res = edgec("test", model, "--board", board, "--json", "--out", tmp_path / "out", timeout=300)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout.splitlines()[0])
    assert report["test"]["reference"] == "TFLM" and report["test"]["max_abs_diff_lsb"] == 0, report["test"]
    kernels = [layer["kernel"] for layer in report["layers"]]
    assert kernels == (["edgec_depthwise_conv2d_s8_dsp"] * 3 + ["edgec_depthwise_conv2d_s8_dsp_cl"]
                       + ["edgec_depthwise_conv2d_s8"]), kernels
    reasons = [layer["kernel_reason"] for layer in report["layers"]]
    assert all("DSP" in why for why in reasons[:4]) and "DSP" not in reasons[4], reasons
    assert "3x3 stride 1" in reasons[0] and "3x3 stride 2" in reasons[1] and "5x5" in reasons[2], reasons
    assert "channels last" in reasons[3] and "counted cost" in reasons[3], reasons
    # in place: the same arena address as input and output for the 3x3 stride-1 and the 5x5 layers
    c = (tmp_path / "out" / "model.c").read_text()
    arena_ptr = r"\(\(int8_t \*\)\(edgec_arena\.bytes \+ \d+\)\)"
    # (after the params, the compile-time output stage: an array, or NULL; for the 3x3 layers the per-channel records)
    in_place = re.findall(rf"edgec_depthwise_conv2d_s8_dsp(?:_3x3)?\(&(\w+)_params, (?:\w+), ({arena_ptr}), \2,", c)
    assert [name for name, _ in in_place] == ["depthwise_conv_2d_0", "depthwise_conv_2d_2"], in_place
    # both 3x3 layers have a compile-time stage: they run from the compiler's records (taps scaled by 2^pre), the
    # 5x5 layer from the stage
    records = re.findall(r"edgec_depthwise_conv2d_s8_dsp_3x3\(&(\w+)_params, (\w+)_dw3x3,", c)
    assert [name for name, _ in records] == ["depthwise_conv_2d_0", "depthwise_conv_2d_1"], records
    # the channels-last layer: its group records, input and output apart (it is never in place)
    cl = re.findall(rf"edgec_depthwise_conv2d_s8_dsp_cl\(&(\w+)_params, (\w+)_dwcl, ({arena_ptr}), ({arena_ptr})\)", c)
    assert [name for name, *_ in cl] == ["depthwise_conv_2d_3"] and cl[0][2] != cl[0][3], cl
