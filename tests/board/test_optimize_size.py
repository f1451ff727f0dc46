"""`--optimize size` (toolchain/kernels.py): the portable kernels and no int16 weight copies, the smallest flash; the
int16 copies of `--optimize speed` weighed against --flash-budget; a flash budget nothing fits is exit 3 naming the
need. Counts of flash bytes from the linked firmware (ad01_int8 on the NUCLEO-L4R5ZI, whose int16 copies triple
its flash), 0 LSB against TFLM under `size`. Skipped only without arm-none-eabi-gcc / qemu-system-arm."""

from __future__ import annotations

import json

from run_cli import assert_error, edgec
from small_models import conv_dw_pool_fc
from test_cortexm import needs_tools

from edgec.errors import EXIT_BUDGET, EXIT_INPUT

BOARD = "nucleo_l4r5zi"  # Cortex-M4, 2 MB of flash


def _build(tmp_path, model, name, *options) -> dict:
    res = edgec("build", model, "--board", BOARD, "--out", tmp_path / name, "--json", *options, timeout=600)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@needs_tools
def test_size_is_smaller_and_portable(tmp_path, shared_models):
    model = shared_models / "ad01_int8.tflite"
    speed, size = _build(tmp_path, model, "speed"), _build(tmp_path, model, "size", "--optimize", "size")
    assert speed["optimize"] == "speed" and size["optimize"] == "size"
    # the int16 copies alone are twice ad01's 264 KB of FC weights
    assert size["flash_bytes"] + 2 * 250_000 < speed["flash_bytes"], (size["flash_bytes"], speed["flash_bytes"])
    for layer in speed["layers"]:
        assert layer["kernel"] == "edgec_fully_connected_s8_dsp", layer
        assert "int16 weight copies" in layer["kernel_reason"], layer
    for layer in size["layers"]:
        assert layer["kernel"] == "edgec_fully_connected_s8", layer
        assert layer["kernel_reason"].startswith("--optimize size"), layer


@needs_tools
def test_flash_budget_drops_the_int16_copies(tmp_path, shared_models):
    """Under speed, a --flash-budget under twice the constants plus copies keeps the DSP kernels on int8 weights
    (the reason says so with the numbers) and the build fits it."""
    r = _build(tmp_path, shared_models / "ad01_int8.tflite", "b", "--flash-budget", "600000")
    assert r["flash_bytes"] <= 600_000
    for layer in r["layers"]:
        assert layer["kernel"] == "edgec_fully_connected_s8_dsp", layer
        assert "int8 weights" in layer["kernel_reason"] and "300,000 B" in layer["kernel_reason"], layer


@needs_tools
def test_a_budget_nothing_fits(tmp_path, shared_models):
    model = shared_models / "ad01_int8.tflite"
    msg = assert_error(edgec("build", model, "--board", BOARD, "--optimize", "size", "--flash-budget", "200000",
                             "--out", tmp_path / "a", timeout=600), EXIT_BUDGET, "flash budget", "budget 200,000 B")
    assert "need 27" in msg  # the portable build's ~275 KB, named
    assert "--optimize size" not in msg  # already the smallest
    assert not (tmp_path / "a").exists()
    assert_error(edgec("build", model, "--board", BOARD, "--flash-budget", "200000", "--out", tmp_path / "b",
                       timeout=600), EXIT_BUDGET, "flash budget", "--optimize size keeps the portable kernels")


def test_size_with_dsp_kernels_is_a_usage_error(tmp_path, shared_models):
    res = edgec("build", shared_models / "ad01_int8.tflite", "--board", BOARD, "--optimize", "size", "--kernels", "dsp",
                "--out", tmp_path / "o")
    assert res.returncode == EXIT_INPUT and "Traceback" not in res.stderr, res.stderr
    assert "--optimize size" in res.stderr and "--kernels dsp" in res.stderr, res.stderr
    assert not (tmp_path / "o").exists()


@needs_tools
def test_size_is_bit_exact(tmp_path):
    model = tmp_path / "net.tflite"
    model.write_bytes(conv_dw_pool_fc())
    res = edgec("test", model, "--board", BOARD, "--optimize", "size", "--samples", "5", "--out", tmp_path / "o",
                "--json", timeout=600)
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)
    assert r["test"]["passed"] and r["test"]["max_abs_diff_lsb"] == 0
    assert all(not (layer["kernel"] or "").endswith("_dsp") for layer in r["layers"]), r["layers"]
