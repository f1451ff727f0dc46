"""Instruction classes from the QEMU plugin (targets/cortexm/insncount.c) and the class-based cycle estimate, on a
small conv model on the emulated M4 (nucleo_l4r5zi): the classes partition the instruction count exactly, in the
region of interest and per layer; a conv model loads and multiplies; the estimate stays within the M4's published
range; and the plugin's encoding decoder agrees with arm-none-eabi-objdump on every instruction the firmware ran.

Skipped (with the reason) only when arm-none-eabi-gcc / qemu-system-arm are not installed.
"""

import re
import subprocess
from pathlib import Path

from small_models import conv_dw_pool_fc
from test_cortexm import M4_BOARD, needs_tools

from edgec import cortexm, driver
from edgec.data import random_inputs

CONDITIONS = "eq|ne|cs|cc|hs|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le|al"


def _objdump_class(mnemonic: str, operands: str) -> str:
    """The class an instruction should get, from its disassembly (an independent reading of the same bytes)."""
    m = mnemonic.split(".")[0]
    writes_pc = re.search(r"\bpc\b", operands) is not None
    if m.startswith(("pop", "ldm")):
        return "branch" if writes_pc else "load"
    if m.startswith("ldr") and re.match(r"pc\b", operands):
        return "branch"
    if re.fullmatch(rf"(b|bl|bx|blx|cbz|cbnz|tbb|tbh)({CONDITIONS})?", m):
        return "branch"
    if m == "mov" and operands.startswith("pc"):
        return "branch"
    if m.startswith(("sdiv", "udiv")):
        return "divide"
    if m.startswith(("ldr", "pld")):
        return "load"
    if m.startswith(("str", "push", "stm")):
        return "store"
    if m.startswith(("mul", "mla", "mls", "smul", "smla", "smlsd", "smuad", "smusd", "smmul", "smmla", "smmls",
                     "umull", "umlal", "umaal", "usad")):
        return "multiply"
    if m.startswith(("vldr", "vldm", "vpop")):
        return "load"
    if m.startswith(("vstr", "vstm", "vpush")):
        return "store"
    if m.startswith("v"):
        return "fp"
    return "other"


@needs_tools
def test_instruction_classes_and_cycle_estimate_on_m4(tmp_path):
    model = tmp_path / "conv_dw_pool_fc.tflite"
    model.write_bytes(conv_dw_pool_fc())
    b = driver.build(model, tmp_path / "out")
    xs = random_inputs(b.graph, 2, seed=0)
    m = cortexm.measure(b.out, b.sources, M4_BOARD, xs, graph=b.graph, per_layer=True)
    assert m["instruction_method"] == "qemu-tcg-plugin"
    ipi, classes = m["instructions_per_inference"], m["instruction_classes"]

    # the classes partition the count exactly (counted independently of the plain total in the plugin)
    assert set(classes) == set(cortexm.INSTRUCTION_CLASSES)
    assert sum(classes.values()) == ipi
    # a conv model loads its weights and activations and multiply-accumulates; no float or vector code on an int8 M4
    assert classes["load"] > 0 and classes["multiply"] > 0 and classes["store"] > 0 and classes["branch"] > 0
    assert classes["fp"] == classes["mve"] == 0

    # per layer: each row's classes sum to its instruction count; the conv and FC layers multiply
    for row in m["layers"]:
        assert sum(row["classes"].values()) == row["instructions"], row
    kinds = {row["op"]: row["classes"] for row in m["layers"]}
    assert kinds["CONV_2D"]["multiply"] > 0 and kinds["FULLY_CONNECTED"]["multiply"] > 0

    # the estimate: every M4 instruction takes at least one cycle, and no class is charged more than 3 except the
    # rare divide (12), so the estimate lies in [1x, 3x] of the count; it is the table applied to the classes
    cycles = m["cycles_estimate"]
    assert ipi <= cycles <= 3 * ipi
    table = cortexm.CYCLE_TABLE["cortex-m4"]
    assert cycles >= round(sum(table[c] * n for c, n in classes.items()))
    assert m["cycles_per_instruction_estimate"] == round(cycles / ipi, 3)


@needs_tools
def test_plugin_decoder_agrees_with_objdump(tmp_path):
    """The plugin classifies by decoding the Thumb-2 encoding; objdump's mnemonics must give the same class for
    every instruction QEMU translated (listing=on prints one line per translated instruction)."""
    model = tmp_path / "conv_dw_pool_fc.tflite"
    model.write_bytes(conv_dw_pool_fc())
    b = driver.build(model, tmp_path / "out")
    elf = cortexm.cross_build(b.out, b.sources, M4_BOARD, graph=b.graph, emulated=True, elf_name="emulated.elf")
    run = cortexm.run_firmware(elf, M4_BOARD, random_inputs(b.graph, 1, seed=0),
                               plugin=f"{cortexm.plugin_path()},listing=on")
    listing: dict[int, str] = run.plugin["listing"]
    objdump = re.sub(r"nm$", "objdump", cortexm.find_toolchain(need_qemu=False).nm)
    text = subprocess.run([objdump, "-d", str(Path(elf))], capture_output=True, text=True, check=True).stdout
    disassembly = {int(a, 16): (mn, ops.split(";")[0].split("@")[0].strip())
                   for a, mn, ops in re.findall(r"^\s*([0-9a-f]+):\s+[0-9a-f]{4}(?: [0-9a-f]{4})?\s+(\S+)[ \t]*(.*)$",
                                                text, re.M)}
    assert len(listing) > 500
    wrong = {hex(a): (disassembly.get(a), cls) for a, cls in listing.items()
             if a not in disassembly or _objdump_class(*disassembly[a]) != cls}
    assert not wrong
    seen = set(listing.values())
    assert {"load", "store", "multiply", "branch", "other"} <= seen
