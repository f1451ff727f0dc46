"""Trained parameters survive power loss on an emulated NUCLEO-F746ZG (Cortex-M7 + FPU, QEMU mps2-an500).

The firmware of a small training graph (patch_stage_net, `head` scheme) keeps its parameters in the two-slot
store (runtime/edgec_param_store.h) on a flash device backed by the host file `params.flash` (the harness in
templates/main_cortexm.c.j2: erase = 0xFF written in 64-byte writes, program = 16-byte writes). Every boot loads
the store, trains one step and saves; most boots are cut by a power loss at a chosen flash write (before it, half
of it, all but its last byte: the firmware lands that much, prints `power cut` and hangs, and the test kills QEMU
with SIGKILL), at every write of a save in turn. The next boot must load exactly the last complete save (or the
new one when the cut hit the save's very last byte and that byte already held its final value), never anything
else; the test also decodes params.flash itself (zlib's CRC-32) and checks the firmware chose the same slot, and
recomputes every training step with the numpy reference (toolchain/train/run.py) from the loaded parameters.
"""

from __future__ import annotations

import os
import struct
import subprocess
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from small_models import patch_stage_net

from edgec import cortexm
from edgec.board import get_board
from edgec.codegen import emit_c
from edgec.driver import compile_model
from edgec.memory import plan_memory
from edgec.train.graph import TrainingOptions, build_training_graph, find_head
from edgec.train.run import TrainState, train_step
from edgec.train.scheme import parse_scheme
from edgec.verifier import verify

MISSING = cortexm.toolchain_available()
needs_tools = pytest.mark.skipif(MISSING is not None and not os.environ.get("CI"),
                                 reason=f"Cortex-M toolchain or QEMU missing: {MISSING}")

BOARD = "nucleo_f746zg"
LOAD, SAVE, HANG_ON_CUT = 1, 2, 4
NO_CUT = 0xFFFFFFFF
SECTOR, PROGRAM_CHUNK, ERASE_CHUNK, HEADER, UNIT = 1024, 16, 64, 32, 32  # main_cortexm.c.j2, edgec_param_store.h
MAGIC = 0x54535045


@dataclass
class Boot:
    killed: bool
    load: tuple[int, int, int, int]  # result, slot, sequence, slot bytes
    loaded: bytes  # the parameters after the load
    trained: bytes  # the parameters after the training steps (what the save writes)
    losses: list[float]
    save: tuple[int, int, int, int] | None  # result, slot, sequence, flash writes (None: cut)


def run_boot(elf: Path, work: Path, records: list, flags: int, payload: int, classes: int, cut: int = NO_CUT,
             cut_bytes: int = 0) -> Boot:
    per = sum(a.nbytes for a in records[0])
    body = b"".join(a.tobytes() for r in records for a in r)
    (work / "input.bin").write_bytes(struct.pack("<4s7I", b"EDGC", 2, len(records), per, flags, cut, cut_bytes, 0)
                                     + body)
    for name in ("output.bin", "console.txt"):
        (work / name).unlink(missing_ok=True)
    board = get_board(BOARD)
    proc = subprocess.Popen(cortexm.qemu_command(elf, board), cwd=work, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    killed, deadline = False, time.monotonic() + 30
    while proc.poll() is None:
        console = (work / "console.txt").read_text(errors="replace") if (work / "console.txt").exists() else ""
        if "power cut" in console:
            proc.kill()  # the power goes: SIGKILL, no chance to flush or close anything
            proc.wait()
            killed = True
            break
        assert time.monotonic() < deadline, f"the firmware hung: {console}"
        time.sleep(0.002)
    console = (work / "console.txt").read_text(errors="replace")
    assert killed or proc.returncode == 0, (proc.returncode, console)
    assert killed == (cut != NO_CUT), console
    raw = (work / "output.bin").read_bytes()
    load = struct.unpack("<iiII", raw[:16])
    loaded = raw[16:16 + payload]
    off = 16 + payload
    out = np.frombuffer(raw[off:off + len(records) * 4 * (1 + classes)], np.float32).reshape(len(records), -1)
    off += len(records) * 4 * (1 + classes)
    trained = raw[off:off + payload]
    off += payload
    save = struct.unpack("<iiII", raw[off:off + 16]) if len(raw) >= off + 16 else None
    assert len(raw) == off + (16 if save else 0), "output.bin is not what the harness documents"
    return Boot(killed, load, loaded, trained, [float(v) for v in out[:, 0]], save)


def decode_store(flash: bytes, sizes: list[int], slot_bytes: int) -> tuple[int, int] | None:
    """(slot, sequence) of the newest valid slot by the documented layout, with zlib's CRC-32; None if none."""
    payload = sum(sizes)
    layout = zlib.crc32(struct.pack(f"<{1 + len(sizes)}I", len(sizes), *sizes))
    best: tuple[int, int] | None = None
    for slot in (0, 1):
        base = slot * slot_bytes
        h = flash[base:base + HEADER].ljust(HEADER, b"\xff")
        magic, version, seq, n, lay, count, zero, crc = struct.unpack("<8I", h)
        if (magic, version, n, lay, count, zero) != (MAGIC, 1, payload, layout, len(sizes), 0):
            continue
        body = flash[base + HEADER:base + HEADER + payload]
        if len(body) != payload or zlib.crc32(h[:28] + body) != crc:
            continue
        if best is None or 0 < ((seq - best[1]) & 0xFFFFFFFF) < 0x80000000:
            best = (slot, seq)
    return best


def flatten(tg, params: dict) -> bytes:
    return b"".join(np.ascontiguousarray(params[n]).tobytes() for n in tg.meta["training"]["params"])


def unflatten(tg, raw: bytes) -> dict:
    out, off = {}, 0
    for n in tg.meta["training"]["params"]:
        t = tg.t(n)
        assert t.data is not None
        out[n] = np.frombuffer(raw[off:off + t.nbytes], t.data.dtype).reshape(t.shape).copy()
        off += t.nbytes
    return out


@needs_tools
def test_power_cut_at_every_flash_write(tmp_path):
    model = tmp_path / "net.tflite"
    model.write_bytes(patch_stage_net())
    g = compile_model(model, "host", patch=False).graph
    head, _ = find_head(g)
    tg = verify(build_training_graph(g, parse_scheme("head", g, head), TrainingOptions(lr=0.05)))
    sizes = [tg.t(n).nbytes for n in tg.meta["training"]["params"]]
    payload, classes = sum(sizes), tg.t(tg.outputs[1]).size
    out = tmp_path / "c"
    elf = cortexm.cross_build(out, emit_c(tg, plan_memory(tg), out), BOARD, graph=tg, emulated=True)
    work = tmp_path / "board"
    work.mkdir()
    rng = np.random.default_rng(0)

    def records(n: int) -> list:
        return [[rng.integers(-128, 128, (1, 32, 32, 3)).astype(np.int8),
                 np.array([int(rng.integers(0, classes))], np.int32)] for _ in range(n)]

    initial = flatten(tg, {n: tg.t(n).data for n in tg.meta["training"]["params"]})
    writes_per_save = SECTOR // ERASE_CHUNK * -(-(HEADER + payload) // SECTOR) + \
        (HEADER + -(-payload // UNIT) * UNIT) // PROGRAM_CHUNK

    def check_training(boot: Boot, recs: list) -> None:
        """the firmware's training steps from the loaded parameters == the numpy reference, bit for bit"""
        state = TrainState(params=unflatten(tg, boot.loaded), rng=[0])
        for (x, label), loss in zip(recs, boot.losses):
            ref, _ = train_step(tg, state, x, int(label[0]))
            assert abs(ref - loss) <= 1e-5 * max(1.0, abs(ref))
        assert flatten(tg, state.params) == boot.trained

    # update 1 on an empty store: nothing to load, the compiled-in values train
    recs = records(2)
    first = run_boot(elf, work, recs, LOAD | SAVE, payload, classes)
    assert first.load[0] == 1 and first.loaded == initial  # EDGEC_PARAM_STORE_EMPTY
    assert first.save is not None and first.save[:3] == (0, 0, 1) and first.save[3] == writes_per_save == 44
    check_training(first, recs)
    assert first.trained != initial, "training did not move the parameters: the test could not tell saves apart"
    last, last_seq = first.trained, 1  # the last complete update
    slot_bytes = first.load[3]
    assert slot_bytes == SECTOR

    cut_points = [(w, t) for w in range(writes_per_save)
                  for t in (0, (ERASE_CHUNK if w < 16 else PROGRAM_CHUNK) // 2,
                            (ERASE_CHUNK if w < 16 else PROGRAM_CHUNK) - 1)]
    outcomes = {"last complete": 0, "new (whole)": 0}
    complete_saves, boots, attempt = 1, 1, b""
    previous_cut: tuple[int, int] | None = None
    for k, cut in enumerate(cut_points + [None]):
        recs = records(1)
        boot = run_boot(elf, work, recs, LOAD | SAVE | HANG_ON_CUT, payload, classes,
                        *(cut if cut is not None else (NO_CUT, 0)))
        boots += 1
        # what this boot loaded: the store after the previous boot's save (complete or cut)
        assert boot.load[0] == 0, boot.load
        if boot.loaded == last and boot.load[2] == last_seq:
            outcomes["last complete"] += previous_cut is not None
        elif previous_cut is not None and previous_cut[0] == writes_per_save - 1 and boot.loaded == attempt:
            outcomes["new (whole)"] += 1  # the header's last byte landed with its final value: the save is whole
            last, last_seq = attempt, last_seq + 1
        else:
            raise AssertionError(f"boot {boots} after a cut at {previous_cut} loaded neither the last complete "
                                 f"update (sequence {last_seq}) nor the new one: {boot.load}")
        check_training(boot, recs)
        attempt, previous_cut = boot.trained, cut
        if cut is None:
            assert boot.save is not None and boot.save[:3] == (0, 1 - boot.load[1], last_seq + 1)
            last, last_seq = boot.trained, last_seq + 1
            complete_saves += 1
        else:
            assert boot.save is None
            # the host's own reading of the torn file agrees: the slot of the last complete update wins
            decoded = decode_store((work / "params.flash").read_bytes(), sizes, slot_bytes)
            assert decoded is not None
            if decoded[1] != last_seq:
                assert cut[0] == writes_per_save - 1 and decoded[1] == last_seq + 1
        if cut is not None and k % 4 == 3:  # a complete save now and then: both slots take turns
            recs = records(1)
            full = run_boot(elf, work, recs, LOAD | SAVE, payload, classes)
            boots += 1
            if full.loaded == attempt and full.load[2] == last_seq + 1:  # the cut above left a whole save
                outcomes["new (whole)"] += 1
                last, last_seq = attempt, last_seq + 1
            else:
                assert full.loaded == last and full.load[2] == last_seq
                outcomes["last complete"] += 1
            check_training(full, recs)
            assert full.save is not None and full.save[0] == 0
            last, last_seq, attempt, previous_cut = full.trained, last_seq + 1, b"", None
            complete_saves += 1
    # a last boot only loads: the final update
    final = run_boot(elf, work, records(1), LOAD, payload, classes)
    assert final.loaded == last and final.load[2] == last_seq
    assert len(cut_points) >= 100
    assert outcomes["last complete"] + outcomes["new (whole)"] == len(cut_points)
    print(f"\n{len(cut_points)} power cuts over the {writes_per_save} flash writes of a save "
          f"({payload} B of parameters, {HEADER + -(-payload // UNIT) * UNIT} B programmed + "
          f"{SECTOR} B erased per save), {boots + 1} boots, {complete_saves} complete saves: {outcomes}")
