"""A short seeded fuzzing run (docs/fuzzing.md): a few hundred mutants of small seed models through `edgec build`,
in-process in two long-lived workers. Every outcome must be an exit code of the CLI contract: no internal error
(exit 5 or a traceback), no hang, no crash, and the C of mutants that build is clean under ASan+UBSan. The long
run is bench/fuzz.py (bench/results/fuzz.md)."""

from __future__ import annotations

from collections import Counter

import onnx
import pytest
from fuzzing.mutators import mutate
from fuzzing.runner import Outcome, Pool, tasks
from fuzzing.seeds import build_seeds

SEEDS = ["digits_cnn_int8", "conv_dw_pool_fc", "fc_only", "digits_cnn", "small_cnn"]
MUTANTS = 240
RUN_SEED = 13
SANITIZED_BUILDS = 8  # distinct generated C run under ASan+UBSan (each compile takes seconds)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    return build_seeds(tmp_path_factory.mktemp("fuzz-seeds"), SEEDS)


def test_mutants_are_reproducible_and_schema_mutants_still_parse(seeds):
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as tfl

    for seed in seeds:
        mutants = [mutate(seed.data, seed.fmt, k) for k in range(40)]
        assert all(m.data == mutate(seed.data, seed.fmt, k).data for k, m in enumerate(mutants[:10]))
        assert len({m.data for m in mutants}) >= 35, f"{seed.name}: mutants repeat"
        assert sum(m.data == seed.data for m in mutants) <= 2, f"{seed.name}: edits that change nothing"
        schema = [m for m in mutants if m.family != "raw"]
        assert len(schema) >= 20, f"{seed.name}: {len(schema)} of 40 mutants are schema-aware"
        for m in schema:  # a schema-aware edit changes one field and keeps a well-formed file
            if seed.fmt == "tflite":
                assert tfl.ModelT.InitFromPackedBuf(m.data, 0).subgraphs is not None or "no subgraph" in m.steps[0]
            else:
                onnx.load_from_string(m.data)


def _report(findings: list[Outcome]) -> str:
    return "\n".join(f"{o.kind} / sanitizer {o.sanitizer}: `python bench/fuzz.py --reproduce {o.seed} "
                     f"{o.mutant_seed}` [{'; '.join(o.steps)}] {o.where} {o.message}\n{o.detail[-600:]}"
                     for o in findings)


def test_short_fuzzing_run(seeds, tmp_path):
    with Pool(seeds, tmp_path, workers=2, timeout=60, sanitize_limit=SANITIZED_BUILDS) as pool:
        outcomes = list(pool.run(tasks(seeds, MUTANTS, RUN_SEED)))
    assert len(outcomes) == MUTANTS
    findings = [o for o in outcomes if o.is_finding]
    assert not findings, f"{len(findings)} findings of {MUTANTS} mutants:\n{_report(findings)}"
    codes = Counter(o.code for o in outcomes)
    assert set(codes) <= {0, 1, 2, 3, 4}, codes
    # the run reached both ends: mutants refused with a message, and mutants built and run under the sanitizers
    assert codes[2] >= MUTANTS // 4 and codes[0] >= 10, codes
    assert sum(o.sanitizer == "clean" for o in outcomes) >= min(SANITIZED_BUILDS, codes[0]) // 2
    assert all(o.message for o in outcomes if o.code), [o for o in outcomes if o.code and not o.message][:3]
    assert {o.family for o in outcomes} == {"raw", "tflite", "onnx"}


# ---- the CLI's option values (hypothesis) -----------------------------------------------------------------------

EDGE_VALUES = ["0", "-1", "1", "2", "64k", "64KiB", "1.5MB", "1e309", "-1e309", "inf", "-inf", "nan", "1e-300", "",
               " ", "0x10", "1_000", "99999999999999999999999", "abc", "-0", "1,2,3", "0.5,nan", "1,,2", "x=1,2",
               "=", "x=0", "x=-1,3", "image=1,1,8,8", "image=1x1x8x8", "image=1,1,8,8,1", "3" * 400, "é", "\x00"]
BUILD_OPTIONS = ["--sram-budget", "--flash-budget", "--max-mac-overhead", "--board", "--calib-method", "--dtype",
                 "--calib-samples", "--mean", "--std", "--scale", "--input-shape"]
TEST_OPTIONS = ["--seed", "--tolerance", "--samples"]


def _values():
    from hypothesis import strategies as st

    return st.one_of(st.sampled_from(EDGE_VALUES), st.integers(-(2**70), 2**70).map(str),
                     st.floats(allow_nan=True, allow_infinity=True).map(repr),
                     st.text(max_size=12).filter(lambda s: "\x00" not in s))


def _assert_contract(args: list[str], run) -> None:
    shown = " ".join(repr(a) for a in args)
    assert not run.internal, f"edgec {shown}: internal error at {run.where}: {run.message}\n{run.detail[-1500:]}"
    assert run.code in (0, 1, 2, 3), f"edgec {shown}: exit {run.code}: {run.message}"
    assert run.code == 0 or run.message, f"edgec {shown}: exit {run.code} without a message"


@pytest.fixture(scope="module")
def option_models(tmp_path_factory):
    from fuzzing.seeds import build_seeds

    folder = tmp_path_factory.mktemp("option-models")
    return {s.name: s for s in build_seeds(folder, ["fc_only", "digits_cnn"])}, folder


def test_build_option_values(option_models):
    """Every value of every `edgec build` option is accepted or refused with a message (exit 2), never a traceback
    or exit 5; a float model (digits ONNX with its calibration data) takes the conversion options."""
    from fuzzing.runner import invoke_cli
    from hypothesis import HealthCheck, example, given, settings
    from hypothesis import strategies as st

    seeds, folder = option_models

    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(options=st.lists(st.tuples(st.sampled_from(BUILD_OPTIONS), _values()), min_size=1, max_size=2),
           float_model=st.booleans())
    @example(options=[("--sram-budget", "inf")], float_model=False)
    @example(options=[("--flash-budget", "1e309")], float_model=False)
    @example(options=[("--max-mac-overhead", "nan")], float_model=False)
    @example(options=[("--scale", "nan"), ("--calib-samples", "0")], float_model=True)
    def check(options, float_model):
        seed = seeds["digits_cnn" if float_model else "fc_only"]
        extra = ["--calib", str(seed.calib)] if float_model else []
        args = ["build", str(seed.path), "--out", str(folder / "out"), "--json", *extra,
                *[x for pair in options for x in pair]]
        _assert_contract(args, invoke_cli(args))

    check()


def test_test_option_values(option_models, tmp_path):
    """`edgec test`'s own options (random-input seed, tolerance, sample count) on the int8 model."""
    from fuzzing.runner import invoke_cli
    from hypothesis import HealthCheck, example, given, settings
    from hypothesis import strategies as st

    seeds, _ = option_models
    small = st.one_of(st.sampled_from(EDGE_VALUES), st.integers(-3, 3).map(str), st.text(max_size=6))

    @settings(max_examples=12, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(option=st.sampled_from(TEST_OPTIONS), value=small)
    @example(option="--seed", value="-1")
    @example(option="--tolerance", value="-1")
    def check(option, value):
        if option == "--samples" and value.strip().isdigit() and int(value) > 5:
            value = "5"  # a large sample count is a long run, not a bad value
        args = ["test", str(seeds["fc_only"].path), "--out", str(tmp_path / "out"), "--samples", "3",
                option, value]
        _assert_contract(args, invoke_cli(args))

    check()
