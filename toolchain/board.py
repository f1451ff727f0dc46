"""Board files (boards/*.toml, Zephyr-style names): core, clock, memory regions, emulator, flasher."""

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


def all_boards() -> dict[str, Board]:
    boards = {}
    for entry in resources.files("edgec.boards").iterdir():
        if entry.name.endswith(".toml"):
            data = tomllib.loads(entry.read_text())
            boards[data["name"]] = Board(name=data["name"], description=data.get("description", ""),
                                         core=data["core"], fpu=bool(data.get("fpu", False)),
                                         dsp=bool(data.get("dsp", False)), clock_hz=int(data.get("clock_hz", 0)),
                                         emulator=data.get("emulator", "none"), flasher=data.get("flasher", "none"),
                                         regions=list(data.get("regions", [])))
    return dict(sorted(boards.items()))


def get_board(name: str) -> Board:
    boards = all_boards()
    if name not in boards:
        raise InputError(f"unknown board `{name}`; known boards: {', '.join(boards)} (see `edgec boards`)")
    board = boards[name]
    if board.core != "host":
        # Cross builds arrive with the boards issue; until then only the host target runs.
        raise InputError(f"board `{name}` ({board.core}) has no cross build yet; use --board host")
    return board
