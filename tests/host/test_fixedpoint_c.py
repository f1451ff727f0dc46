"""runtime/edgec_fixedpoint.h (C) and toolchain/fixedpoint.py (numpy) agree exactly on 100k random values,
compiled with -fsanitize=undefined so that no shift or overflow in the C relies on undefined behaviour."""

import subprocess
from importlib import resources
from pathlib import Path

import numpy as np

from edgec.fixedpoint import INT32_MAX, INT32_MIN, multiply_by_quantized_multiplier, rounding_divide_by_pot, srdhm
from edgec.host import find_cc

PROGRAM = r"""
#include <stdio.h>
#include <stdint.h>
#include "edgec_fixedpoint.h"

/* stdin: records of int32 (a, b, exponent, shift); stdout: int32 (srdhm(a,b), rdbpot(a,exponent), mbqm(a,b,shift)) */
int main(void) {
    int32_t in[4];
    while (fread(in, sizeof in, 1, stdin) == 1) {
        int32_t out[3];
        out[0] = edgec_srdhm(in[0], in[1]);
        out[1] = edgec_rounding_divide_by_pot(in[0], (int)in[2]);
        out[2] = edgec_mbqm(in[0], in[1], (int)in[3]);
        fwrite(out, sizeof out, 1, stdout);
    }
    return 0;
}
"""


def test_c_matches_numpy(tmp_path: Path):
    (tmp_path / "fp.c").write_text(PROGRAM)
    with resources.as_file(resources.files("edgec.runtime") / "edgec_fixedpoint.h") as header:
        include = str(Path(header).parent)
    exe = tmp_path / "fp"
    subprocess.run([find_cc(), "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-fsanitize=undefined",
                    "-fno-sanitize-recover=all", "-I", include, "-o", str(exe), str(tmp_path / "fp.c")], check=True)

    n = 100_000
    rng = np.random.default_rng(2024)
    a = rng.integers(INT32_MIN, INT32_MAX, size=n, endpoint=True)
    b = rng.integers(INT32_MIN, INT32_MAX, size=n, endpoint=True)
    # quantized multipliers live in [2^30, 2^31) (or 0): make most of them so, and small values common
    b[: n // 2] = rng.integers(1 << 30, INT32_MAX, size=n // 2, endpoint=True)
    a[n // 4: n // 2] = rng.integers(-70000, 70000, size=n // 4)
    edges = np.array([INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX, 1 << 30, -(1 << 30)])
    a[:64], b[:64] = np.repeat(edges, 8), np.tile(edges, 8)
    exponent = rng.integers(0, 32, size=n)
    shift = rng.integers(-31, 31, size=n)
    payload = np.stack([a, b, exponent, shift], axis=1).astype("<i4").tobytes()
    res = subprocess.run([str(exe)], input=payload, capture_output=True, check=True)
    out = np.frombuffer(res.stdout, dtype="<i4").reshape(n, 3).astype(np.int64)

    wanted = [("srdhm", srdhm(a, b)), ("rounding_divide_by_pot", rounding_divide_by_pot(a, exponent)),
              ("mbqm", multiply_by_quantized_multiplier(a, b, shift))]
    for k, (name, want) in enumerate(wanted):
        bad = np.flatnonzero(out[:, k] != want)
        assert bad.size == 0, (f"{name}: {bad.size} of {n} differ, first at a={a[bad[0]]} b={b[bad[0]]} "
                               f"exponent={exponent[bad[0]]} shift={shift[bad[0]]}: "
                               f"C {out[bad[0], k]}, numpy {want[bad[0]]}")
