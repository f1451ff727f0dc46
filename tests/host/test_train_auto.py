"""`edgec train --scheme auto` end to end on the host (toolchain/train/search.py, docs/training.md "--scheme auto"):
on a conv -> depthwise -> pointwise -> mean -> FC net and data whose labels a fixed random projection of each
image's colour decides, the search trains more than the head when the budget allows, only ever chooses a scheme
whose whole plan fits, writes what docs/output.md says, and exits 3 when not even the head fits."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from run_cli import assert_error, edgec
from small_models import patch_stage_net

OUTPUT_MD = Path(__file__).resolve().parents[2] / "docs" / "output.md"


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("auto")
    model = tmp / "net.tflite"
    model.write_bytes(patch_stage_net())
    rng = np.random.default_rng(0)
    n = 64
    colour = rng.uniform(-1, 1, (n, 3))
    x = ((colour[:, None, None, None, :] + rng.normal(0, 0.5, (n, 1, 32, 32, 3))) * 0.8).astype(np.float32)
    labels = np.argmax(colour @ np.random.default_rng(7).normal(size=(3, 4)), axis=1)  # learnable from the colour
    np.savez(tmp / "d.npz", x=x, labels=labels)
    return model, tmp


def auto(net, budget: int, out: str, *extra):
    model, tmp = net
    return edgec("train", model, "--data", tmp / "d.npz", "--scheme", "auto", "--classes", "4", "--lr", "0.05",
                 "--search-samples", "48", "--search-time", "60", "--sram-budget", str(budget), "--out", tmp / out,
                 *extra, timeout=300)


def test_auto_trains_more_than_the_head_within_the_budget(net):
    budget = 60_000
    res = auto(net, budget, "fits", "--json")
    assert res.returncode == 0, res.stderr
    t = json.loads(res.stdout)["training"]
    s = t["search"]
    assert t["scheme"] == "auto" and s["budget_bytes"] == budget
    assert s["head_only_bytes"] < budget
    cands = s["candidates"]
    assert {c["group"] for c in cands} >= {"bias"} and len(cands) == 3 + 4 + 4 + 3  # K=3; conv0 has 3 channels
    # every candidate planned; those over the budget alone are never run
    for c in cands:
        assert c["total_bytes"] > 0 and c["marginal_bytes"] == c["total_bytes"] - s["head_only_bytes"]
        if c["total_bytes"] > budget:
            assert c["status"] == "does not fit alone" and c["gain"] is None
        else:
            assert c["status"] == "measured" and c["gain"] is not None, c
    assert any(c["status"] == "does not fit alone" for c in cands), "the budget should exclude something"
    # more than the head: the chosen scheme trains some layer, and its whole plan fits
    chosen = s["chosen"]
    assert chosen["layers"] and chosen["estimated_gain"] > 0
    assert t["trained_layers"] == chosen["layers"]
    assert chosen["planned_bytes"] <= budget and t["memory"]["total_bytes"] == chosen["planned_bytes"]
    # the knapsack is at least as good as any single measured choice that fits with a unit to spare
    singles = [c["gain"] for c in cands if c["status"] == "measured" and c["total_bytes"] + s["unit_bytes"] <= budget]
    assert chosen["estimated_gain"] >= max(singles) - 1e-12
    for tried in s["solutions_tried"]:
        assert tried["fits"] == (tried["planned_bytes"] <= budget)
    assert s["solutions_tried"][-1]["fits"] and s["solutions_tried"][-1]["planned_bytes"] == chosen["planned_bytes"]
    assert t["numpy_check"]["passed"]
    # every key the search writes is documented
    page = OUTPUT_MD.read_text()
    names = set(re.findall(r"`([^`\n]+)`", page))
    keys = set(s) | {k for c in cands for k in c} | set(chosen) | {k for tr in s["solutions_tried"] for k in tr}
    assert not keys - names, f"undocumented training.search keys: {sorted(keys - names)}"


def test_auto_nothing_fits_exits_3(net):
    model, tmp = net
    res = auto(net, 10_000, "none")
    assert_error(res, 3, "--scheme auto", "not even the head", "budget is 10,000 B", "pass")
    assert not (tmp / "none").exists()
