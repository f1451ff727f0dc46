"""The host target: build the output folder with the host C compiler and run the harness on test vectors."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from . import outdir
from .errors import ToolchainError

CFLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off"]  # no FMA: docs/numerics.md
SANITIZE = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer"]
RUN_TIMEOUT_S = 600


def find_cc() -> str:
    cc = os.environ.get("CC") or "gcc"
    path = shutil.which(cc)
    if path is None:
        raise ToolchainError(f"no C compiler: `{cc}` is not on PATH. Install gcc "
                             "(Debian/Ubuntu: apt-get install gcc) or set CC")
    return path


def build(out_dir: Path, sources: list[str], exe: str = "model", trace: bool = False,
          sanitize: bool = False) -> Path:
    """Compile the folder's harness; raises ToolchainError with the compiler's own message on failure."""
    cc = find_cc()
    flags = list(CFLAGS) + (SANITIZE if sanitize else []) + (["-DEDGEC_TRACE"] if trace else [])
    cmd = [cc, *flags, "-I.", "-o", exe, *sources, "-lm"]  # libm: expf/tanhf of the float kernels
    try:
        res = subprocess.run(cmd, cwd=out_dir, capture_output=True, text=True)
    finally:
        outdir.record(out_dir, [out_dir / exe])  # the folder's manifest stays true (docs/cli.md)
    if res.returncode != 0:
        raise ToolchainError(f"the C compiler failed on {out_dir} ({' '.join(cmd)}):\n{res.stderr.strip()[:4000]}")
    return out_dir / exe


def run(exe: Path, samples: list[list[np.ndarray]]) -> bytes:
    """Feed the samples' raw bytes on stdin, return the raw stdout."""
    payload = b"".join(x.tobytes() for sample in samples for x in sample)
    try:
        res = subprocess.run([str(exe), str(len(samples))], input=payload, capture_output=True,
                             timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"{exe} did not finish within {RUN_TIMEOUT_S} s (hung?)") from None
    if res.returncode != 0:
        raise ToolchainError(f"{exe} exited with status {res.returncode}:\n"
                             f"{res.stderr.decode(errors='replace').strip()[:4000]}")
    return res.stdout
