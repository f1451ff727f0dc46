"""Instruction classes from the QEMU plugin (targets/cortexm/insncount.c) and the class-based cycle estimate, on a
small conv model on the emulated M4 (nucleo_l4r5zi): the classes partition the instruction count exactly, in the
region of interest and per layer; a conv model loads and multiplies; the estimate stays within the M4's published
range; the plugin's encoding decoder agrees with arm-none-eabi-objdump on every instruction the firmware ran, and
gives the expected class for MVE, FP and multi-register encodings assembled for Armv8.1-M.

Skipped (with the reason) only when arm-none-eabi-gcc / qemu-system-arm are not installed.
"""

import re
import subprocess
from pathlib import Path

from small_models import conv_dw_pool_fc
from test_cortexm import M4_BOARD, needs_tools

from edgec import cortexm, driver
from edgec.data import random_inputs
from edgec.host import find_cc

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
    b = driver.build(model, tmp_path / "out", kernels="portable")  # cross-built for the M4 below
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
    b = driver.build(model, tmp_path / "out", kernels="portable")  # cross-built for the M4 below
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


# Encodings a small model on the M4 does not reach (MVE, scalar FP, multi-register and PC-loading forms), with the
# class each must get and the registers moved beyond the first (`xfer`), decoded by the plugin's classify().
ENCODINGS = [
    ("pop {r4, pc}", "branch", 1), ("pop {r4-r6}", "load", 2), ("pop.w {r4-r11, pc}", "branch", 8),
    ("push.w {r4-r11, lr}", "store", 8), ("ldmia.w r0!, {r1-r4}", "load", 3), ("stmdb r0!, {r1-r3}", "store", 2),
    ("ldrd r0, r1, [r2, #8]", "load", 1), ("strd r0, r1, [r2], #8", "store", 1), ("ldr.w pc, [sp], #4", "branch", 0),
    ("tbb [pc, r0]", "branch", 0), ("ldrex r0, [r1]", "load", 0), ("strex r0, r1, [r2]", "store", 0),
    ("cbz r0, .+8", "branch", 0), ("mov pc, lr", "branch", 0), ("it eq", "other", 0), ("moveq r0, r1", "other", 0),
    ("smlad r0, r1, r2, r3", "multiply", 0), ("smull r0, r1, r2, r3", "multiply", 0),
    ("smmulr r0, r1, r2", "multiply", 0), ("muls r0, r1", "multiply", 0), ("sdiv r0, r1, r2", "divide", 0),
    ("udiv r0, r1, r2", "divide", 0), ("sxtb16 r0, r1", "other", 0), ("ssat r0, #8, r1", "other", 0),
    ("vldmia r0!, {d0-d3}", "load", 7), ("vpop {s16-s17}", "load", 1), ("vstmia r0, {s0-s3}", "store", 3),
    ("vldr s0, [r0]", "load", 0), ("vadd.f32 s0, s1, s2", "fp", 0), ("vfma.f32 s0, s1, s2", "fp", 0),
    ("vmaxnm.f32 s0, s1, s2", "fp", 0), ("vmrs APSR_nzcv, fpscr", "fp", 0),
    ("vldrw.u32 q0, [r0, #16]", "mve", 0), ("vstrw.32 q1, [r1], #16", "mve", 0), ("vadd.i32 q0, q1, q2", "mve", 0),
    ("vmladav.s8 r0, q1, q2", "mve", 0), ("vmla.s32 q0, q1, r2", "mve", 0),
    ("vpst", "mve", 0), ("vaddt.i32 q0, q1, q2", "mve", 0),
    ("vqdmulh.s32 q0, q1, q2", "mve", 0), ("vdup.32 q0, r1", "mve", 0), ("vctp.8 r0", "mve", 0),
    ("dls lr, r0", "other", 0), ("le lr, .-4", "branch", 0), ("wls lr, r1, .+8", "branch", 0),
]

HARNESS = r"""
#include INSNCOUNT
int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        unsigned long v = strtoul(argv[i], NULL, 16);
        size_t n = strlen(argv[i]) > 4 ? 4 : 2;
        unsigned hw1 = n == 4 ? (unsigned)(v >> 16) : (unsigned)v, hw2 = (unsigned)v & 0xFFFF;
        uint8_t d[4] = {hw1 & 0xFF, hw1 >> 8, hw2 & 0xFF, hw2 >> 8};
        unsigned xfer;
        int c = classify(d, n, &xfer);
        printf("%s %u\n", counter_names[c], xfer);
    }
    return 0;
}
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t i, qemu_plugin_vcpu_tb_trans_cb_t c)
{ (void)i; (void)c; }
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *t, enum qemu_plugin_op o, void *p, uint64_t m)
{ (void)t; (void)o; (void)p; (void)m; }
void qemu_plugin_register_vcpu_insn_exec_inline(struct qemu_plugin_insn *t, enum qemu_plugin_op o, void *p,
                                                uint64_t m) { (void)t; (void)o; (void)p; (void)m; }
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *t, qemu_plugin_vcpu_udata_cb_t c,
                                            enum qemu_plugin_cb_flags f, void *u)
{ (void)t; (void)c; (void)f; (void)u; }
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *t) { (void)t; return 0; }
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *t, size_t i)
{ (void)t; (void)i; return 0; }
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *t) { (void)t; return 0; }
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *t) { (void)t; return 0; }
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *t) { (void)t; return 0; }
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t i, qemu_plugin_udata_cb_t c, void *u)
{ (void)i; (void)c; (void)u; }
void qemu_plugin_outs(const char *s) { (void)s; }
"""


@needs_tools
def test_plugin_decoder_on_mve_fp_and_multi_register_encodings(tmp_path):
    """classify() on encodings assembled by arm-none-eabi-as for Armv8.1-M with MVE and FP (the host compiles the
    plugin's source with stubs for the QEMU API, so no emulator run is needed)."""
    tc = cortexm.find_toolchain(need_qemu=False)
    asm = tmp_path / "encodings.s"
    asm.write_text(".syntax unified\n.thumb\n" + "".join(f"{text}\n" for text, _, _ in ENCODINGS))
    obj = tmp_path / "encodings.o"
    subprocess.run([re.sub(r"gcc$", "as", tc.gcc), "-march=armv8.1-m.main+mve.fp+fp.dp", "-mfloat-abi=hard",
                    str(asm), "-o", str(obj)], check=True, capture_output=True)
    text = subprocess.run([re.sub(r"nm$", "objdump", tc.nm), "-d", str(obj)], capture_output=True, text=True,
                          check=True).stdout
    words = [enc.replace(" ", "") for enc in re.findall(r"^\s*[0-9a-f]+:\s+([0-9a-f]{4}(?: [0-9a-f]{4})?)\s", text,
                                                        re.M)]
    assert len(words) == len(ENCODINGS)
    source = Path(cortexm.__file__).parent.parent / "targets" / "cortexm" / "insncount.c"
    harness = tmp_path / "harness.c"
    harness.write_text(HARNESS.replace("INSNCOUNT", f'"{source}"'))
    exe = tmp_path / "harness"
    subprocess.run([find_cc(), "-O1", "-o", str(exe), str(harness)], check=True, capture_output=True)
    got = subprocess.run([str(exe), *words], capture_output=True, text=True, check=True).stdout.split("\n")
    for (instruction, cls, xfer), word, line in zip(ENCODINGS, words, got):
        assert line == f"{cls} {xfer}", f"{instruction} ({word}): got {line}, want {cls} {xfer}"
