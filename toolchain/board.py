"""Board files (boards/*.toml, Zephyr-style names): core, clock, memory regions, emulator, flasher.

A Cortex-M board file gives the board's real memory (`[[regions]]`: name, origin, size, kind = "flash" | "sram"),
which SRAM region holds the arena (`arena_region`) and which holds .data/.bss/stack (`data_region`, default: the
arena region), and, when QEMU can run its core, the machine and the addresses its regions get when emulated
(`[emulation]`: machine = "mps2-an386", origins = {FLASH = 0x0, SRAM = 0x20000000}). The emulated link keeps the
board's own sizes, so the linker refuses whatever would not fit the real board.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources

from .errors import InputError


@dataclass
class Board:
    name: str
    description: str
    core: str
    fpu: bool
    dsp: bool
    clock_hz: int
    emulator: str
    flasher: str
    regions: list[dict] = field(default_factory=list)
    # Cortex-M fields (all optional; the host board has none of them)
    fpu_name: str = ""  # gcc -mfpu value: fpv4-sp-d16, fpv5-sp-d16, fpv5-d16, or "auto" (M55: implied by -mcpu)
    mve: bool = False  # M-profile vector extension (Helium)
    arena_region: str = ""  # the SRAM region that holds the arena
    data_region: str = ""  # the SRAM region that holds .data, .bss and the stack (default: arena_region)
    stack_bytes: int = 8192  # stack reserved at the top of data_region (the linker checks it fits)
    qemu_machine: str = ""  # QEMU machine that runs this core ("" = no emulator)
    emulated_origins: dict[str, int] = field(default_factory=dict)  # region name -> origin when emulated
    pyocd_target: str = ""
    datasheet: str = ""

    @property
    def is_cortexm(self) -> bool:
        return self.core.startswith("cortex-m")

    def region(self, name: str) -> dict:
        for r in self.regions:
            if r["name"] == name:
                return r
        raise InputError(f"board `{self.name}`: no memory region `{name}` (regions: "
                         f"{', '.join(r['name'] for r in self.regions)})")

    @property
    def flash_region(self) -> dict:
        """The flash region code and constants are linked into (the first flash region)."""
        flash = [r for r in self.regions if r.get("kind") == "flash"]
        if not flash:
            raise InputError(f"board `{self.name}` has no flash region")
        return flash[0]

    @property
    def sram_bytes(self) -> int:
        return sum(int(r["size"]) for r in self.regions if r.get("kind") == "sram")

    @property
    def flash_bytes(self) -> int:
        return sum(int(r["size"]) for r in self.regions if r.get("kind") == "flash")


def _board(data: dict) -> Board:
    fpu = data.get("fpu", False)
    emulation = data.get("emulation", {})
    arena = data.get("arena_region", "")
    return Board(name=data["name"], description=data.get("description", ""), core=data["core"], fpu=bool(fpu),
                 dsp=bool(data.get("dsp", False)), clock_hz=int(data.get("clock_hz", 0)),
                 emulator=data.get("emulator", "none"), flasher=data.get("flasher", "none"),
                 regions=list(data.get("regions", [])), fpu_name=fpu if isinstance(fpu, str) else "",
                 mve=bool(data.get("mve", False)), arena_region=arena, data_region=data.get("data_region", arena),
                 stack_bytes=int(data.get("stack_bytes", 8192)), qemu_machine=emulation.get("machine", ""),
                 emulated_origins={k: int(v) for k, v in emulation.get("origins", {}).items()},
                 pyocd_target=data.get("pyocd_target", ""), datasheet=data.get("datasheet", ""))


def all_boards() -> dict[str, Board]:
    boards = {}
    for entry in resources.files("edgec.boards").iterdir():
        if entry.name.endswith(".toml"):
            board = _board(tomllib.loads(entry.read_text()))
            boards[board.name] = board
    return dict(sorted(boards.items()))


def get_board(name: str) -> Board:
    boards = all_boards()
    if name not in boards:
        raise InputError(f"unknown board `{name}`; known boards: {', '.join(boards)} (see `edgec boards`)")
    return boards[name]
