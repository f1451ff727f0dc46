"""runtime/edgec_param_store.c on the host under ASan/UBSan (tests/host/param_store_driver.c): thousands of saves
cut by a power loss at a random erase or program operation (a torn last write), each followed by a reboot that
must load the last complete save, never anything else; every single-bit corruption of the newest slot falls back
to the older one; erased flash, garbage, another model's layout and another format version load nothing."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
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


def test_host_harness_resumes_from_its_flash_file(tmp_path):
    """`./model N FLASH` (the host harness of a training graph, under ASan/UBSan): a second run starts from the
    parameters the first one saved, and continues exactly as the numpy reference does from them."""
    from small_models import patch_stage_net

    from edgec import host
    from edgec.codegen import emit_c
    from edgec.driver import compile_model
    from edgec.memory import plan_memory
    from edgec.train.graph import TrainingOptions, build_training_graph, find_head
    from edgec.train.run import TrainState, split_training_outputs, train_step
    from edgec.train.scheme import parse_scheme
    from edgec.verifier import verify

    model = tmp_path / "net.tflite"
    model.write_bytes(patch_stage_net())
    g = compile_model(model, "host", patch=False).graph
    head, _ = find_head(g)
    tg = verify(build_training_graph(g, parse_scheme("head", g, head), TrainingOptions(lr=0.05)))
    out = tmp_path / "c"
    exe = host.build(out, emit_c(tg, plan_memory(tg), out), sanitize=True)
    rng = np.random.default_rng(1)
    runs = [[[rng.integers(-128, 128, (1, 32, 32, 3)).astype(np.int8), np.array([k % 4], np.int32)]
             for k in range(3)] for _ in range(2)]
    flash = tmp_path / "params.flash"
    state = TrainState.of(tg)
    for records in runs:
        payload = b"".join(x.tobytes() for r in records for x in r)
        res = subprocess.run([str(exe), str(len(records)), str(flash)], input=payload, capture_output=True,
                             timeout=120)
        assert res.returncode == 0, res.stderr.decode()
        _, _, params = split_training_outputs(res.stdout, tg, len(records))
        for x, label in records:
            train_step(tg, state, x, int(label[0]))
        for name, value in params.items():
            assert np.array_equal(state.params[name].view(np.uint8), value.view(np.uint8)), name
    # without the file, the run starts from the compiled-in values again: a different result
    _, _, fresh = split_training_outputs(host.run(exe, runs[1]), tg, len(runs[1]))
    assert any(not np.array_equal(fresh[n], params[n]) for n in params)
    assert flash.stat().st_size == 2048  # two 1 KiB slots (400 B of parameters each)
