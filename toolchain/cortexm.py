"""The Cortex-M target: cross-build an output folder for a board, run it on an emulated board (QEMU), measure it.

    elf = cross_build(out_dir, sources, board)                 # arm-none-eabi-gcc, the board's real memory sizes
    sizes = elf_sizes(elf)                                     # flash / SRAM from the ELF's sections
    raw = run_qemu(elf, board, samples, timeout=60)            # raw output bytes, like host.run
    m = count_instructions(elf, board, samples)                # instructions per inference (TCG plugin)

The firmware (targets/cortexm/ + templates/main_cortexm.c.j2 + templates/cortexm.ld.j2) reads `input.bin` and
writes `output.bin` through semihosting (SYS_OPEN/SYS_READ/SYS_WRITE of host files, in QEMU's working directory),
prints a one-line summary (stack high-water mark, SysTick ticks) on the semihosting console and leaves with
SYS_EXIT_EXTENDED, so QEMU's exit status is the firmware's. Each QEMU flag and why: docs/boards.md.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np

from . import outdir
from .board import Board, get_board
from .errors import BudgetError, InputError, ToolchainError

if TYPE_CHECKING:
    from .ir import Graph

APT_PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"
CFLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-g", "-ffunction-sections", "-fdata-sections",
          "-ffp-contract=off"]  # float kernels: no FMA contraction (docs/numerics.md, "Float32")
LDFLAGS = ["-Wl,--gc-sections", "--specs=nano.specs", "-nostartfiles"]
LIBS = ["-lm", "-lc", "-lgcc"]
TARGET_FILES = ["startup.c", "semihost.c", "semihost.h", "edgec_cortexm.h"]
FIRMWARE_DIR = "cortexm"
RUN_TIMEOUT_S = 120.0
EMULATED_ELF = "firmware_emulated.elf"  # the firmware linked for the emulator (`edgec test/flash --emulate`)

EXIT_NAMES = {10: "cannot open the input file", 11: "bad header or short input", 12: "cannot write the output file",
              99: "fault"}
EXIT_FAULT = 99

# SysTick input clock of QEMU's machines (SYST_CSR.CLKSOURCE = processor clock), for the -icount fallback: with
# -icount shift=0 one guest instruction is 1 ns of virtual time, so instructions = ticks * 1e9 / f.
SYSTICK_HZ = {"mps2-an385": 25_000_000, "mps2-an386": 25_000_000, "mps2-an500": 25_000_000,
              "mps2-an505": 20_000_000, "mps3-an547": 32_000_000}


class GuestFault(ToolchainError):
    """The firmware faulted (HardFault etc.) on the emulated board; the message carries the fault report."""


class GuestHang(ToolchainError):
    """The firmware did not finish within the timeout and was killed."""


@dataclass
class Toolchain:
    gcc: str
    size: str
    nm: str
    qemu: str | None


def find_toolchain(need_qemu: bool = True) -> Toolchain:
    """arm-none-eabi-gcc/size/nm (and qemu-system-arm); ToolchainError naming the Debian packages if missing."""
    tools = {}
    for tool in ("gcc", "size", "nm"):
        path = shutil.which(f"arm-none-eabi-{tool}")
        if path is None:
            raise ToolchainError(f"arm-none-eabi-{tool} is not on PATH: the Cortex-M cross build needs the Arm GNU "
                                 f"toolchain and newlib. Debian/Ubuntu: apt-get install --no-install-recommends "
                                 f"gcc-arm-none-eabi libnewlib-arm-none-eabi")
        tools[tool] = path
    qemu = shutil.which("qemu-system-arm")
    if qemu is None and need_qemu:
        raise ToolchainError("qemu-system-arm is not on PATH: emulated boards need QEMU. Debian/Ubuntu: "
                             "apt-get install --no-install-recommends qemu-system-arm")
    return Toolchain(gcc=tools["gcc"], size=tools["size"], nm=tools["nm"], qemu=qemu)


def toolchain_available() -> str | None:
    """None when cross build and QEMU are both available, else the reason (for pytest skips)."""
    try:
        find_toolchain(need_qemu=True)
    except ToolchainError as e:
        return e.message
    return None


# ---------------------------------------------------------------------------------------------------- flags


def cpu_flags(board: Board) -> list[str]:
    """-mcpu/-mfpu/-mfloat-abi/-mthumb for the board's core (the table in docs/boards.md, "Compiler flags")."""
    core = board.core
    if not board.is_cortexm:
        raise InputError(f"board `{board.name}` ({core}) is not a Cortex-M board")
    cpu = core
    if core == "cortex-m55":
        cpu += "" if board.mve else "+nomve"
        return [f"-mcpu={cpu}", "-mthumb", "-mfloat-abi=hard" if board.fpu else "-mfloat-abi=soft"]
    if core == "cortex-m33" and not board.dsp:
        cpu += "+nodsp"
    if board.fpu and core in ("cortex-m4", "cortex-m7", "cortex-m33"):
        return [f"-mcpu={cpu}", "-mthumb", f"-mfpu={board.fpu_name or 'auto'}", "-mfloat-abi=hard"]
    if core in ("cortex-m4", "cortex-m7", "cortex-m33"):
        cpu += "+nofp"
    return [f"-mcpu={cpu}", "-mthumb", "-mfloat-abi=soft"]


# ---------------------------------------------------------------------------------------------------- files


def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("edgec", "templates"), keep_trailing_newline=True,
                              undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)


def linker_script(board: Board, emulated: bool) -> str:
    """The board's linker script: FLASH and the SRAM region(s) at their real sizes. Emulated: at the QEMU machine's
    addresses (board.emulated_origins), so that the same size limits hold on the emulator."""
    flash = board.flash_region["name"]
    arena = board.arena_region or next(r["name"] for r in board.regions if r.get("kind") == "sram")
    data = board.data_region or arena
    used = [flash, data] + ([arena] if arena != data else [])
    regions = []
    for name in used:
        r = dict(board.region(name))
        if emulated:
            if name not in board.emulated_origins:
                raise InputError(f"board `{board.name}`: region {name} has no address under emulation "
                                 "([emulation] origins)")
            r["origin"] = board.emulated_origins[name]
        regions.append(r)
    unused = [r for r in board.regions if r["name"] not in used]
    note = (f"EMULATED on QEMU {board.qemu_machine}: the board's region sizes at the machine's addresses."
            if emulated else "The board's real memory map.")
    return _env().get_template("cortexm.ld.j2").render(board=board, regions=regions, unused=unused, flash=flash,
                                                      data=data, arena=arena, note=note)


_CTYPE_BYTES = {"int8_t": 1, "uint8_t": 1, "int16_t": 2, "uint16_t": 2, "int32_t": 4, "uint32_t": 4, "float": 4}


def _io_from_header(model_h: str) -> tuple[str, list[dict], list[dict]]:
    """(prefix, inputs, outputs) from model.h, for a folder built without the Graph at hand."""
    m = re.search(r"^void (\w+)_invoke\(void\);", model_h, re.M)
    if m is None:
        raise InputError("model.h has no *_invoke declaration: not an edgec output folder?")
    prefix = m.group(1)
    guard = re.search(r"#define (\w+)_ARENA_BYTES", model_h)
    assert guard is not None
    result = []
    for kind in ("INPUT", "OUTPUT"):
        ctype = re.search(rf"^(\w+) \*{prefix}_{kind.lower()}\(int32_t index\);", model_h, re.M)
        count = re.search(rf"#define {guard.group(1)}_{kind}_COUNT (\d+)", model_h)
        assert ctype is not None and count is not None
        items = []
        for k in range(int(count.group(1))):
            size = re.search(rf"#define {guard.group(1)}_{kind}{k}_SIZE (\d+)", model_h)
            assert size is not None
            items.append(dict(nbytes=int(size.group(1)) * _CTYPE_BYTES.get(ctype.group(1), 1)))
        result.append(items)
    return prefix, result[0], result[1]


def write_firmware_files(out_dir: Path, board: Board, emulated: bool = True, graph: Graph | None = None) -> Path:
    """Write out_dir/cortexm/: startup, semihosting, the harness main.c and the board's linker script."""
    fw = out_dir / FIRMWARE_DIR
    fw.mkdir(parents=True, exist_ok=True)
    src = resources.files("edgec.targets") / "cortexm"
    for name in TARGET_FILES:
        (fw / name).write_text((src / name).read_text())
    model_h = (out_dir / "model.h").read_text()
    prefix, inputs, outputs = _io_from_header(model_h)
    if graph is not None:  # exact byte counts (inputs of different types)
        inputs = [dict(nbytes=graph.t(n).nbytes) for n in graph.inputs]
        outputs = [dict(nbytes=graph.t(n).nbytes) for n in graph.outputs]
    (fw / "main.c").write_text(_env().get_template("main_cortexm.c.j2").render(
        prefix=prefix, board=board.name, inputs=inputs, outputs=outputs,
        training=graph is not None and "training" in graph.meta))
    (fw / ("board_emulated.ld" if emulated else "board.ld")).write_text(linker_script(board, emulated))
    return fw


# ---------------------------------------------------------------------------------------------------- build

_OVERFLOW = re.compile(r"region `([^']+)' overflowed by (\d+) bytes")


def cross_build(out_dir: Path, sources: list[str], board: Board | str, *, emulated: bool | None = None,
                trace: bool = False, layer_markers: bool = False, systick: bool = False, opt: str = "-O2",
                elf_name: str | None = None, graph: Graph | None = None) -> Path:
    """Cross-compile the folder's model + the Cortex-M harness into an ELF; returns its path.

    `sources` is the host source list of codegen.emit_c (its main.c, the host harness, is replaced by
    cortexm/main.c). `emulated` (default: whether the board has a QEMU machine) links at the emulator's addresses,
    else at the real board's. A linker overflow becomes BudgetError (exit 3) naming region, need and budget."""
    b = get_board(board) if isinstance(board, str) else board
    out_dir = out_dir.resolve()  # absolute: the debug-info prefix map, and the tool paths relative to it
    if emulated is None:
        emulated = bool(b.qemu_machine)
    tc = find_toolchain(need_qemu=False)
    variant = "_trace" if trace and not layer_markers else "_layers" if layer_markers else ""
    variant += "_systick" if systick else ""
    elf = out_dir / (elf_name or f"firmware{variant}.elf")
    try:
        _compile_and_link(out_dir, sources, b, tc, emulated, graph, variant, elf, opt, trace, layer_markers, systick)
    finally:  # whatever was written (also on failure): the folder's manifest stays true (docs/cli.md)
        outdir.record(out_dir, [out_dir / FIRMWARE_DIR, elf, elf.with_suffix(".map")])
    return elf


def _compile_and_link(out_dir: Path, sources: list[str], b: Board, tc: Toolchain, emulated: bool,
                      graph: Graph | None, variant: str, elf: Path, opt: str, trace: bool, layer_markers: bool,
                      systick: bool) -> None:
    """Every path given to the compiler and linker is relative to out_dir (their cwd), and the debug info maps
    out_dir to `.`: the ELF and the map file do not depend on where the folder is (reproducible builds)."""
    fw = write_firmware_files(out_dir, b, emulated, graph)
    ld = (fw / ("board_emulated.ld" if emulated else "board.ld")).relative_to(out_dir)
    defines = (["-DEDGEC_TRACE"] if trace or layer_markers else []) + \
              (["-DEDGEC_LAYER_MARKERS"] if layer_markers else []) + (["-DEDGEC_SYSTICK"] if systick else [])
    flags = [*cpu_flags(b), *[f for f in CFLAGS if not f.startswith("-O")], opt, *defines, "-I.", f"-I{FIRMWARE_DIR}",
             f"-ffile-prefix-map={out_dir}=."]
    srcs = [s for s in sources if s != "main.c"] + [f"{FIRMWARE_DIR}/main.c", f"{FIRMWARE_DIR}/startup.c",
                                                    f"{FIRMWARE_DIR}/semihost.c"]
    objdir = Path(FIRMWARE_DIR) / f"obj{variant}"
    (out_dir / objdir).mkdir(parents=True, exist_ok=True)

    def compile_one(s: str) -> str:
        obj = objdir / (s.replace("/", "_").removesuffix(".c") + ".o")
        cmd = [tc.gcc, *flags, "-c", s, "-o", str(obj)]
        res = subprocess.run(cmd, cwd=out_dir, capture_output=True, text=True)
        if res.returncode != 0:
            raise ToolchainError(f"arm-none-eabi-gcc failed on {out_dir / s} ({' '.join(cmd)}):\n"
                                 f"{res.stderr.strip()[:4000]}")
        return str(obj)

    # weights.c dominates: compile the files in parallel, largest first
    order = sorted(srcs, key=lambda s: -(out_dir / s).stat().st_size)
    with ThreadPoolExecutor(max_workers=max(1, min(len(order), os.cpu_count() or 1))) as pool:
        objs = dict(zip(order, pool.map(compile_one, order)))
    cmd = [tc.gcc, *cpu_flags(b), *LDFLAGS, "-T", str(ld), f"-Wl,-Map={elf.with_suffix('.map').name}", "-o", elf.name,
           *[objs[s] for s in srcs], *LIBS]
    res = subprocess.run(cmd, cwd=out_dir, capture_output=True, text=True)
    if res.returncode != 0:
        overflows = _OVERFLOW.findall(res.stderr)
        if overflows:
            raise BudgetError(_budget_message(b, overflows))
        raise ToolchainError(f"linking the firmware for {b.name} failed ({' '.join(cmd)}):\n"
                             f"{res.stderr.strip()[:4000]}")


def _budget_message(b: Board, overflows: list[tuple[str, str]]) -> str:
    lines = [f"the model does not fit board `{b.name}`:"]
    for name, over in overflows:
        r = b.region(name)
        size, need = int(r["size"]), int(r["size"]) + int(over)
        what = "code + constants (weights)" if r.get("kind") == "flash" else \
            f".data + .bss + arena + {b.stack_bytes:,} B reserved stack"
        lines.append(f"  - region {name} ({r.get('kind')}): need {need:,} B for {what}, budget {size:,} B "
                     f"(over by {int(over):,} B)")
    return "\n".join(lines)


def elf_sizes(elf: Path) -> dict[str, int]:
    """Section sizes of the firmware ELF (arm-none-eabi-size -A): flash = text + rodata + exidx + .data image,
    SRAM = .data + .bss + arena + the reserved stack (the linker's minimum; the measured high-water is separate)."""
    tc = find_toolchain(need_qemu=False)
    res = subprocess.run([tc.size, "-A", "-d", str(elf)], capture_output=True, text=True)
    if res.returncode != 0:
        raise ToolchainError(f"arm-none-eabi-size failed on {elf}: {res.stderr.strip()}")
    sec: dict[str, int] = {}
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1].isdigit():
            sec[parts[0]] = int(parts[1])
    text, rodata = sec.get(".text", 0), sec.get(".rodata", 0)
    exidx = sec.get(".ARM.exidx", 0) + sec.get(".ARM.extab", 0)
    data, bss, arena, stack = sec.get(".data", 0), sec.get(".bss", 0), sec.get(".arena", 0), sec.get(".stack", 0)
    return dict(text=text, rodata=rodata, data=data, bss=bss, arena=arena, stack_reserved=stack,
                flash_bytes=text + rodata + exidx + data, sram_bytes=data + bss + arena + stack,
                static_sram_bytes=data + bss + arena)


def symbol_addresses(elf: Path, names: list[str]) -> dict[str, int]:
    """Addresses (Thumb bit clear, as nm prints them) of the named symbols present in the ELF."""
    tc = find_toolchain(need_qemu=False)
    res = subprocess.run([tc.nm, str(elf)], capture_output=True, text=True)
    if res.returncode != 0:
        raise ToolchainError(f"arm-none-eabi-nm failed on {elf}: {res.stderr.strip()}")
    found = {}
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2] in names:
            found[parts[2]] = int(parts[0], 16) & ~1
    return found


# ---------------------------------------------------------------------------------------------------- run


@dataclass
class QemuRun:
    outputs: bytes
    console: str
    returncode: int
    wall_s: float
    samples: int
    stats: dict[str, int] = field(default_factory=dict)  # from the firmware's summary line
    plugin: dict[str, Any] = field(default_factory=dict)  # from the instruction-counting plugin

    @property
    def wall_per_sample_s(self) -> float:
        return self.wall_s / max(1, self.samples)


def _payload(samples: list[list[np.ndarray]]) -> tuple[bytes, int]:
    per_sample = sum(x.nbytes for x in samples[0]) if samples else 0
    body = b"".join(x.tobytes() for sample in samples for x in sample)
    return struct.pack("<4sIII", b"EDGC", 1, len(samples), per_sample) + body, per_sample


def qemu_command(elf: Path, board: Board, plugin: str | None = None, icount: bool = False) -> list[str]:
    tc = find_toolchain(need_qemu=True)
    assert tc.qemu is not None
    cmd = [tc.qemu, "-M", board.qemu_machine, "-display", "none", "-monitor", "none", "-serial", "null",
           "-chardev", "file,id=sh0,path=console.txt", "-semihosting-config", "enable=on,target=native,chardev=sh0",
           "-kernel", str(elf.resolve())]
    if icount:
        cmd += ["-icount", "shift=0"]
    if plugin:
        cmd += ["-plugin", plugin, "-d", "plugin", "-D", "plugin.log"]
    return cmd


def run_firmware(elf: Path, board: Board | str, samples: list[list[np.ndarray]], timeout: float = RUN_TIMEOUT_S,
                 plugin: str | None = None, icount: bool = False) -> QemuRun:
    """Run the firmware on the board's QEMU machine with the samples; checks the exit status."""
    b = get_board(board) if isinstance(board, str) else board
    if not b.qemu_machine:
        raise ToolchainError(f"board `{b.name}` ({b.core}) has no emulator (QEMU 7.2 has no model of this core): "
                             "it can be built and size-checked, and run on the real board only")
    payload, _ = _payload(samples)
    cmd = qemu_command(elf, b, plugin, icount)
    with tempfile.TemporaryDirectory(prefix="edgec-qemu-") as tmp:
        work = Path(tmp)
        (work / "input.bin").write_bytes(payload)
        t0 = time.perf_counter()
        try:
            res = subprocess.run(cmd, cwd=work, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            console = _read(work / "console.txt")
            raise GuestHang(f"the firmware hung on the emulated board {b.name} ({b.qemu_machine}): no exit within "
                            f"{timeout:g} s, QEMU was killed" + (f"\nconsole:\n{console[-2000:]}" if console else "")
                            ) from None
        wall = time.perf_counter() - t0
        console = _read(work / "console.txt")
        stderr = res.stderr.decode(errors="replace").strip()
        if res.returncode == EXIT_FAULT or "FAULT:" in console:
            raise GuestFault(f"the firmware faulted on the emulated board {b.name} ({b.qemu_machine}):\n"
                             f"{console.strip()[-2000:]}")
        if res.returncode != 0:
            why = EXIT_NAMES.get(res.returncode, "unexpected exit status")
            if res.returncode < 0 or "Lockup" in stderr or "fatal" in stderr:
                why = "QEMU aborted (a fault with no handler, or semihosting not enabled)"
            raise ToolchainError(f"the firmware on {b.name} ({b.qemu_machine}) exited with status {res.returncode} "
                                 f"({why})\nconsole: {console.strip()[-2000:]}\nqemu: {stderr[-2000:]}")
        outputs = (work / "output.bin").read_bytes() if (work / "output.bin").exists() else b""
        plugin_out = _parse_plugin(_read(work / "plugin.log")) if plugin else {}
    stats = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", console.split("edgec:")[-1])} \
        if "edgec:" in console else {}
    return QemuRun(outputs=outputs, console=console, returncode=res.returncode, wall_s=wall, samples=len(samples),
                   stats=stats, plugin=plugin_out)


def run_qemu(elf: Path, board: Board | str, samples: list[list[np.ndarray]],
             timeout: float = RUN_TIMEOUT_S) -> bytes:
    """The raw output bytes of all samples (like host.run); ToolchainError on a fault, a hang or a bad exit."""
    return run_firmware(elf, board, samples, timeout).outputs


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


# the plugin's instruction classes (targets/cortexm/insncount.c), in its print order; they sum to the instruction
# count. XFER_COUNTER is not a class: the 32-bit words multi-register transfers (LDM/STM/PUSH/POP/LDRD/STRD/VLDM/
# VSTM) move beyond the first, which the cycle model charges on top of the instruction's class.
INSTRUCTION_CLASSES = ("load", "store", "multiply", "divide", "branch", "fp", "mve", "other")
XFER_COUNTER = "xfer"


def _parse_plugin(log: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("insns_total", "roi_insns", "roi_calls"):
        m = re.search(rf"{key}=(\d+)", log)
        if m:
            out[key] = int(m.group(1))
    m = re.search(r"roi_classes=([\w:,]*)", log)
    if m:
        out["roi_classes"] = {k: int(v) for k, v in (item.split(":") for item in m.group(1).split(",") if item)}
    m = re.search(r"layer_insns=([\d,]*)", log)
    if m:
        out["layer_insns"] = [int(v) for v in m.group(1).split(",") if v]
    m = re.search(r"layer_classes=([\d,/]*)", log)
    if m:
        names = (*INSTRUCTION_CLASSES, XFER_COUNTER)
        out["layer_classes"] = [dict(zip(names, (int(v) for v in pos.split("/")))) for pos in m.group(1).split(",")
                                if pos]
    listing = re.findall(r"^insn=([0-9a-f]+),(\w+)$", log, re.M)
    if listing:
        out["listing"] = {int(addr, 16): cls for addr, cls in listing}
    return out


# ---------------------------------------------------------------------------------------------------- measure


def plugin_path() -> Path:
    """Build (once, cached by source hash) the instruction-counting TCG plugin with the host C compiler."""
    from .host import find_cc

    src = (resources.files("edgec.targets") / "cortexm" / "insncount.c").read_text()
    digest = hashlib.sha256(src.encode()).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgec"
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError:
        cache = Path(tempfile.gettempdir()) / "edgec-cache"
        cache.mkdir(parents=True, exist_ok=True)
    so = cache / f"libinsncount-{digest}.so"
    if so.exists():
        return so
    cc = find_cc()
    with tempfile.TemporaryDirectory(prefix="edgec-plugin-") as tmp:
        c = Path(tmp) / "insncount.c"
        c.write_text(src)
        built = Path(tmp) / "libinsncount.so"
        res = subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(built), str(c)], capture_output=True,
                             text=True)
        if res.returncode != 0:
            raise ToolchainError(f"building the QEMU instruction-counting plugin failed:\n{res.stderr.strip()[:2000]}")
        tmp_so = cache / f".{so.name}.{os.getpid()}"
        shutil.copyfile(built, tmp_so)
        tmp_so.replace(so)  # atomic: parallel test workers may race here
    return so


def count_instructions(elf: Path, board: Board | str, samples: list[list[np.ndarray]],
                       layers_elf: Path | None = None, timeout: float = RUN_TIMEOUT_S,
                       systick_elf: Path | None = None) -> dict:
    """Guest instructions per inference between edgec_marker_start/end, averaged over the samples (deterministic).

    With `layers_elf` (cross_build(..., layer_markers=True)), also the instructions per layer position
    (`layer_positions`: start..first marker, between markers, ..., last marker..end; see layer_instructions()).
    Uses the TCG plugin; if it cannot be built or loaded, falls back to `-icount shift=0` + SysTick, which needs
    `systick_elf` (cross_build(..., systick=True)) and resolves ~40 instructions on mps2.
    Also returns the measured stack high-water mark (stack painting) and the wall time per sample."""
    b = get_board(board) if isinstance(board, str) else board
    try:
        so = plugin_path()
    except ToolchainError as e:
        return _count_icount(b, samples, systick_elf, timeout, reason=e.message)
    syms = symbol_addresses(elf, ["edgec_marker_start", "edgec_marker_end"])
    if len(syms) != 2:
        raise ToolchainError(f"{elf} has no edgec_marker_start/edgec_marker_end symbols (not an edgec firmware?)")
    arg = f"{so},begin={syms['edgec_marker_start']:#x},end={syms['edgec_marker_end']:#x}"
    try:
        run = run_firmware(elf, b, samples, timeout, plugin=arg)
    except ToolchainError as e:
        if "plugin" in e.message.lower() and systick_elf is not None:
            return _count_icount(b, samples, systick_elf, timeout, reason=e.message)
        raise
    calls = int(run.plugin.get("roi_calls", 0))
    if calls != len(samples):
        if systick_elf is not None:
            return _count_icount(b, samples, systick_elf, timeout, reason=f"plugin reported {run.plugin}")
        raise ToolchainError(f"the instruction-counting plugin saw {calls} inferences, expected {len(samples)}: "
                             f"{run.plugin}")
    roi = int(run.plugin["roi_insns"])
    result: dict = dict(method="qemu-tcg-plugin", instructions_per_inference=roi // calls,
                        instructions_total=roi, inferences=calls, insns_total_run=run.plugin.get("insns_total"),
                        stack_high_water_bytes=run.stats.get("stack_high_water"),
                        stack_available_bytes=run.stats.get("stack_available"),
                        wall_s=run.wall_s, wall_per_sample_s=run.wall_per_sample_s, outputs=run.outputs)
    if "roi_classes" in run.plugin:
        result["class_counts"] = _classes_per_inference(run.plugin["roi_classes"], roi, calls)
    if layers_elf is not None:
        lsyms = symbol_addresses(layers_elf, ["edgec_marker_start", "edgec_marker_end", "edgec_trace"])
        if len(lsyms) != 3:
            raise ToolchainError(f"{layers_elf} has no edgec_trace marker: build it with layer_markers=True")
        larg = (f"{so},begin={lsyms['edgec_marker_start']:#x},end={lsyms['edgec_marker_end']:#x},"
                f"layer={lsyms['edgec_trace']:#x}")
        lrun = run_firmware(layers_elf, b, samples, timeout, plugin=larg)
        lcalls = int(lrun.plugin.get("roi_calls", 0))
        positions = list(lrun.plugin.get("layer_insns", []))
        result["layer_positions"] = [p // max(1, lcalls) for p in positions]
        result["layer_position_classes"] = [_classes_per_inference(classes, total, max(1, lcalls))
                                            for classes, total in zip(lrun.plugin.get("layer_classes", []), positions)]
        result["layers_build_instructions_per_inference"] = int(lrun.plugin.get("roi_insns", 0)) // max(1, lcalls)
    return result


def _classes_per_inference(counts: dict[str, int], total: int, calls: int) -> dict[str, int]:
    """The plugin's class counts over `calls` inferences, per inference, summing exactly to total // calls (the
    instruction count reported): floors, then the remainders handed out largest first."""
    if sum(counts[c] for c in INSTRUCTION_CLASSES) != total:
        raise ToolchainError(f"the instruction-counting plugin's classes {counts} do not sum to its count {total}")
    per = {c: counts[c] // calls for c in INSTRUCTION_CLASSES}
    for c in sorted(INSTRUCTION_CLASSES, key=lambda c: -(counts[c] % calls))[:total // calls - sum(per.values())]:
        per[c] += 1
    per[XFER_COUNTER] = counts.get(XFER_COUNTER, 0) // calls
    return per


def _count_icount(b: Board, samples: list[list[np.ndarray]], systick_elf: Path | None, timeout: float,
                  reason: str) -> dict:
    if systick_elf is None:
        raise ToolchainError(f"instruction counting: the TCG plugin is unavailable ({reason}) and no SysTick build "
                             "was given for the -icount fallback")
    run = run_firmware(systick_elf, b, samples, timeout, icount=True)
    ticks = run.stats.get("ticks")
    if ticks is None or b.qemu_machine not in SYSTICK_HZ:
        raise ToolchainError(f"the -icount + SysTick fallback gave no tick count on {b.name}: {run.console.strip()}")
    per_tick = 1e9 / SYSTICK_HZ[b.qemu_machine]
    total = round(ticks * per_tick)
    return dict(method="qemu-icount-systick", plugin_unavailable=reason,
                instructions_per_inference=total // len(samples),
                instructions_total=total, inferences=len(samples), resolution_instructions=per_tick,
                stack_high_water_bytes=run.stats.get("stack_high_water"),
                stack_available_bytes=run.stats.get("stack_available"),
                wall_s=run.wall_s, wall_per_sample_s=run.wall_per_sample_s, outputs=run.outputs)


def layer_instructions(positions: list[int], g: Graph, position_classes: list[dict[str, int]] | None = None
                       ) -> list[dict]:
    """Per-layer instructions from the plugin's positions: edgec_trace is called once per output of every op, in op
    order; the instructions before a call belong to that call's op, and the tail (last call .. end) to the last op.
    With `position_classes` (the plugin's per-position class counts), each row also gets its `classes`."""
    owner = [k for k, op in enumerate(g.ops) for _ in (op.outputs or [""])]  # no outputs: one call (codegen)
    per_op = [0] * len(g.ops)
    per_op_classes: list[dict[str, int]] = [dict.fromkeys(INSTRUCTION_CLASSES, 0) for _ in g.ops]
    for j, n in enumerate(positions):
        k = owner[min(j, len(owner) - 1)]
        per_op[k] += n
        if position_classes:
            for c in INSTRUCTION_CLASSES:
                per_op_classes[k][c] += position_classes[j][c]
    rows: list[dict] = [dict(layer=op.attrs.get("label", op.name), op=op.attrs.get("tflite_op", op.type),
                             instructions=n) for op, n in zip(g.ops, per_op)]
    if position_classes:
        for row, classes in zip(rows, per_op_classes):
            row["classes"] = classes
    return rows


# Cycles charged per instruction class for `cycles_estimate`: an ESTIMATE, not a measurement. QEMU counts
# instructions, not cycles (the DWT cycle counter is not emulated), and the cycle cost of an instruction depends on
# things a count cannot see: whether a branch was taken, pipelining of back-to-back loads, flash wait states,
# caches, TCM placement, dual issue. Figures from the cores' published timings:
# - Cortex-M4 Technical Reference Manual (ARM DDI 0439), the "Cortex-M4 instructions" timing table: LDR 2 cycles
#   (1 when pipelined after another load to a non-dependent register: 2 taken, conservative); STR 1;
#   MUL/MLA/MLS/SMUL/SMLA/SMLAD/SMULL/SMLAL/UMULL/UMLAL 1; SDIV/UDIV 2-12 (early termination on the operands'
#   size: 12 taken, the worst case); B/BL/BX/CBZ/TBB taken 1+P with P = 1-3
#   (pipeline refill; every branch is charged as taken with P = 2, the middle, as not-taken branches cost 1 and
#   cannot be told apart in a count); LDM/STM/PUSH/POP 1+N for N registers (charged as the single load or store
#   plus 1 per register beyond the first, the plugin's `xfer`: exact for loads, 1 cycle low for stores); POP {pc}
#   1+N+P (branch + `xfer`); FPv4 VADD/VMUL/VCVT 1 (VMLA/VFMA 3 and VDIV/VSQRT 14 are rare in int8 code and
#   charged 1: the estimate is low on float-heavy code); data processing, SXTB16, SSAT, QADD, IT, ... 1.
# - Cortex-M33 (ARM 100230): the M4's three-stage pipeline; charged the M4's figures.
# - Cortex-M3 TRM (ARM DDI 0337), its instruction timing table: as the M4 except MLA/MLS 2 and SMULL/UMULL 3-5,
#   SMLAL/UMLAL 4-7: multiply charged 2 (the portable kernels' MLA); no DSP or FP instructions.
# - Cortex-M0+ TRM (ARM DDI 0484): loads and stores 2, MULS 1 (the fast-multiplier option),
#   taken branch 2 (B, BX; BL 3), LDM/STM/PUSH/POP 1+N; no divide instruction (division is a library call).
# - Cortex-M55 TRM (ARM 101051): scalar integer pipeline timed like the M33; MVE is dual-beat (a 128-bit
#   instruction is 4 beats, 2 per cycle): 2 cycles per MVE instruction, ignoring the overlap of a vector load with
#   a vector arithmetic instruction that can halve it (conservative). A low-overhead-loop LE can cost nothing
#   after its first iteration (loop branch cache) but is charged as a taken branch.
# - Cortex-M7 TRM (ARM DDI 0489) publishes no per-instruction table: six-stage dual-issue pipeline, loads 1 cycle
#   from TCM (the emulated boards place data in DTCM), branch prediction (a predicted taken branch 1 cycle), 64-bit
#   load/store path (0.5 per extra register); two ALU instructions can issue together, so `other` is charged 0.5.
#   This is the roughest of the tables.
CYCLE_TABLE: dict[str, dict[str, float]] = {
    "cortex-m4": dict(load=2, store=1, multiply=1, divide=12, branch=3, fp=1, mve=1, other=1, xfer=1),
    "cortex-m3": dict(load=2, store=1, multiply=2, divide=12, branch=3, fp=1, mve=1, other=1, xfer=1),
    "cortex-m33": dict(load=2, store=1, multiply=1, divide=12, branch=3, fp=1, mve=1, other=1, xfer=1),
    "cortex-m55": dict(load=2, store=1, multiply=1, divide=12, branch=3, fp=1, mve=2, other=1, xfer=1),
    "cortex-m0plus": dict(load=2, store=2, multiply=1, divide=12, branch=2, fp=1, mve=1, other=1, xfer=1),
    "cortex-m7": dict(load=1, store=1, multiply=1, divide=12, branch=1, fp=1, mve=1, other=0.5, xfer=0.5),
}


def estimate_cycles(core: str, class_counts: dict[str, int]) -> int | None:
    """cycles_estimate: the class counts (and the extra registers of multi-register transfers) weighted by the
    core's CYCLE_TABLE; None for a core without a table."""
    table = CYCLE_TABLE.get(core)
    if table is None:
        return None
    return round(sum(table[c] * class_counts.get(c, 0) for c in (*INSTRUCTION_CLASSES, XFER_COUNTER)))


def measure(out_dir: Path, sources: list[str], board: Board | str, samples: list[list[np.ndarray]],
            graph: Graph | None = None, per_layer: bool = True, timeout: float = RUN_TIMEOUT_S) -> dict:
    """Everything `edgec test --board B` reports for an emulated board, in one call: cross-build (plain and, with
    per_layer, the layer-marker build), run the samples counting instructions, and read sizes from the ELF.

    Returns dict(elf, sizes, outputs (raw bytes, as host.run), instructions_per_inference, layers, stack, ...).
    Raises BudgetError if it does not fit, ToolchainError (GuestFault / GuestHang) if the guest misbehaves."""
    b = get_board(board) if isinstance(board, str) else board
    # linked at the emulator's addresses under its own name: the folder's firmware.elf (real addresses, what
    # `edgec flash` programs) must not be replaced by it
    elf = cross_build(out_dir, sources, b, graph=graph, emulated=True, elf_name=EMULATED_ELF)
    sizes = elf_sizes(elf)
    layers_elf = cross_build(out_dir, sources, b, graph=graph, layer_markers=True) if per_layer else None
    try:
        plugin_path()
        systick_elf = None
    except ToolchainError:
        systick_elf = cross_build(out_dir, sources, b, graph=graph, systick=True)
        layers_elf = None
    m = count_instructions(elf, b, samples, layers_elf=layers_elf, timeout=timeout, systick_elf=systick_elf)
    ipi = int(m["instructions_per_inference"])
    class_counts = m.get("class_counts")  # absent on the -icount fallback, which cannot classify
    classes = {c: class_counts[c] for c in INSTRUCTION_CLASSES} if class_counts else None
    cycles = estimate_cycles(b.core, class_counts) if class_counts else None
    stack = m.get("stack_high_water_bytes")
    result = dict(board=b.name, core=b.core, machine=b.qemu_machine, elf=str(elf), sizes=sizes,
                  flash_bytes=sizes["flash_bytes"], flash_budget=int(b.flash_region["size"]),
                  # peak SRAM = statically allocated (.data + .bss + arena) + the measured stack high-water mark
                  peak_sram_bytes=sizes["static_sram_bytes"] + (stack or 0), arena_bytes=sizes["arena"],
                  stack_bytes=stack, instructions_per_inference=ipi, instruction_method=m["method"],
                  instruction_classes=classes, cycles_estimate=cycles,
                  cycles_per_instruction_estimate=round(cycles / ipi, 3) if cycles and ipi else None,
                  ms_estimate=round(cycles / b.clock_hz * 1e3, 3) if cycles and b.clock_hz else None,
                  wall_s=m["wall_s"], wall_per_sample_s=m["wall_per_sample_s"], outputs=m["outputs"], layers=None)
    if "layer_positions" in m and graph is not None:
        result["layers"] = layer_instructions(m["layer_positions"], graph, m.get("layer_position_classes"))
    elif "layer_positions" in m:
        result["layer_positions"] = m["layer_positions"]
    return result
