"""A C test driver compiled with runtime kernels under ASan/UBSan, for the tests that compare kernels directly."""

from __future__ import annotations

import subprocess
from importlib import resources
from pathlib import Path

from edgec.host import find_cc

STRICT_SANITIZED = ["-std=c99", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-fsanitize=address,undefined",
                    "-fno-sanitize-recover=all"]


def build_sanitized(folder: Path, source: str, kernels: list[str], name: str = "driver",
                    flags: tuple[str, ...] = ()) -> Path:
    """Compile `source` with runtime/<kernel>.c for each kernel (headers from runtime/), with STRICT_SANITIZED and
    `flags`; returns the executable."""
    with resources.as_file(resources.files("edgec.runtime") / f"{kernels[0]}.c") as first:
        runtime = Path(first).parent
    (folder / f"{name}.c").write_text(source)
    exe = folder / name
    subprocess.run([find_cc(), *STRICT_SANITIZED, *flags, "-I", str(runtime), "-o", str(exe), str(folder / f"{name}.c"),
                    *[str(runtime / f"{k}.c") for k in kernels]], check=True)
    return exe
