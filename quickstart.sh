#!/usr/bin/env bash
# Fresh machine -> the main job on the bundled model: install edgec into .venv, compile the bundled digits CNN
# to C, run it on the bundled test digits and compare with TFLite Micro bit for bit. With the ARM toolchain and
# QEMU present (apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm) it runs on an
# emulated NUCLEO-F746ZG (Cortex-M7) and reports flash, SRAM and instructions; otherwise on the host (gcc).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e .
BOARD=host
if command -v arm-none-eabi-gcc >/dev/null 2>&1 && command -v qemu-system-arm >/dev/null 2>&1; then
    BOARD=nucleo_f746zg
else
    echo "no arm-none-eabi-gcc/qemu-system-arm: running on the host target" >&2
fi
.venv/bin/edgec test examples/digits/digits_cnn_int8.tflite --inputs examples/digits/digits_test.npz \
    --board "$BOARD" --out build/digits "$@"
echo "generated C: build/digits/ (model.c, model.h, weights.c, runtime/, Makefile); report: build/digits/report.md"
