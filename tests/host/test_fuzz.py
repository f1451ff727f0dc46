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
