"""runtime/edgec_param_store.c on the host under ASan/UBSan (tests/host/param_store_driver.c): thousands of saves
cut by a power loss at a random erase or program operation (a torn last write), each followed by a reboot that
must load the last complete save, never anything else; every single-bit corruption of the newest slot falls back
to the older one; erased flash, garbage, another model's layout and another format version load nothing."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from c_driver import build_sanitized

DRIVER = Path(__file__).with_name("param_store_driver.c")


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> Path:
    return build_sanitized(tmp_path_factory.mktemp("store"), DRIVER.read_text(), ["edgec_param_store"])


def run(driver: Path, *args: str) -> dict[str, int]:
    res = subprocess.run([str(driver), *args], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", res.stdout)}


@pytest.mark.parametrize("seed, start", [(1, "1"), (2, "0xFFFFFFF0")], ids=["from-1", "wrapping"])
def test_random_power_cuts(driver, seed, start):
    c = run(driver, "cuts", "4000", str(seed), start)
    assert c["cuts"] + c["complete"] == 4000
    assert c["cuts"] >= 2500  # 3 saves in 4 are cut, at one of the save's operations
    assert c["save_ops"] == 36  # 4 erase chunks + 32 program rows: every cut point is reachable
    # every reboot loaded the last complete save (or, rarely, the new one whose last row landed whole)
    assert c["loaded_last"] + c["loaded_new"] + c["loaded_initial"] == 4000
    assert c["loaded_last"] > 3000 and c["loaded_initial"] < 10
    if start != "1":
        assert c["wraps"] >= 1  # the sequence went 0xFFFFFFFF -> 0 and the newer slot still won


def test_every_bit_flip_falls_back(driver):
    assert run(driver, "flips")["flips"] == (32 + 220) * 8


def test_edge_cases(driver):
    res = subprocess.run([str(driver), "edge"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "edge=ok" in res.stdout, res.stdout + res.stderr
