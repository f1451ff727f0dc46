"""The `edgec test --board B` loop end to end, through validate.test (what the CLI calls): every MLPerf Tiny int8
model on an emulated M4 board (nucleo_l4r5zi) and an emulated M7 board (nucleo_f746zg), and kws on an M33
(nucleo_u575zi): bit-exact against TFLM on random samples, and the `test` section of report.json consistent with
the ELF that ran (flash from arm-none-eabi-size, peak SRAM = statics + measured stack, instructions counted).

Skipped (with the reason) only when arm-none-eabi-gcc / qemu-system-arm are not installed.
"""

import json

import pytest
from test_cortexm import M4_BOARD, M7_BOARD, needs_tools

from edgec import cortexm, validate
from edgec.board import get_board

M33_BOARD = "nucleo_u575zi"
MODELS = {"kws": "kws_ref_model.tflite", "vww": "vww_96_int8.tflite", "resnet": "pretrainedResnet_quant.tflite",
          "ad01": "ad01_int8.tflite"}
# seeded random vectors per model; the nine cases take ~20 s in all with pytest -n 2 (QEMU runs a vww or resnet
# inference in ~0.1 s), so the larger models need no fewer samples
SAMPLES = {"kws": 20, "vww": 20, "resnet": 20, "ad01": 20}
CASES = [(m, b) for b in (M4_BOARD, M7_BOARD) for m in MODELS] + [("kws", M33_BOARD)]


def _in_region(addr: int, origin: int, size: int) -> bool:
    return origin <= addr < origin + size


@needs_tools
@pytest.mark.slow
@pytest.mark.parametrize("model,board", CASES, ids=[f"{m}-{b}" for m, b in CASES])
def test_edgec_test_on_emulated_board(shared_models, tmp_path, model, board):
    n = SAMPLES[model]
    out = tmp_path / "out"
    r = validate.test(shared_models / MODELS[model], out, board, samples=n, seed=11)
    b = get_board(board)
    rep = r.build.report
    t = rep["test"]

    # bit-exact against TFLM on every sample
    assert r.passed and r.samples == n == t["samples"]
    assert r.rows[0].reference == "TFLM" and r.rows[0].max_abs_diff_lsb == 0 and r.rows[0].mismatch_fraction == 0
    assert t["max_abs_diff_lsb"] == 0 and t["target"] == f"qemu {b.qemu_machine}"

    # instructions, counted between the markers
    ipi = t["instructions_per_inference"]
    # at most 2 MACs per instruction on these cores (SMLAD); ad01's FC records kernel does about 1.07
    assert isinstance(ipi, int) and ipi > rep["macs"] // 2 > 0
    assert t["instruction_method"] in ("qemu-tcg-plugin", "qemu-icount-systick")
    assert t["instructions_per_mac"] == pytest.approx(ipi / rep["macs"])
    if t["instruction_method"] == "qemu-tcg-plugin":
        # the classes partition the count; the estimate weighs them with the core's published timings
        assert sum(t["instruction_classes"].values()) == ipi
        assert t["cycles_estimate"] > 0 and t["cycles_per_instruction_estimate"] == pytest.approx(
            t["cycles_estimate"] / ipi, abs=1e-3)
        layers = t["layer_instructions"]
        assert [row["layer"] for row in layers] == [op.attrs.get("label", op.name) for op in r.build.graph.ops]
        # the layer-marker build adds one call per layer, otherwise the same code
        assert abs(sum(row["instructions"] for row in layers) - ipi) < 50 * len(layers)
        assert all(sum(row["classes"].values()) == row["instructions"] for row in layers)

    # sizes: exactly those of the ELF that ran (the emulator-linked firmware)
    assert t["firmware"] == cortexm.EMULATED_ELF
    ran = cortexm.elf_sizes(out / t["firmware"])
    assert t["flash_bytes"] == ran["flash_bytes"]
    # the real-address firmware.elf (what `edgec flash` programs) is the same code and constants at other
    # addresses: the same flash figure, exactly, and report.json's build figures are its
    real = cortexm.elf_sizes(out / "firmware.elf")
    assert rep["firmware"] == "firmware.elf" and rep["flash_bytes"] == real["flash_bytes"] == t["flash_bytes"]
    assert rep["static_sram_bytes"] == real["static_sram_bytes"] == ran["static_sram_bytes"]
    assert t["flash_bytes"] >= rep["weights_bytes"] > 0
    assert t["flash_bytes"] <= b.flash_region["size"]

    # stack: painted and measured; peak SRAM = .data + .bss + arena + the stack high-water mark
    stack = t["stack_bytes"]
    assert 0 < stack < b.stack_bytes
    assert ran["arena"] >= rep["arena_bytes"]
    assert t["peak_sram_bytes"] == ran["static_sram_bytes"] + stack
    assert t["peak_sram_bytes"] >= rep["arena_bytes"] + stack
    assert rep["peak_sram_bytes"] == t["peak_sram_bytes"] <= b.sram_bytes

    # the folder keeps its real-board firmware: linked at the board's flash address, not the emulator's
    flash_name = b.flash_region["name"]
    real_main = cortexm.symbol_addresses(out / "firmware.elf", ["main"])["main"]
    emu_main = cortexm.symbol_addresses(out / cortexm.EMULATED_ELF, ["main"])["main"]
    assert _in_region(real_main, b.flash_region["origin"], b.flash_region["size"]), hex(real_main)
    assert _in_region(emu_main, b.emulated_origins[flash_name], b.flash_region["size"]), hex(emu_main)

    # report.json on disk is the returned report
    assert json.loads((out / "report.json").read_text())["test"] == json.loads(json.dumps(t))

    print(f"\n{model} on {board}: flash {t['flash_bytes']:,} B, peak SRAM {t['peak_sram_bytes']:,} B "
          f"(arena {ran['arena']:,} + stack {stack:,} + statics {ran['data'] + ran['bss']:,}), "
          f"{ipi:,} instructions/inference, {t['instructions_per_mac']:.2f}/MAC, {n} samples")


def test_cases_cover_m4_m7_and_m33():
    cores = {get_board(b).core for _, b in CASES}
    assert cores == {"cortex-m4", "cortex-m7", "cortex-m33"}
    assert all(n >= 10 for n in SAMPLES.values())
    assert {m for m, b in CASES if b == M4_BOARD} == {m for m, b in CASES if b == M7_BOARD} == set(MODELS)



FLOAT_MODELS = {"ad01_fp32": "ad01_fp32.tflite", "resnet_float": "pretrainedResnet.tflite"}


@needs_tools
@pytest.mark.slow
@pytest.mark.parametrize("model", FLOAT_MODELS)
def test_float32_on_an_m4f(shared_models, tmp_path, model):
    """--dtype float32 on the emulated M4F (FPv4-SP, hard float): within the documented relative tolerance of
    TFLM's float kernels (measured: bit-identical on ad01, 1 ULP from newlib's expf in resnet's softmax)."""
    from edgec.driver import Conversion
    from edgec.validate import FLOAT_RTOL

    r = validate.test(shared_models / FLOAT_MODELS[model], tmp_path / "out", M4_BOARD, samples=3, seed=5,
                      conversion=Conversion(dtype="float32"))
    t = r.build.report["test"]
    assert r.build.report["dtype"] == "float32" and t["target"].startswith("qemu")
    assert r.passed and t["max_rel_error"] <= FLOAT_RTOL, t
    assert t["instructions_per_inference"] > 0
