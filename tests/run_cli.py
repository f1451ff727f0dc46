"""Test helper: run the real `edgec` command line in a subprocess and check an error the way a user sees it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def edgec(*args, env: dict | None = None, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run([sys.executable, "-m", "edgec.cli", *map(str, args)], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)


def assert_error(res: subprocess.CompletedProcess, code: int, *needles: str) -> str:
    """Exit `code`, one `error:` message on stderr naming every needle, no traceback, nothing on stdout."""
    msg = res.stderr
    assert res.returncode == code, f"exit {res.returncode}, expected {code}\nstderr:\n{msg}\nstdout:\n{res.stdout}"
    assert "Traceback" not in msg and "internal error" not in msg, msg
    assert msg.count("error:") == 1, msg
    assert res.stdout == "", res.stdout
    for n in needles:
        assert n.lower() in msg.lower(), f"{n!r} not in:\n{msg}"
    return msg
