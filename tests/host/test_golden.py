"""Golden snapshots of the emitted model.c / model.h for small fixed-seed models (weights.c is not snapshotted).

A change in the emitter shows up here as a diff. When the change is intended, update the snapshots on purpose:

    EDGEC_UPDATE_GOLDEN=1 pytest tests/host/test_golden.py

and review the diff of tests/golden/ like any other code change.
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest
from small_models import BUILT, PATCHED

from edgec import driver

GOLDEN = Path(__file__).resolve().parents[1] / "golden"
FILES = ["model.c", "model.h"]
UPDATE = os.environ.get("EDGEC_UPDATE_GOLDEN") == "1"


CASES = [(name, BUILT[name], None) for name in sorted(BUILT)] + [
    (f"{name}_patched", PATCHED[name], True) for name in sorted(PATCHED)]


@pytest.mark.parametrize("name,make,patch", CASES, ids=[c[0] for c in CASES])
def test_golden(tmp_path, name, make, patch):
    model = tmp_path / f"{name}.tflite"
    model.write_bytes(make())
    b = driver.build(model, tmp_path / "out", patch=patch)
    if patch:
        assert b.plan.patch is not None, "the patched golden model must get a patch plan"
    out = b.out
    problems = []
    for fname in FILES:
        got = (out / fname).read_text()
        golden = GOLDEN / name / fname
        if UPDATE:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(got)
            continue
        if not golden.is_file():
            problems.append(f"{golden} is missing")
            continue
        want = golden.read_text()
        if got != want:
            diff = difflib.unified_diff(want.splitlines(keepends=True), got.splitlines(keepends=True),
                                        fromfile=f"tests/golden/{name}/{fname}", tofile=f"emitted {fname}")
            problems.append("".join(diff))
    assert not problems, ("emitted C differs from the golden snapshot:\n" + "\n".join(problems) +
                          "\nIf the change is intended, update the snapshots on purpose with\n"
                          "    EDGEC_UPDATE_GOLDEN=1 pytest tests/host/test_golden.py\nand review the diff.")
