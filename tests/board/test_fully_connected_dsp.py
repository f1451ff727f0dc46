"""The DSP fully connected kernel (runtime/fully_connected_s8_dsp.c) on emulated Cortex-M4, M7 and M33 boards through
the real CLI: three FC layers over 3 batch rows with odd depths and output counts (the depth % 4 and out % 4 tails),
per-channel and per-tensor weights, input zero points at the int8 ends, fused RELU / RELU6, 0 LSB against TFLM, and
report.json names the DSP kernel of every layer.

Skipped (with the reason) only when arm-none-eabi-gcc / qemu-system-arm are not installed."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from oneop import ACT, ModelBuilder
from run_cli import edgec

from edgec import cortexm

MISSING = cortexm.toolchain_available()
needs_tools = pytest.mark.skipif(MISSING is not None and not os.environ.get("CI"),
                                 reason=f"Cortex-M toolchain or QEMU missing: {MISSING}")


def fc_chain(seed: int = 0) -> bytes:
    """x [3,13] (zp 127) -> FC 13 to 7 per-channel (RELU, zp -128) -> FC 7 to 17 per-tensor -> FC 17 to 5 (RELU6)"""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.input("x", (3, 13), scale=0.03, zero_point=127)

    def fc(name, x, x_scale, depth, units, per_channel, zp, act, scale):
        n = units if per_channel else 1
        w_scale = rng.uniform(0.002, 0.02, size=n).astype(np.float32)
        wt = b.const(f"{name}_w", rng.integers(-127, 128, size=(units, depth), dtype=np.int8), scale=w_scale,
                     zero_point=np.zeros(n, np.int64))
        bt = b.const(f"{name}_b", rng.integers(-2000, 2000, size=units).astype(np.int32),
                     scale=(x_scale * w_scale).astype(np.float32), zero_point=np.zeros(n, np.int64))
        y = b.activation(name, (3, units), scale=scale, zero_point=zp)
        b.op("FULLY_CONNECTED", [x, wt, bt], [y], "FullyConnectedOptions", fusedActivationFunction=ACT[act])
        return y

    y = fc("fc1", x, 0.03, 13, 7, True, -128, "RELU", 0.05)
    y = fc("fc2", y, 0.05, 7, 17, False, 3, "NONE", 0.04)
    b.output(fc("fc3", y, 0.04, 17, 5, True, -5, "RELU6", 0.03))
    return b.build()


@needs_tools
@pytest.mark.parametrize("board", ["nucleo_l4r5zi", "nucleo_f746zg", "nucleo_u575zi"])  # M4, M7, M33
def test_dsp_fully_connected_bit_exact_on_the_board(tmp_path, board):
    model = tmp_path / "fc.tflite"
    model.write_bytes(fc_chain())
    res = edgec("test", model, "--board", board, "--json", "--out", tmp_path / "out", timeout=300)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout.splitlines()[0])
    assert report["test"]["reference"] == "TFLM" and report["test"]["max_abs_diff_lsb"] == 0, report["test"]
    kernels = [layer["kernel"] for layer in report["layers"]]
    assert kernels == ["edgec_fully_connected_s8_dsp"] * 3, kernels
    assert all("DSP" in layer["kernel_reason"] for layer in report["layers"])
    # fc1 (depth 13: a 4-row block and a 3-row block from a padded copy) and fc2 (depth 7: rows with the input
    # in registers, 17 rows) from the compile-time records; fc3's RELU6 narrows the clamp: the int16-weight kernel
    calls = (tmp_path / "out" / "model.c").read_text()
    assert calls.count("edgec_fully_connected_s8_dsp_rec(") == 2 and "edgec_fully_connected_s8_dsp_w16(" in calls
    reasons = [layer["kernel_reason"] for layer in report["layers"]]
    assert all("compile-time records" in why for why in reasons[:2]) and "narrowed clamp" in reasons[2], reasons
    assert "a 3-row block" in reasons[0], reasons


def shallow_fcs(seed: int = 3) -> bytes:
    """ad01's and kws's shallow FC shapes: x [1,8] -> FC 8 to 128 per-tensor -> FC 128 to 12 per-channel"""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    x = b.input("x", (1, 8), scale=0.05, zero_point=-3)
    w1 = b.const("w1", rng.integers(-127, 128, size=(128, 8), dtype=np.int8), scale=np.float32(0.01),
                 zero_point=np.zeros(1, np.int64))
    b1 = b.const("b1", rng.integers(-500, 500, size=128).astype(np.int32), scale=np.float32(0.0005),
                 zero_point=np.zeros(1, np.int64))
    y1 = b.activation("y1", (1, 128), scale=0.08, zero_point=-128)
    b.op("FULLY_CONNECTED", [x, w1, b1], [y1], "FullyConnectedOptions", fusedActivationFunction=ACT["RELU"])
    s2 = rng.uniform(0.002, 0.01, size=12).astype(np.float32)
    w2 = b.const("w2", rng.integers(-127, 128, size=(12, 128), dtype=np.int8), scale=s2,
                 zero_point=np.zeros(12, np.int64))
    b2 = b.const("b2", rng.integers(-500, 500, size=12).astype(np.int32), scale=(0.08 * s2).astype(np.float32),
                 zero_point=np.zeros(12, np.int64))
    y2 = b.activation("y2", (1, 12), scale=0.1, zero_point=5)
    b.op("FULLY_CONNECTED", [y1, w2, b2], [y2], "FullyConnectedOptions", fusedActivationFunction=ACT["NONE"])
    b.output(y2)
    return b.build()


def _m4_report(tmp_path, tflite: bytes) -> dict:
    """`edgec test` of the model on the emulated M4 (5 samples): report.json, after checking exit 0 and 0 LSB"""
    model = tmp_path / "fc.tflite"
    model.write_bytes(tflite)
    res = edgec("test", model, "--board", "nucleo_l4r5zi", "--json", "--samples", "5", "--out", tmp_path / "out",
                timeout=300)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout.splitlines()[0])
    assert report["test"]["max_abs_diff_lsb"] == 0, report["test"]
    return report


@needs_tools
def test_shallow_fc_layers_reach_0_7_mac_per_instruction(tmp_path):
    """Counts, not times: the emulated M4's instructions per layer (QEMU's TCG plugin), the call included."""
    report = _m4_report(tmp_path, shallow_fcs())
    for layer, counted in zip(report["layers"], report["test"]["layer_instructions"]):
        assert layer["macs"] == 1024 or layer["macs"] == 1536, layer
        assert layer["macs"] / counted["instructions"] >= 0.7, (layer["name"], counted)


def few_row_fcs(seed: int = 5) -> bytes:
    """ResNet-8's and vww's FC shapes, fewer than 4 rows or a remainder of 2: x [1,64] -> FC 64 to 10 per-channel ->
    FC 10 to 256 per-tensor (RELU at zp -128: the full clamp) -> FC 256 to 2 per-channel"""
    rng = np.random.default_rng(seed)
    b = ModelBuilder()
    y = b.input("x", (1, 64), scale=0.05, zero_point=-7)
    x_scale = 0.05
    for i, (depth, units, per_channel, act, zp, scale) in enumerate(
            [(64, 10, True, "NONE", 4, 0.1), (10, 256, False, "RELU", -128, 0.06), (256, 2, True, "NONE", -3, 0.2)]):
        n = units if per_channel else 1
        w_scale = rng.uniform(0.002, 0.01, size=n).astype(np.float32)
        wt = b.const(f"w{i}", rng.integers(-127, 128, size=(units, depth), dtype=np.int8), scale=w_scale,
                     zero_point=np.zeros(n, np.int64))
        bt = b.const(f"b{i}", rng.integers(-500, 500, size=units).astype(np.int32),
                     scale=(x_scale * w_scale).astype(np.float32), zero_point=np.zeros(n, np.int64))
        out = b.activation(f"y{i}", (1, units), scale=scale, zero_point=zp)
        b.op("FULLY_CONNECTED", [y, wt, bt], [out], "FullyConnectedOptions", fusedActivationFunction=ACT[act])
        y, x_scale = out, scale
    b.output(y)
    return b.build()


@needs_tools
def test_few_row_fc_layers_reach_0_7_mac_per_instruction(tmp_path):
    """The records' 2-row block alone (256 -> 2) and after two blocks of 4 (64 -> 10): every layer from the records,
    0 LSB, and the two layers at >= 0.7 MAC per instruction on the emulated M4 (counts, the call included)."""
    report = _m4_report(tmp_path, few_row_fcs())
    assert (tmp_path / "out" / "model.c").read_text().count("edgec_fully_connected_s8_dsp_rec(") == 3
    reasons = [layer["kernel_reason"] for layer in report["layers"]]
    assert "a 2-row block" in reasons[0] and "a 2-row block" in reasons[2], reasons
    for layer, counted in zip(report["layers"], report["test"]["layer_instructions"]):
        if layer["macs"] in (640, 512):
            assert layer["macs"] / counted["instructions"] >= 0.7, (layer["name"], counted)
