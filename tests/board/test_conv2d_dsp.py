"""The DSP conv kernels (runtime/conv2d_s8_dsp.c) on emulated Cortex-M4, M7 and M33 boards through the real CLI:
a 3x3 stem (im2col, 3 input channels, odd out_c, an odd pixel count), a 1x1 expansion and a 1x1 projection as FCs
over the pixels from the FC records (the projection in place), a 1x1 reduction (RELU6: the block kernel) in place, at
the int8 zero-point ends, 0 LSB against TFLM, and report.json names the DSP kernel of every layer.

Skipped (with the reason) only when arm-none-eabi-gcc / qemu-system-arm are not installed."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest
from oneop import ModelBuilder, conv_op
from run_cli import edgec

from edgec import cortexm

MISSING = cortexm.toolchain_available()
needs_tools = pytest.mark.skipif(MISSING is not None and not os.environ.get("CI"),
                                 reason=f"Cortex-M toolchain or QEMU missing: {MISSING}")


def conv_chain(seed: int = 0) -> bytes:
    """x [1,7,5,3] (zp 127) -> 3x3 SAME conv to 5 ch (RELU) -> 1x1 to 13 ch -> 1x1 to 7 ch (RELU6) -> 1x1 to 6 ch"""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.input("x", (1, 7, 5, 3), scale=0.03, zero_point=127)

    def conv(name, x, cin, cout, k, zp, act, scale):
        w = rng.integers(-127, 128, size=(cout, k, k, cin), dtype=np.int8)
        w_scale = rng.uniform(0.002, 0.02, size=cout).astype(np.float32)
        wt = b.const(f"{name}_w", w, scale=w_scale, zero_point=np.zeros(cout, np.int64), axis=0)
        bt = b.const(f"{name}_b", rng.integers(-2000, 2000, size=cout).astype(np.int32),
                     scale=(0.03 * w_scale).astype(np.float32), zero_point=np.zeros(cout, np.int64))
        y = b.activation(name, (1, 7, 5, cout), scale=scale, zero_point=zp)
        conv_op(b, [x, wt, bt], y, 1, 1, "SAME", act)
        return y

    y = conv("stem", x, 3, 5, 3, -128, "RELU", 0.05)
    y = conv("expand", y, 5, 13, 1, 3, "NONE", 0.02)
    y = conv("reduce", y, 13, 7, 1, -5, "RELU6", 0.04)
    b.output(conv("project", y, 7, 6, 1, 9, "NONE", 0.05))
    return b.build()


@needs_tools
@pytest.mark.parametrize("board", ["nucleo_l4r5zi", "nucleo_f746zg", "nucleo_u575zi"])  # M4, M7, M33
def test_dsp_conv_kernels_bit_exact_on_the_board(tmp_path, board):
    model = tmp_path / "chain.tflite"
    model.write_bytes(conv_chain())
    res = edgec("test", model, "--board", board, "--json", "--out", tmp_path / "out", timeout=300)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout.splitlines()[0])
    assert report["test"]["reference"] == "TFLM" and report["test"]["max_abs_diff_lsb"] == 0, report["test"]
    kernels = [layer["kernel"] for layer in report["layers"]]
    assert kernels == ["edgec_conv2d_s8_im2col_dsp"] + ["edgec_conv2d_s8_pointwise_dsp"] * 3, kernels
    assert all("DSP" in layer["kernel_reason"] for layer in report["layers"])
    # the reduction (RELU6: the block kernel) runs in place: the same arena address as input and output
    c = (tmp_path / "out" / "model.c").read_text()
    arena_ptr = r"\(\(int8_t \*\)\(edgec_arena\.bytes \+ \d+\)\)"  # after the params: the stage (&..., NULL)
    assert re.search(rf"edgec_conv2d_s8_pointwise_dsp\(&\w+, (?:&\w+|NULL), ({arena_ptr}), \1,", c)
    # few input channels and the full clamp: the expansion (apart) and the projection (in place) as FCs over the
    # pixels from the FC records (runtime/conv2d_s8_fc_dsp.c)
    rec = re.findall(rf"edgec_conv2d_s8_pointwise_dsp_rec\(&\w+, \w+, ({arena_ptr}), ({arena_ptr})\)", c)
    assert len(rec) == 2 and rec[0][0] != rec[0][1] and rec[1][0] == rec[1][1], rec
    assert "as a fully connected layer over the pixels" in report["layers"][1]["kernel_reason"]
    assert "fully connected" not in report["layers"][2]["kernel_reason"]


def grouped_conv() -> bytes:
    """x [1,6,6,8] -> CONV_2D with 2 groups (weights [6,3,3,4]): a conv the DSP kernels do not take"""
    rng = np.random.default_rng(1)
    b = ModelBuilder()
    x = b.input("x", (1, 6, 6, 8), scale=0.03, zero_point=0)
    w_scale = rng.uniform(0.002, 0.02, size=6).astype(np.float32)
    wt = b.const("w", rng.integers(-127, 128, size=(6, 3, 3, 4), dtype=np.int8), scale=w_scale,
                 zero_point=np.zeros(6, np.int64), axis=0)
    bt = b.const("b", rng.integers(-2000, 2000, size=6).astype(np.int32), scale=(0.03 * w_scale).astype(np.float32),
                 zero_point=np.zeros(6, np.int64))
    y = b.activation("y", (1, 6, 6, 6), scale=0.05, zero_point=0)
    conv_op(b, [x, wt, bt], y, 1, 1, "SAME", "NONE")
    b.output(y)
    return b.build()


@needs_tools
def test_grouped_conv_keeps_the_portable_kernel(tmp_path):
    model = tmp_path / "grouped.tflite"
    model.write_bytes(grouped_conv())
    res = edgec("build", model, "--board", "nucleo_l4r5zi", "--json", "--out", tmp_path / "out")
    assert res.returncode == 0, res.stderr
    (layer,) = json.loads(res.stdout.splitlines()[0])["layers"]
    assert layer["kernel"] == "edgec_conv2d_s8" and "no faster kernel" in layer["kernel_reason"], layer
    assert not (tmp_path / "out" / "runtime" / "conv2d_s8_dsp.c").exists()
