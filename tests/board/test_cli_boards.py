"""The board commands through the real CLI (a subprocess, as a user runs them): `edgec boards`, `edgec build/test
--board`, `edgec flash` (real board and --emulate). Errors: the documented exit code and one clear message on
stderr, nothing on stdout, no traceback (2 usage/input, 3 does not fit, 4 toolchain/probe)."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from run_cli import assert_error, edgec
from small_models import big_activation_conv, wide_fc
from test_cortexm import needs_tools

from edgec import cortexm
from edgec.board import all_boards
from edgec.errors import EXIT_BUDGET, EXIT_INPUT, EXIT_TOOLCHAIN

BOARD = "nucleo_f746zg"
SMALL = "nucleo_f411re"  # 128 KB SRAM, 512 KB flash


def _pyocd_importable() -> bool:
    return importlib.util.find_spec("pyocd") is not None


def _probe_attached() -> bool:
    if not _pyocd_importable():
        return False
    from pyocd.core.helpers import ConnectHelper

    try:
        return bool(ConnectHelper.get_all_connected_probes(blocking=False))
    except Exception:
        return False


@pytest.fixture
def fw(tmp_path, shared_models) -> Path:
    """ad01 built for nucleo_f746zg by `edgec build --board` (the folder `edgec flash` takes)."""
    out = tmp_path / "fw"
    res = edgec("build", shared_models / "ad01_int8.tflite", "--board", BOARD, "--out", out)
    assert res.returncode == 0, res.stderr
    return out


# ---- edgec boards ------------------------------------------------------------------------------------------

def test_boards_lists_the_boards():
    res = edgec("boards")
    assert res.returncode == 0, res.stderr
    listed = {line.split()[0] for line in res.stdout.splitlines() if line.strip()}
    boards = {n for n, b in all_boards().items() if b.is_cortexm}
    assert len(boards) >= 10 and boards <= listed, (boards - listed, res.stdout)
    assert {"nucleo_f746zg", "rpi_pico", "mps3_an547"} <= listed
    f746 = next(line for line in res.stdout.splitlines() if "nucleo_f746zg" in line)
    assert f746.split() == ["nucleo_f746zg", "cortex-m7", "216", "320", "1024", "mps2-an500", "stm32f746zgtx"], f746
    pico = next(line for line in res.stdout.splitlines() if "rpi_pico" in line)
    assert "cortex-m0plus" in pico and "mps2" not in pico, pico


# ---- edgec build --board -----------------------------------------------------------------------------------

@needs_tools
def test_build_for_a_board_json(tmp_path, shared_models):
    out = tmp_path / "fw"
    res = edgec("build", shared_models / "ad01_int8.tflite", "--board", BOARD, "--out", out, "--json")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("\n") == 1 and res.stdout.lstrip().startswith("{"), res.stdout[:500]
    report = json.loads(res.stdout)
    assert (out / "firmware.elf").is_file() and report["firmware"] == "firmware.elf"
    sizes = cortexm.elf_sizes(out / "firmware.elf")
    assert report["flash_bytes"] == sizes["flash_bytes"] >= report["weights_bytes"]
    assert report["static_sram_bytes"] == sizes["static_sram_bytes"] >= report["arena_bytes"]
    assert report["flash_budget_bytes"] == 1024 * 1024 and report["sram_budget_bytes"] == 320 * 1024
    assert report["board"] == BOARD


def _left_nothing(tmp_path: Path) -> None:
    assert not (tmp_path / "out").exists()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")], list(tmp_path.iterdir())


@needs_tools
def test_weights_too_large_for_flash(tmp_path):
    model = tmp_path / "big.tflite"
    model.write_bytes(wide_fc(1000, 700))  # 700 KB of weights > 512 KB of flash
    msg = assert_error(edgec("build", model, "--board", SMALL, "--out", tmp_path / "out"), EXIT_BUDGET,
                       SMALL, "region FLASH", "budget 524,288 B", "at layer #0 FULLY_CONNECTED")
    need = int(re.search(r"need ([\d,]+) B", msg).group(1).replace(",", ""))
    assert need > 700_000, msg
    _left_nothing(tmp_path)


@needs_tools
def test_activations_too_large_for_sram(tmp_path):
    model = tmp_path / "act.tflite"
    model.write_bytes(big_activation_conv())  # two 200 KB activations > 128 KB of SRAM
    msg = assert_error(edgec("build", model, "--board", SMALL, "--out", tmp_path / "out"), EXIT_BUDGET,
                       SMALL, "region SRAM 131,072 B", "budget 122,880 B", "at layer #0 CONV_2D",
                       "best schedule found")
    # two 200 KB activations; a 1x1 conv runs in place, so the need is one of them plus a pixel of scratch
    assert 204_800 <= int(re.search(r"need ([\d,]+) B", msg).group(1).replace(",", "")) <= 409_600, msg
    assert "FLASH" not in msg, msg
    _left_nothing(tmp_path)


# ---- edgec test --board ------------------------------------------------------------------------------------

def test_test_on_a_board_without_emulator(tmp_path, shared_models):
    assert_error(edgec("test", shared_models / "ad01_int8.tflite", "--board", "rpi_pico", "--out", tmp_path / "out"),
                 EXIT_INPUT, "rpi_pico", "no emulator", "--device")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["test", "build", "flash"])
def test_unknown_board(tmp_path, shared_models, command):
    target = tmp_path if command == "flash" else shared_models / "ad01_int8.tflite"
    extra = [] if command == "flash" else ["--out", tmp_path / "out"]
    assert_error(edgec(command, target, "--board", "nosuchboard", *extra), EXIT_INPUT,
                 "nosuchboard", "known boards", "nucleo_f746zg")


@needs_tools
def test_test_on_an_emulated_board_json(tmp_path, shared_models):
    res = edgec("test", shared_models / "kws_ref_model.tflite", "--board", BOARD, "--samples", "5", "--json",
                "--out", tmp_path / "out")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    assert res.stdout.count("\n") == 1 and res.stdout.lstrip().startswith("{"), res.stdout[:500]
    t = json.loads(res.stdout)["test"]
    assert t["passed"] and t["samples"] == 5 and t["max_abs_diff_lsb"] == 0
    assert t["instructions_per_inference"] > 0 and t["stack_bytes"] > 0 and t["flash_bytes"] > 0


# ---- edgec flash -------------------------------------------------------------------------------------------

@needs_tools
def test_flash_a_real_board_without_a_probe(fw):
    if _probe_attached():
        pytest.skip("a debug probe is attached: this test checks the message when none is")
    res = edgec("flash", fw, "--board", BOARD)
    if _pyocd_importable():
        assert_error(res, EXIT_TOOLCHAIN, "no debug probe", BOARD, "stm32f746zgtx", "pyocd list")
    else:
        assert_error(res, EXIT_TOOLCHAIN, "pyOCD is not installed", "pip install pyocd")


@needs_tools
def test_flash_without_pyocd_says_to_install_it(fw, tmp_path):
    """A `pyocd` that fails to import (shadowing the installed one) stands for a machine without pyOCD."""
    (tmp_path / "pyocd").mkdir()
    (tmp_path / "pyocd" / "__init__.py").write_text('raise ImportError("no pyocd here (test)")\n')
    res = edgec("flash", fw, "--board", BOARD, env={"PYTHONPATH": str(tmp_path)})
    assert_error(res, EXIT_TOOLCHAIN, "pyOCD is not installed", "pip install pyocd")


@needs_tools
def test_test_on_the_real_board_without_a_probe(tmp_path, shared_models):
    if _probe_attached():
        pytest.skip("a debug probe is attached: this test checks the message when none is")
    res = edgec("test", shared_models / "ad01_int8.tflite", "--board", BOARD, "--device", "--samples", "2",
                "--out", tmp_path / "out")
    assert_error(res, EXIT_TOOLCHAIN, "no debug probe" if _pyocd_importable() else "pip install pyocd")


@needs_tools
def test_flash_emulated(fw):
    res = edgec("flash", fw, "--board", BOARD, "--emulate", "--samples", "2")
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr and "error:" not in res.stderr
    # the harness's summary line from the semihosting console
    assert re.search(r"^edgec: samples=2 stack_high_water=\d+ stack_available=\d+", res.stdout, re.M), res.stdout
    assert "ran 2 samples on the emulated nucleo_f746zg: exit 0" in res.stderr
    assert (fw / cortexm.EMULATED_ELF).is_file() and (fw / "firmware.elf").is_file()


@needs_tools
def test_flash_errors_on_the_folder(fw, tmp_path, shared_models):
    # built for another board
    assert_error(edgec("flash", fw, "--board", SMALL), EXIT_INPUT, "built for `nucleo_f746zg`", "--board")
    # not an output folder
    assert_error(edgec("flash", tmp_path, "--board", BOARD), EXIT_INPUT, "not an edgec output folder")
    # a host build has no firmware
    host = tmp_path / "host"
    assert edgec("build", shared_models / "ad01_int8.tflite", "--out", host).returncode == 0
    assert_error(edgec("flash", host, "--board", BOARD), EXIT_INPUT, "built for `host`")
    # the firmware was removed
    copy = tmp_path / "nofw"
    copy.mkdir()
    (copy / "report.json").write_text((fw / "report.json").read_text())
    assert_error(edgec("flash", copy, "--board", BOARD), EXIT_INPUT, "no firmware.elf")
