"""The training step's parameter update (runtime/edgec_train.h) equals its numpy twin (toolchain/train/update.py)
bit for bit on random and extreme steps (halves, NaN, infinities, -0, 1e30, saturation at both ends), under
UBSan with float-cast-overflow checks; stochastic rounding is unbiased where nearest rounding loses sub-LSB steps;
QAS factors freeze the channels whose scale or weights carry no information."""

from __future__ import annotations

import subprocess
from importlib import resources
from pathlib import Path

import numpy as np

from edgec.host import find_cc
from edgec.train import update

PROGRAM = r"""
#include <stdio.h>
#include <stdint.h>
#include "edgec_train.h"

/* stdin: uint32 seed, then records {int8 w, pad[3], float step, int32 b, int32 bmax, float bias_step};
 * stdout per record: int8 nearest, int8 stochastic, pad[2], int32 bias */
int main(void) {
    uint32_t state;
    if (fread(&state, 4, 1, stdin) != 1) return 2;
    struct { int8_t w, pad[3]; float step; int32_t b, bmax; float bias_step; } in;
    while (fread(&in, sizeof in, 1, stdin) == 1) {
        struct { int8_t nearest, stochastic, pad[2]; int32_t bias; } out = {0, 0, {0, 0}, 0};
        out.nearest = edgec_update_nearest(in.w, in.step);
        out.stochastic = edgec_update_stochastic(in.w, in.step, &state);
        out.bias = edgec_update_bias(in.b, in.bias_step, in.bmax);
        fwrite(&out, sizeof out, 1, stdout);
    }
    return 0;
}
"""
RECORD = np.dtype([("w", "i1"), ("pad", "i1", 3), ("step", "<f4"), ("b", "<i4"), ("bmax", "<i4"),
                   ("bias_step", "<f4")])
RESULT = np.dtype([("nearest", "i1"), ("stochastic", "i1"), ("pad", "i1", 2), ("bias", "<i4")])


def _run_c(tmp_path: Path, seed: int, records: np.ndarray) -> np.ndarray:
    (tmp_path / "t.c").write_text(PROGRAM)
    with resources.as_file(resources.files("edgec.runtime") / "edgec_train.h") as header:
        include = str(Path(header).parent)
    exe = tmp_path / "t"
    subprocess.run([find_cc(), "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off",
                    "-fsanitize=undefined,float-cast-overflow", "-fno-sanitize-recover=all", "-I", include,
                    "-o", str(exe), str(tmp_path / "t.c")], check=True)
    payload = np.array([seed], "<u4").tobytes() + records.tobytes()
    res = subprocess.run([str(exe)], input=payload, capture_output=True, check=True)
    assert res.stderr == b"", res.stderr
    return np.frombuffer(res.stdout, dtype=RESULT)


def test_c_equals_numpy(tmp_path):
    rng = np.random.default_rng(7)
    n = 20_000
    rec = np.zeros(n, RECORD)
    rec["w"] = rng.integers(-127, 128, n)
    steps = np.concatenate([rng.uniform(-3, 3, n // 2), rng.normal(0, 0.2, n // 4), rng.uniform(-400, 400, n // 4)])
    edges = np.array([0.5, -0.5, 1.5, -1.5, 2.5, -0.0, 0.0, np.nan, np.inf, -np.inf, 1e30, -1e30, 254.5, -255.5,
                      0.49999997, -0.49999997, 2.0**-30], np.float32)
    steps[: edges.size] = edges
    rec["step"] = steps.astype(np.float32)
    rec["w"][:4] = [127, -127, 127, -127]
    rec["bmax"] = rng.integers(1, 2**31 - 1, n)
    rec["b"] = (rng.uniform(-1, 1, n) * rec["bmax"]).astype(np.int32)
    rec["bias_step"] = np.concatenate([rng.normal(0, 1e3, n // 2), rng.uniform(-3e9, 3e9, n // 2)]).astype(np.float32)
    rec["bias_step"][: edges.size] = edges
    seed = 12345
    got = _run_c(tmp_path, seed, rec)
    np.testing.assert_array_equal(got["nearest"], update.update_nearest(rec["w"], rec["step"]))
    want_stochastic, _ = update.update_stochastic(rec["w"], rec["step"], seed)
    np.testing.assert_array_equal(got["stochastic"], want_stochastic)
    np.testing.assert_array_equal(got["bias"], update.update_bias(rec["b"], rec["bias_step"], rec["bmax"]))
    # saturation without wrap-around, and NaN as no step
    assert got["nearest"][edges.tolist().index(np.float32(1e30))] == 127
    assert got["nearest"][7] == rec["w"][7]  # the NaN step


def test_stochastic_rounding_keeps_sub_lsb_steps_on_average():
    """100,000 updates of 0.3 LSB from 0: nearest rounding never moves; stochastic moves 0.3 LSB on average."""
    w = np.zeros(100_000, np.int8)
    step = np.full(w.size, 0.3, np.float32)
    assert not update.update_nearest(w, step).any()
    moved, _ = update.update_stochastic(w, step, 99)
    assert abs(float(moved.mean()) - 0.3) < 0.01  # binomial sd 0.0014
    down, _ = update.update_stochastic(w, -step, 99)
    assert abs(float(down.mean()) + 0.3) < 0.01


def test_qas_factors_and_frozen_channels():
    weights = np.ones((4, 3, 3, 2), np.int8)
    weights[2] = 0  # a channel with no weights: frozen
    scales = np.array([0.02, 1e-30, 0.05, 0.1], np.float32)  # 1/s^2 of 1e-30 overflows float32: frozen
    kw, kb, frozen = update.qas_factors(scales, 0.5, weights)
    assert frozen.tolist() == [False, True, True, False]
    np.testing.assert_allclose(kw[[0, 3]], [1 / 0.02**2, 1 / 0.1**2], rtol=1e-6)
    np.testing.assert_allclose(kb[[0, 3]], [1 / (0.5 * 0.02) ** 2, 1 / (0.5 * 0.1) ** 2], rtol=1e-6)
    assert kw[1] == kw[2] == kb[1] == kb[2] == 0
