"""Real boards through pyOCD's Python API: flash the firmware, run it, serve its semihosting file I/O.

The firmware is the same as on the emulated board (targets/cortexm/, linked at the board's real addresses): it
reads `input.bin` and writes `output.bin` through semihosting SYS_OPEN/SYS_READ/SYS_WRITE and ends with
SYS_EXIT_EXTENDED. pyOCD's SemihostAgent serves those calls from the working directory we give it.

Status: written against pyOCD 0.46's API and tested here only as far as this machine allows (no probe is
attached to CI): command construction, the no-probe and missing-pyOCD errors (exit 4). docs/boards.md says so.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from .board import Board
from .errors import ToolchainError

DEVICE_TIMEOUT_S = 300.0


def _pyocd():
    try:
        from pyocd.core.helpers import ConnectHelper
        from pyocd.core.session import Session
        from pyocd.debug import semihost
        from pyocd.flash.file_programmer import FileProgrammer
    except ImportError:
        raise ToolchainError("pyOCD is not installed: pip install 'edgec[device]' (or pip install pyocd) to flash "
                             "and run real boards") from None
    return ConnectHelper, Session, FileProgrammer, semihost


def open_session(board: Board):
    """A pyOCD session on the first attached probe, for the board's target; exit 4 when none is attached."""
    ConnectHelper, Session, _, _ = _pyocd()
    if not board.pyocd_target:
        raise ToolchainError(f"board `{board.name}` has no pyocd_target in its board file")
    # not ConnectHelper.session_with_chosen_probe: it prints "No connected debug probes" on stdout (which
    # `--json` reserves for one JSON object) and would prompt on stdin when several probes are attached
    try:
        probes = ConnectHelper.get_all_connected_probes(blocking=False)
    except Exception as e:  # e.g. no USB backend (libusb) on this machine
        raise ToolchainError(f"pyOCD could not list the debug probes ({type(e).__name__}: {e}); check "
                             "`pyocd list`") from None
    if not probes:
        raise ToolchainError(f"no debug probe found for {board.name} (pyOCD target {board.pyocd_target}): connect "
                             "the board's ST-LINK/J-Link/CMSIS-DAP probe over USB (check `pyocd list`)")
    return Session(probes[0], target_override=board.pyocd_target, options={"enable_semihosting": True})


def flash(elf: Path, board: Board) -> None:
    _, _, FileProgrammer, _ = _pyocd()
    with open_session(board) as session:
        FileProgrammer(session).program(str(elf))


def run_on_device(elf: Path, board: Board, samples: list[list[np.ndarray]],
                  timeout: float = DEVICE_TIMEOUT_S) -> bytes:
    """Flash, reset, serve semihosting until the firmware exits; return output.bin's bytes."""
    from .cortexm import _payload

    _, _, FileProgrammer, semihost = _pyocd()
    payload, _ = _payload(samples)
    with tempfile.TemporaryDirectory(prefix="edgec-device-") as tmp, open_session(board) as session:
        work = Path(tmp)
        (work / "input.bin").write_bytes(payload)
        FileProgrammer(session).program(str(elf))
        target = session.target
        cwd = os.getcwd()
        os.chdir(work)  # the semihosting file handler opens paths relative to the working directory
        try:
            agent = semihost.SemihostAgent(target.selected_core, io_handler=semihost.InternalSemihostIOHandler(),
                                           console=semihost.InternalSemihostIOHandler())
            target.reset_and_halt()
            target.resume()
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if target.get_state() == target.State.HALTED:
                    if not agent.check_and_handle_semihost_request():
                        break  # halted for another reason than semihosting: the exit call or a fault
                    target.resume()
                time.sleep(0.001)
            else:
                raise ToolchainError(f"the firmware on the real {board.name} did not finish within {timeout:g} s")
        finally:
            os.chdir(cwd)
        out = work / "output.bin"
        return out.read_bytes() if out.exists() else b""
