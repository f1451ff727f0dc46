#!/usr/bin/env bash
# Install edgec with its test dependencies into .venv and run the whole test suite on 2 workers.
# Extra arguments go to pytest (e.g. ./run_tests.sh tests/unit -x).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[dev]"
.venv/bin/ruff check toolchain tests bench examples
.venv/bin/mypy toolchain
set +e
.venv/bin/python -m pytest -n "${EDGEC_TEST_WORKERS:-2}" -q "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    exit 1
fi
exit "$status"
