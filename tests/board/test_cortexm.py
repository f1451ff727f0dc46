"""The Cortex-M target on emulated boards (QEMU): bit-exact against TFLM on an M4 and an M7, deterministic
instruction counts, the linker refusing a model that does not fit, and a hung or faulting guest reported.

Skipped (with the reason) only when arm-none-eabi-gcc / qemu-system-arm are not installed
(Debian: apt-get install --no-install-recommends gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm).
"""

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from small_models import big_activation_conv, wide_fc

from edgec import cortexm, driver, reference, validate
from edgec.board import all_boards, get_board
from edgec.data import random_inputs
from edgec.errors import EXIT_BUDGET, EXIT_TOOLCHAIN, BudgetError, ToolchainError

MISSING = cortexm.toolchain_available()
# Skipped only on a developer machine without the tools; under CI (CI=true) a missing tool fails the tests instead.
needs_tools = pytest.mark.skipif(MISSING is not None and not os.environ.get("CI"),
                                 reason=f"Cortex-M toolchain or QEMU missing: {MISSING}")

# board file -> the QEMU machine it must run on
M4_BOARD, M7_BOARD = "nucleo_l4r5zi", "nucleo_f746zg"
MODELS = ["ad01_int8.tflite", "kws_ref_model.tflite", "vww_96_int8.tflite", "pretrainedResnet_quant.tflite"]


def max_diff(ours, theirs) -> int:
    return max(int(np.abs(np.asarray(a).astype(np.int64).reshape(-1) - np.asarray(b).astype(np.int64).reshape(-1))
                   .max(initial=0)) for s, t in zip(ours, theirs) for a, b in zip(s, t))


def test_board_files_are_consistent():
    boards = all_boards()
    for name in ["nucleo_f746zg", "stm32f746g_disco", "nucleo_h743zi", "nucleo_l4r5zi", "nrf52840dk",
                 "arduino_nano_33_ble", "nucleo_f411re", "rpi_pico", "nucleo_u575zi", "mps3_an547", "mps2_an385",
                 "mps2_an386", "mps2_an500", "mps2_an505"]:
        b = boards[name]
        assert b.is_cortexm and b.clock_hz > 0, name
        assert b.flash_region["kind"] == "flash"
        assert b.region(b.arena_region)["kind"] == "sram" and b.region(b.data_region)["kind"] == "sram"
        if b.emulator == "qemu":
            assert b.qemu_machine in cortexm.SYSTICK_HZ, name
            for region in {b.flash_region["name"], b.arena_region, b.data_region}:
                assert region in b.emulated_origins, (name, region)
        if b.fpu:
            assert b.fpu_name, name
    # datasheet figures (KB)
    expect = {"nucleo_f746zg": (320, 1024), "stm32f746g_disco": (320, 1024), "nucleo_l4r5zi": (640, 2048),
              "nrf52840dk": (256, 1024), "nucleo_f411re": (128, 512), "rpi_pico": (264, 2048)}
    for name, (sram, flash) in expect.items():
        b = boards[name]
        assert b.sram_bytes == sram * 1024, name
        assert b.flash_bytes in (flash * 1024, flash * 1024 - 256), name  # rpi_pico: boot2 reserved
    assert boards["nucleo_h743zi"].region("AXI_SRAM")["size"] == 512 * 1024
    assert boards["nucleo_h743zi"].arena_region == "AXI_SRAM"
    assert boards["nucleo_f746zg"].qemu_machine == "mps2-an500"
    assert boards["nucleo_l4r5zi"].qemu_machine == "mps2-an386"
    assert boards["nucleo_u575zi"].qemu_machine == "mps2-an505"
    assert get_board("host").core == "host"


def test_cpu_flags_per_core():
    assert cortexm.cpu_flags(get_board("nucleo_l4r5zi")) == ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16",
                                                             "-mfloat-abi=hard"]
    assert cortexm.cpu_flags(get_board("nucleo_h743zi"))[2] == "-mfpu=fpv5-d16"
    assert cortexm.cpu_flags(get_board("nucleo_f746zg"))[2] == "-mfpu=fpv5-sp-d16"
    assert cortexm.cpu_flags(get_board("rpi_pico")) == ["-mcpu=cortex-m0plus", "-mthumb", "-mfloat-abi=soft"]
    assert cortexm.cpu_flags(get_board("mps3_an547")) == ["-mcpu=cortex-m55", "-mthumb", "-mfloat-abi=hard"]


def test_linker_script_uses_the_board_sizes_at_the_emulator_addresses():
    b = get_board("nucleo_h743zi")
    emulated = cortexm.linker_script(b, emulated=True)
    real = cortexm.linker_script(b, emulated=False)
    assert "AXI_SRAM (rwx) : ORIGIN = 0x20100000, LENGTH = 524288" in emulated
    assert "AXI_SRAM (rwx) : ORIGIN = 0x24000000, LENGTH = 524288" in real
    assert "FLASH (rx) : ORIGIN = 0x08000000, LENGTH = 2097152" in real
    assert "} > AXI_SRAM" in real and "_estack = ORIGIN(DTCM) + LENGTH(DTCM);" in real


def _build(shared_models: Path, tmp: Path, name: str):
    # the portable kernels: these tests cross-build one host folder for many cores (a host build's own
    # kernels are x86 ones: int16 weight copies, stack buffers)
    return driver.build(shared_models / name, tmp / Path(name).stem, kernels="portable")


@needs_tools
@pytest.mark.slow
@pytest.mark.parametrize("board", [M4_BOARD, M7_BOARD])
@pytest.mark.parametrize("name", MODELS)
def test_bit_exact_on_emulated_board(shared_models, tmp_path, board, name):
    b = _build(shared_models, tmp_path, name)
    xs = random_inputs(b.graph, 10, seed=3)
    elf = cortexm.cross_build(b.out, b.sources, board, graph=b.graph)
    run = cortexm.run_firmware(elf, board, xs, timeout=120)
    ours = validate.split_outputs(run.outputs, b.graph, len(xs))
    tflm, _ = reference.run_tflm(shared_models / name, xs)
    assert max_diff(ours, tflm) == 0, f"{name} on {board}"
    sizes = cortexm.elf_sizes(elf)
    assert sizes["arena"] >= b.plan.arena_bytes
    assert sizes["rodata"] >= b.report["weights_bytes"]
    assert 0 < run.stats["stack_high_water"] < get_board(board).stack_bytes
    print(f"{name} {board}: flash {sizes['flash_bytes']} B, SRAM {sizes['static_sram_bytes']} B + stack "
          f"{run.stats['stack_high_water']} B, {run.wall_per_sample_s * 1e3:.0f} ms/sample")


@needs_tools
@pytest.mark.parametrize("board", ["nrf52840dk", "mps2_an500"])
def test_instruction_count_is_deterministic_and_per_layer(shared_models, tmp_path, board):
    b = _build(shared_models, tmp_path, "kws_ref_model.tflite")
    xs = random_inputs(b.graph, 3, seed=0)
    first = cortexm.measure(b.out, b.sources, board, xs, graph=b.graph, per_layer=True)
    again = cortexm.count_instructions(Path(first["elf"]), board, xs)
    assert first["instruction_method"] == "qemu-tcg-plugin"
    assert first["instructions_per_inference"] == again["instructions_per_inference"] > 1_000_000
    assert first["outputs"] == again["outputs"]
    layers = first["layers"]
    assert [row["layer"] for row in layers] == [op.attrs.get("label", op.name) for op in b.graph.ops]
    total = sum(row["instructions"] for row in layers)
    # the layer-marker build adds a call per layer; otherwise the same code
    assert abs(total - first["instructions_per_inference"]) < 50 * len(layers)
    assert first["stack_bytes"] > 0 and first["peak_sram_bytes"] >= first["arena_bytes"] + first["stack_bytes"]
    assert first["cycles_estimate"] > 0


@needs_tools
def test_icount_systick_fallback_agrees_with_the_plugin(shared_models, tmp_path):
    b = _build(shared_models, tmp_path, "ad01_int8.tflite")
    xs = random_inputs(b.graph, 2, seed=0)
    elf = cortexm.cross_build(b.out, b.sources, "mps2_an386")
    systick = cortexm.cross_build(b.out, b.sources, "mps2_an386", systick=True)
    plugin = cortexm.count_instructions(elf, "mps2_an386", xs)["instructions_per_inference"]
    fallback = cortexm._count_icount(get_board("mps2_an386"), xs, systick, 60, reason="test")
    assert fallback["method"] == "qemu-icount-systick"
    assert abs(fallback["instructions_per_inference"] - plugin) < 200  # 40 instructions per SysTick tick


@needs_tools
def test_model_too_large_for_flash_is_a_budget_error(tmp_path):
    model = tmp_path / "big.tflite"
    model.write_bytes(wide_fc(1000, 700))  # 700 KB of weights; nucleo_f411re has 512 KB flash
    b = driver.build(model, tmp_path / "out", kernels="portable")
    with pytest.raises(BudgetError) as e:
        cortexm.cross_build(b.out, b.sources, "nucleo_f411re")
    assert e.value.code == EXIT_BUDGET
    msg = e.value.message
    assert "nucleo_f411re" in msg and "region FLASH" in msg and "budget 524,288 B" in msg, msg
    # it fits a 2 MB board
    cortexm.cross_build(b.out, b.sources, "nucleo_l4r5zi")


@needs_tools
def test_model_too_large_for_sram_is_a_budget_error(tmp_path):
    # a 160x160x8 activation: 200 KB arena > nucleo_f411re's 128 KB SRAM
    (tmp_path / "act.tflite").write_bytes(big_activation_conv())
    b = driver.build(tmp_path / "act.tflite", tmp_path / "out", kernels="portable")
    with pytest.raises(BudgetError) as e:
        cortexm.cross_build(b.out, b.sources, "nucleo_f411re")
    assert "region SRAM" in e.value.message and "budget 131,072 B" in e.value.message, e.value.message


def _tiny_firmware(tmp_path: Path, body: str, board: str = "mps2_an386") -> Path:
    """A firmware from the edgec startup + a main() of our own, linked with the board's script."""
    b = get_board(board)
    tc = cortexm.find_toolchain()
    fw = tmp_path / "fw"
    fw.mkdir()
    src = Path(cortexm.__file__).parents[1] / "targets" / "cortexm"
    for f in cortexm.TARGET_FILES:
        (fw / f).write_text((src / f).read_text())
    (fw / "main.c").write_text('#include <stdint.h>\n#include "semihost.h"\nint main(void) {\n' + body + "\n}\n")
    (fw / "board.ld").write_text(cortexm.linker_script(b, emulated=True))
    elf = fw / "fw.elf"
    subprocess.run([tc.gcc, *cortexm.cpu_flags(b), *cortexm.CFLAGS, *cortexm.LDFLAGS, "-I.", "-T", "board.ld",
                    "main.c", "startup.c", "semihost.c", "-o", str(elf), *cortexm.LIBS], cwd=fw, check=True)
    return elf


@needs_tools
def test_hung_guest_is_killed_with_a_clear_error(tmp_path):
    elf = _tiny_firmware(tmp_path, "for (;;) { __asm__ volatile(\"\"); }\nreturn 0;")
    with pytest.raises(ToolchainError) as e:
        cortexm.run_qemu(elf, "mps2_an386", [], timeout=2)
    assert isinstance(e.value, cortexm.GuestHang)
    assert e.value.code == EXIT_TOOLCHAIN
    assert "hung" in e.value.message and "killed" in e.value.message


@needs_tools
def test_faulting_guest_is_reported_as_a_fault(tmp_path):
    elf = _tiny_firmware(tmp_path, "return (int)*(volatile uint32_t *)0xF0000000u;")
    with pytest.raises(cortexm.GuestFault) as e:
        cortexm.run_qemu(elf, "mps2_an386", [], timeout=10)
    assert "faulted" in e.value.message and "FAULT: " in e.value.message and "pc=0x" in e.value.message


@needs_tools
def test_m0plus_board_builds_and_is_size_checked_but_not_emulated(shared_models, tmp_path):
    b = _build(shared_models, tmp_path, "ad01_int8.tflite")
    elf = cortexm.cross_build(b.out, b.sources, "rpi_pico", emulated=False)
    sizes = cortexm.elf_sizes(elf)
    assert sizes["flash_bytes"] > b.report["weights_bytes"]
    with pytest.raises(ToolchainError, match="no emulator"):
        cortexm.run_qemu(elf, "rpi_pico", random_inputs(b.graph, 1))


@needs_tools
@pytest.mark.parametrize("board", ["mps2_an385", "nucleo_u575zi", "mps3_an547", "nucleo_h743zi"])
def test_other_cores_bit_exact(shared_models, tmp_path, board):
    """M3, M33, M55 and the H7's split arena/data regions, on the smallest conv model."""
    b = _build(shared_models, tmp_path, "kws_ref_model.tflite")
    xs = random_inputs(b.graph, 2, seed=5)
    elf = cortexm.cross_build(b.out, b.sources, board, graph=b.graph)
    ours = validate.split_outputs(cortexm.run_qemu(elf, board, xs), b.graph, len(xs))
    tflm, _ = reference.run_tflm(shared_models / "kws_ref_model.tflite", xs)
    assert max_diff(ours, tflm) == 0
