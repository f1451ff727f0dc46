"""`--json` prints exactly one JSON object on stdout, on failure too (docs/cli.md, "--json"): an error object with
the exit code, the message and the stage that was running; `edgec test --json` whose outputs differ (exit 1)
prints the report once, with passed = false."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from run_cli import edgec

from edgec.errors import EXIT_BUDGET, EXIT_INPUT, EXIT_VALIDATION

DIGITS = Path(__file__).resolve().parents[2] / "examples" / "digits"


def one_json_object(stdout: str) -> dict:
    """stdout holds exactly one JSON object (one line) and nothing else."""
    lines = stdout.splitlines()
    assert len(lines) == 1, stdout
    data = json.loads(lines[0])
    assert isinstance(data, dict), data
    return data


def assert_json_error(res, code: int, stage: str | None, *needles: str) -> dict:
    assert res.returncode == code, (res.returncode, res.stderr, res.stdout)
    error = one_json_object(res.stdout)["error"]
    assert set(error) == {"exit_code", "message", "stage"}, error
    assert error["exit_code"] == code and error["stage"] == stage, error
    for n in needles:
        assert n in error["message"], error
    assert "Traceback" not in res.stderr and error["message"] in res.stderr  # stderr still has the message
    return error


def test_build_json_on_a_missing_model(tmp_path):
    assert_json_error(edgec("build", tmp_path / "none.tflite", "--out", tmp_path / "out", "--json"), EXIT_INPUT,
                      "import", "no such model file")


def test_build_json_when_it_does_not_fit(tmp_path):
    res = edgec("build", DIGITS / "digits_cnn_int8.tflite", "--sram-budget", "64", "--out", tmp_path / "out",
                "--json")
    assert_json_error(res, EXIT_BUDGET, "search patch-based schedules (MAC overhead cap 20 %)", "does not fit")
    assert not (tmp_path / "out").exists()


def test_build_json_on_a_usage_error(tmp_path):
    res = edgec("build", DIGITS / "digits_cnn_int8.tflite", "--sram-budget", "inf", "--json")
    assert_json_error(res, EXIT_INPUT, None, "--sram-budget")


def test_test_json_on_bad_inputs(tmp_path):
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 5), np.float32))
    res = edgec("test", DIGITS / "digits_cnn_int8.tflite", "--inputs", tmp_path / "bad.npz",
                "--out", tmp_path / "out", "--json")
    assert_json_error(res, EXIT_INPUT, f"read the test inputs {tmp_path / 'bad.npz'}", "do not fit input")


def test_report_json_on_a_folder_without_report(tmp_path):
    assert_json_error(edgec("report", tmp_path, "--json"), EXIT_INPUT, None, "no report.json")


def test_test_json_when_outputs_differ(tmp_path):
    """A calibration in the wrong units (x 1e-3): the C equals TFLM at 0 LSB but not the float model: exit 1, and
    stdout is the report, once, with passed = false and the reason."""
    calib = np.load(DIGITS / "digits_calib.npz")
    key = next(k for k in calib.files if k != "labels")
    np.savez(tmp_path / "milli.npz", **{key: calib[key] * 1e-3})
    res = edgec("test", DIGITS / "digits_cnn.onnx", "--calib", tmp_path / "milli.npz",
                "--inputs", DIGITS / "digits_test_float.npz", "--samples", "60", "--out", tmp_path / "out", "--json")
    assert res.returncode == EXIT_VALIDATION, res.stderr
    report = one_json_object(res.stdout)
    t = report["test"]
    assert t["passed"] is False and t["max_abs_diff_lsb"] == 0, t
    assert len(t["failures"]) == 1 and "disagrees with the float model" in t["failures"][0], t["failures"]


def test_internal_error_and_interrupt_with_json(capsys):
    """The paths no input should reach (a bug: exit 5; Ctrl-C: 130) keep the one-object promise too."""
    import pytest

    from edgec.cli import Stages, run_guarded

    def bug():
        stages("plan memory (layer by layer)")
        raise RuntimeError("a bug")

    def interrupted():
        raise KeyboardInterrupt

    for body, code, needle in [(bug, 5, "internal error: RuntimeError: a bug"), (interrupted, 130, "interrupted")]:
        stages = Stages(quiet=True)
        with pytest.raises(SystemExit) as exit_:
            run_guarded(body, debug=False, stages=stages, as_json=True)
        assert exit_.value.code == code
        error = one_json_object(capsys.readouterr().out)["error"]
        assert error["exit_code"] == code and needle in error["message"], error
        assert error["stage"] == ("plan memory (layer by layer)" if body is bug else None), error
