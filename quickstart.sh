#!/usr/bin/env bash
# Fresh machine -> the main job on the bundled model: install edgec into .venv, compile the bundled digits CNN
# to C, build it with the host gcc, run it on the bundled test digits and compare with TFLite Micro bit for bit.
# Needs only Python >= 3.11 and gcc. (Cortex-M boards arrive with the boards issue; until then: the host target.)
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e . 
.venv/bin/edgec test examples/digits/digits_cnn_int8.tflite --inputs examples/digits/digits_test.npz \
    --out build/digits "$@"
echo "generated C: build/digits/ (model.c, model.h, weights.c, runtime/, Makefile); report: build/digits/report.md"
