"""The command line's option domains: every out-of-domain value is a usage error (exit 2) naming the option, never a
traceback (exit 1) or an internal error (exit 5); a malformed report.json is exit 2 naming the file; `edgec boards`
shows whole board names at 80 columns and in a pipe. Option parsing runs in-process (click's CliRunner) so the
property test over arbitrary text stays within seconds; a few cases run the real command as a subprocess."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from run_cli import assert_error, edgec

from edgec.board import all_boards
from edgec.cli import main
from edgec.errors import EXIT_INPUT

MISSING_MODEL = "no_such_model.tflite"  # every value that parses fails fast on the model instead: exit 2


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=True)


BAD_VALUES = [
    ("test", "--seed", "-1"), ("test", "--seed", "1.5"),
    *[(cmd, opt, v) for cmd in ("build", "test") for opt in ("--sram-budget", "--flash-budget")
      for v in ("inf", "-inf", "1e309", "nan", "-1", "0", "0.1", "2T", "64q", "")],
    *[("build", "--max-mac-overhead", v) for v in ("nan", "inf", "-inf", "-1", "1001", "x")],
    *[("build", "--scale", v) for v in ("nan", "inf", "-inf", "0", "x")],
    *[("build", "--mean", v) for v in ("nan", "0.5,inf", "1,,2", "x")],
    *[("build", "--std", v) for v in ("nan", "inf", "0", "0.2,0", "x")],
    ("test", "--samples", "0"), ("test", "--samples", "-3"), ("test", "--samples", "100001"),
    ("flash", "--samples", "0"), ("test", "--tolerance", "-1"), ("build", "--calib-samples", "0"),
]


@pytest.mark.parametrize("command,option,value", BAD_VALUES)
def test_out_of_domain_values_are_usage_errors(command, option, value):
    extra = ["--board", "nucleo_f746zg"] if command == "flash" else []
    res = invoke(command, MISSING_MODEL, *extra, f"{option}={value}")
    assert res.exit_code == EXIT_INPUT, (res.exit_code, res.output, res.exception)
    assert option in res.output and "Traceback" not in res.output, res.output
    assert "no such model" not in res.output  # refused while parsing, before the model is read


@pytest.mark.parametrize("option,value", [("--sram-budget", "64k"), ("--sram-budget", "1.5M"),
                                          ("--flash-budget", "1_048_576"), ("--max-mac-overhead", "0"),
                                          ("--seed", "0"), ("--seed", str(2**70)), ("--scale", "-0.5"),
                                          ("--mean", "0.485,0.456,0.406"), ("--std", "-1")])
def test_in_domain_values_reach_the_model(option, value):
    res = invoke("test", MISSING_MODEL, f"{option}={value}")
    assert res.exit_code == EXIT_INPUT and "no such model file" in res.output, res.output


NUMERIC_OPTIONS = {"build": ["--sram-budget", "--flash-budget", "--max-mac-overhead", "--scale", "--mean", "--std",
                             "--calib-samples"],
                   "test": ["--seed", "--samples", "--tolerance", "--sram-budget", "--max-mac-overhead"]}
numeric_text = st.one_of(st.text(max_size=12), st.floats().map(repr), st.integers().map(str),
                         st.sampled_from(["inf", "-inf", "nan", "1e309", "-0", "0x10", "1e-400", "64k", "1.5M",
                                          "9" * 40]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(command=st.sampled_from(sorted(NUMERIC_OPTIONS)), data=st.data(), value=numeric_text)
def test_any_text_for_a_numeric_option_is_ok_or_a_usage_error(command, data, value):
    option = data.draw(st.sampled_from(NUMERIC_OPTIONS[command]))
    res = invoke(command, MISSING_MODEL, f"{option}={value}")
    assert res.exit_code == EXIT_INPUT, (option, value, res.exit_code, res.output, res.exception)
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert "Traceback" not in res.output and "internal error" not in res.output, res.output


@pytest.mark.parametrize("args,needle", [(["test", MISSING_MODEL, "--seed", "-1"], "--seed"),
                                         (["build", MISSING_MODEL, "--sram-budget", "inf"], "--sram-budget"),
                                         (["build", MISSING_MODEL, "--sram-budget", "1e309"], "--sram-budget"),
                                         (["build", MISSING_MODEL, "--max-mac-overhead", "nan"], "--max-mac-overhead")])
def test_through_the_real_command(args, needle):
    res = edgec(*args)
    assert res.returncode == EXIT_INPUT and needle in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and res.stdout == ""


# ---- a malformed report.json (edgec report DIR, edgec flash DIR) --------------------------------------------------

MALFORMED = {"not JSON": "{not json", "not an object": "[1, 2, 3]", "missing keys": '{"board": "nucleo_f746zg"}',
             "wrong type": json.dumps({"model": "m.tflite", "board": "nucleo_f746zg", "edgec_version": "0",
                                       "macs": "many", "arena_bytes": 1, "lower_bound_bytes": 1,
                                       "weights_bytes": 1, "layers": []}),
             "bad layers": json.dumps({"model": "m.tflite", "board": "nucleo_f746zg", "edgec_version": "0",
                                       "macs": 1, "arena_bytes": 1, "lower_bound_bytes": 1, "weights_bytes": 1,
                                       "layers": [{"name": "x"}]}),
             "not UTF-8": b"\xff\xfe{}"}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_report_json(tmp_path, case):
    content = MALFORMED[case]
    path = tmp_path / "report.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert_error(edgec("report", tmp_path), EXIT_INPUT, str(path))
    if case in ("not JSON", "not an object", "missing keys", "not UTF-8"):  # flash reads only board and model
        assert_error(edgec("flash", tmp_path, "--board", "nucleo_f746zg", "--emulate"), EXIT_INPUT, str(path))


def test_flash_with_a_wrongly_typed_board(tmp_path):
    (tmp_path / "report.json").write_text(json.dumps({"board": 7, "model": "m.tflite"}))
    assert_error(edgec("flash", tmp_path, "--board", "nucleo_f746zg", "--emulate"), EXIT_INPUT,
                 str(tmp_path / "report.json"), "`board`")


# ---- edgec boards: whole names at 80 columns and in a pipe ---------------------------------------------------------

@pytest.mark.parametrize("columns", ["80", None])
def test_boards_shows_whole_names(columns):
    env = {"COLUMNS": columns} if columns else {"COLUMNS": ""}
    res = edgec("boards", env=env)  # stdout is a pipe here
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80, res.stdout
    first_words = {line.split()[0] for line in lines if line.strip()}
    assert set(all_boards()) <= first_words, (set(all_boards()) - first_words, res.stdout)
    pico = next(line for line in lines if line.startswith("rpi_pico"))
    assert "cortex-m0plus" in pico.split(), pico  # the other columns are not cut either
