"""The mutation fuzzer of edgec's model importers and compile path (docs/fuzzing.md).

- `mutators`: mutants of .tflite and .onnx files (raw bytes and schema-aware field edits), each a pure function
  of (seed model, mutant seed);
- `seeds`: the seed models (the MLPerf Tiny int8 models the test suite reads, the bundled digits models, the small
  models the tests build);
- `runner`: a pool of long-lived workers that run `edgec build` in-process on every mutant, classify the outcome
  and run the C of the mutants that build under ASan/UBSan.

Used by tests/host/test_fuzz.py (a short seeded run) and bench/fuzz.py (the long run).
"""
