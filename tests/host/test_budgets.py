"""Budgets and the schedule choice through the real CLI: --sram-budget / --flash-budget,
--patch / --no-patch, exit 3 with the need, the budget, the peak layer and the best schedule, report.json keys and
`edgec report --html`."""

from __future__ import annotations

import json
import re

import click
import pytest
from run_cli import assert_error, edgec

from edgec.cli import ByteSize
from edgec.errors import EXIT_BUDGET


@pytest.mark.parametrize("text,value", [("65536", 65536), ("64k", 65536), ("64K", 65536), ("64KiB", 65536),
                                        ("1M", 1 << 20), ("1.5MB", 3 << 19), ("320_000", 320_000)])
def test_byte_sizes(text, value):
    assert ByteSize().convert(text, None, None) == value


@pytest.mark.parametrize("text", ["lots", "-4k", "0", "12q"])
def test_byte_sizes_refused(text):
    with pytest.raises(click.exceptions.BadParameter):
        ByteSize().convert(text, None, None)


def _need(msg: str) -> int:
    return int(re.search(r"need ([\d,]+) B", msg).group(1).replace(",", ""))


def test_sram_budget_too_small(tmp_path, shared_models):
    res = edgec("build", shared_models / "kws_ref_model.tflite", "--sram-budget", "8k", "--out", tmp_path / "out")
    msg = assert_error(res, EXIT_BUDGET, "need", "budget 8,192 B", "--sram-budget", "peak at layer",
                       "best schedule found")
    assert _need(msg) > 8192
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out*"))


def test_no_patch_budget_message_names_the_flag(tmp_path, shared_models):
    res = edgec("build", shared_models / "vww_96_int8.tflite", "--sram-budget", "30k", "--no-patch",
                "--out", tmp_path / "out")
    assert_error(res, EXIT_BUDGET, "need 55,296 B", "budget 30,720 B", "layer by layer", "--no-patch")


def test_flash_budget_on_host_counts_weights(tmp_path, shared_models):
    res = edgec("build", shared_models / "vww_96_int8.tflite", "--flash-budget", "100k", "--out", tmp_path / "out")
    msg = assert_error(res, EXIT_BUDGET, "flash budget", "budget 102,400 B", "largest weights")
    assert _need(msg) == 219_064  # the weights of vww_96_int8 (code is not counted on the host)


def test_budget_that_fits_reports_itself(tmp_path, shared_models):
    out = tmp_path / "out"
    res = edgec("build", shared_models / "kws_ref_model.tflite", "--sram-budget", "64k", "--flash-budget", "1M",
                "--out", out, "--json")
    assert res.returncode == 0, res.stderr
    r = json.loads(res.stdout)
    assert r["sram_budget_bytes"] == 65536 and r["flash_budget_bytes"] == 1 << 20
    assert r["arena_budget_bytes"] == 65536 and r["arena_bytes"] <= 65536
    assert r["schedule"] == "layer by layer" and "fits" in r["schedule_reason"]
    # TFLM measured in the same run, on the same model: edgec's arena is never above TFLM's total
    assert r["tflm_arena_bytes"]["total"] >= r["arena_bytes"] > 0
    assert r["lower_bound_bytes"] <= r["arena_bytes"]
    assert 0 < max(r["timeline"]["layer_by_layer"]) <= r["layer_arena_bytes"]


def test_patch_taken_only_when_layer_by_layer_does_not_fit(tmp_path, shared_models):
    """vww_96: layer by layer fits 64 KB, so the default keeps it; at 48 KB only a patch-based schedule fits."""
    model = shared_models / "vww_96_int8.tflite"
    fits = edgec("build", model, "--sram-budget", "64k", "--out", tmp_path / "a", "--json")
    assert fits.returncode == 0, fits.stderr
    r = json.loads(fits.stdout)
    assert r["schedule"] == "layer by layer" and r["patch"] is None
    tight = edgec("build", model, "--sram-budget", "48k", "--out", tmp_path / "b", "--json")
    if r.get("patched_arena_bytes") is None or r["patched_arena_bytes"] > 48 * 1024:
        assert_error(tight, EXIT_BUDGET, "need", "budget 49,152 B")
        return
    assert tight.returncode == 0, tight.stderr
    t = json.loads(tight.stdout)
    assert t["schedule"] == "patch-based" and t["arena_bytes"] <= 48 * 1024 < t["layer_arena_bytes"]
    assert t["patch"]["mac_overhead"] <= 0.20 and t["patch"]["grid"][0] >= 2
    assert "over the 49,152 B arena budget" in t["schedule_reason"]
    # each patch reads a window of the 96x96 input; together they cover it, overlapping by the halo
    windows = t["patch"]["patch_input_regions"]
    assert len(windows) == t["patch"]["patches"]
    assert all(h < 96 and w < 96 for _, _, h, w in windows)
    assert sum(h * w for _, _, h, w in windows) > 96 * 96


def test_report_html(tmp_path, shared_models):
    out = tmp_path / "vww"
    res = edgec("build", shared_models / "vww_96_int8.tflite", "--patch", "--out", out)
    assert res.returncode == 0, res.stderr
    res = edgec("report", out, "--html")
    assert res.returncode == 0, res.stderr
    page = (out / "report.html").read_text()
    r = json.loads((out / "report.json").read_text())
    assert page.count("data:image/png;base64,") == (2 if r["patch"] else 1)
    assert "memory timeline" in page and "TFLM arena" in page
    assert len(re.findall(r"<tr><td>\d+</td>", page)) == len(r["layers"])
