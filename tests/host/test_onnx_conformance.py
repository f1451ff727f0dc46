"""ONNX backend node tests (regenerated from the onnx wheel) and the pytorch-converted depthwise cases, through
edgec's float path, against tests/onnx_conformance.toml (tests/onnx_node_tests.py writes both)."""

from __future__ import annotations

import pytest
from onnx_node_tests import case_dirs, read_list, run_case

from edgec.importers.onnx import IMPORTERS

LISTED = read_list()
PASSING = sorted(k for k, v in LISTED.items() if v["status"] == "pass")
EXCLUDED = sorted(k for k, v in LISTED.items() if v["status"] != "pass")
WITH_C = sorted(k for k, v in LISTED.items() if v.get("c"))
#: ops with no passing node test, and why
NO_PASSING_CASE = {
    "QLinearConv": "its one node test has uint8 weights with a non-zero zero point; edgec's int8 ops take "
                   "symmetric int8 weights (TFLite's convention)",
    "QLinearMatMul": "its node tests use uint8 or asymmetric weights, or 3-D B",
}


@pytest.fixture(scope="module")
def dirs():
    return case_dirs()


def test_the_list_covers_every_generated_case(dirs):
    assert sorted(dirs) == sorted(LISTED), "regenerate the list: python tests/onnx_node_tests.py"


def test_every_mapped_op_has_a_passing_case():
    passing_ops = {LISTED[k]["op"] for k in PASSING}
    missing = sorted(set(IMPORTERS) - passing_ops - set(NO_PASSING_CASE))
    assert not missing, f"ops without a passing conformance case: {missing}"
    depthwise = [k for k in PASSING if k.startswith("pytorch-converted/test_Conv2d_depthwise")]
    assert len(depthwise) == 4


@pytest.mark.parametrize("name", PASSING)
def test_listed_case_passes(dirs, name):
    ok, reason = run_case(dirs[name])
    assert ok, f"{name}: {reason}"


@pytest.mark.parametrize("name", EXCLUDED)
def test_excluded_case_still_fails(dirs, name):
    ok, _ = run_case(dirs[name])
    assert not ok, f"{name} passes now: regenerate the list (python tests/onnx_node_tests.py)"


@pytest.mark.parametrize("name", WITH_C)
def test_generated_c(dirs, name, tmp_path):
    ok, reason = run_case(dirs[name], with_c=True, tmp=tmp_path)
    assert ok, f"{name}: {reason}"
