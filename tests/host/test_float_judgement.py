"""No PASS on garbage: when edgec quantized the model, `edgec test` also judges the int8 C against the float model
on the same inputs (cosine, top-1 agreement; bounds in docs/quantization.md) and fails with the reason even when
the C equals TFLM bit for bit (TFLM runs edgec's own export, so it shares any quantization mistake)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from run_cli import edgec

from edgec import validate
from edgec.errors import EXIT_VALIDATION

DIGITS = Path(__file__).resolve().parents[2] / "examples" / "digits"
ONNX = DIGITS / "digits_cnn.onnx"
TEST = DIGITS / "digits_test_float.npz"


def _calibration(tmp_path: Path, transform) -> Path:
    calib = np.load(DIGITS / "digits_calib.npz")
    key = next(k for k in calib.files if k != "labels")
    path = tmp_path / "calib.npz"
    np.savez(path, **{key: transform(calib[key])})
    return path


def test_a_good_quantization_passes_with_its_figures(tmp_path):
    res = edgec("test", ONNX, "--calib", DIGITS / "digits_calib.npz", "--inputs", TEST, "--out", tmp_path / "out",
                "--json")
    assert res.returncode == 0, res.stderr
    t = json.loads(res.stdout)["test"]
    f = t["float_model"]
    assert t["passed"] and t["failures"] == [] and f["passed"] and f["inputs"] == "given", f
    assert f["min_cosine"] == validate.MIN_FLOAT_COSINE and f["min_top1_agreement"] == validate.MIN_FLOAT_TOP1
    assert f["cosine"] > 0.999 and f["top1_agreement"] > 0.99, f  # measured 0.9998 and 0.9944 (360 digits)
    assert t["rows"][1]["cosine"] == f["cosine"]
    assert "against the float model: cosine" in res.stderr


def test_random_vectors_are_judged_on_cosine_only(tmp_path):
    res = edgec("test", ONNX, "--calib", DIGITS / "digits_calib.npz", "--samples", "20", "--out", tmp_path / "out",
                "--json")
    assert res.returncode == 0, res.stderr
    f = json.loads(res.stdout)["test"]["float_model"]
    assert f["inputs"] == "random" and f["min_cosine"] == validate.MIN_FLOAT_COSINE_RANDOM
    assert f["min_top1_agreement"] is None and f["cosine"] > 0.99, f


def test_a_calibration_in_the_wrong_units_fails(tmp_path):
    """Calibrated on the digits x 1e-3 (pixels in the wrong units), tested on the real digits: every input
    saturates, the int8 C equals TFLM at 0 LSB, and the float model disagrees (measured cosine 0.10)."""
    res = edgec("test", ONNX, "--calib", _calibration(tmp_path, lambda x: x * 1e-3), "--inputs", TEST,
                "--samples", "60", "--out", tmp_path / "out")
    assert res.returncode == EXIT_VALIDATION, res.stderr
    assert "Traceback" not in res.stderr
    fail = next(line for line in res.stderr.splitlines() if "disagrees with the float model" in line)
    assert "equals TFLM bit for bit" in fail and "cosine" in fail and "< 0.9" in fail, fail
    assert "FAIL: max |diff| 0 LSB" in res.stderr


def test_maxpool_padding_never_passes_as_garbage(tmp_path):
    """MaxPool with asymmetric pads: its -FLT_MAX padding once entered calibration (activation scales of 1.3e36,
    10 % accuracy on the digits, yet 0 LSB against TFLM on edgec's export). Whatever the quantizer does with it,
    `edgec test` must not pass with that accuracy: it either quantizes well or fails on the float model. Quantizing
    well means agreeing with the float model, not a high accuracy: with these pads the float network itself scores
    about 30 % on the digits (onnxruntime), so the int8 C must make the float model's choices."""
    m = onnx.load(ONNX)
    pool = next(n for n in m.graph.node if n.op_type == "MaxPool")
    next(a for a in pool.attribute if a.name == "pads").ints[:] = [1, 1, 0, 0]
    onnx.save(m, tmp_path / "asym.onnx")
    res = edgec("test", tmp_path / "asym.onnx", "--calib", DIGITS / "digits_calib.npz", "--inputs", TEST,
                "--out", tmp_path / "out", "--json")
    assert res.returncode in (0, EXIT_VALIDATION), res.stderr
    t = json.loads(res.stdout)["test"]
    if res.returncode == 0:
        assert t["float_model"]["cosine"] > 0.99 and t["float_model"]["top1_agreement"] > 0.95, t
    else:
        assert not t["passed"] and "disagrees with the float model" in t["failures"][-1], t
