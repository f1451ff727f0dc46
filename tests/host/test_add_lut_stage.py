"""The ADD/SUB table kernel's compile-time output stage (toolchain/ops/add.py, dsp_stage; runtime/add_s8_lut.c,
edgec_add_s8_lut_dsp): on random one-op models (scale ratios up to 100x, zero points at both ends, every fused
activation), whenever the compiler hands out a stage, the stage's arithmetic (SMMLAR, the sign term, ASR, SSAT and
the clamp, modelled here on Python integers) gives TFLite's requantization of every raw sum the two tables can
make: all 65,536 (q1, q2) pairs. The C kernel itself runs on the emulated cores in tests/board/test_add_lut.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from oneop import binary_model

from edgec import driver
from edgec.fixedpoint import multiply_by_quantized_multiplier
from edgec.ops import REGISTRY


def stage_requant(raw: np.ndarray, stage: np.ndarray) -> np.ndarray:
    """edgec_dsp_requant_k on int64 arrays, each instruction's 32-bit wraparound included"""
    _, m, rnd, pre, right = (int(v) for v in stage)

    def wrap(x):
        return ((x + 2**31) % 2**32) - 2**31

    a2 = wrap(raw << pre)
    smmlar = wrap(rnd + ((a2 * m + 2**31) >> 32))  # SMMLAR: (round 2^32 + a2 M + 2^31) >> 32
    t = wrap(smmlar + (raw >> 31))
    return np.clip(t >> right, -128, 127)


def test_the_stage_is_exact_wherever_the_compiler_uses_it(tmp_path: Path):
    rng = np.random.default_rng(7)
    grid = np.arange(-128, 128, dtype=np.int64)
    q1, q2 = np.repeat(grid, 256), np.tile(grid, 256)
    staged = 0
    for case in range(60):
        kind = ("ADD", "SUB")[case % 2]
        scales = tuple(float(s) for s in 10.0 ** rng.uniform(-3, 0, size=3))
        zps = [int(z) for z in rng.choice([-128, 127, *rng.integers(-128, 128, size=4)], size=3)]
        act = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")[case % 4]
        path = tmp_path / f"m{case}.tflite"
        path.write_bytes(binary_model(kind, (2, 3), (2, 3), scales, act, zero_points=zps, seed=case))
        g = driver.compile_model(path).graph
        op = next(o for o in g.ops if o.type in ("add", "sub"))
        impl = REGISTRY[op.type]
        stage = impl.dsp_stage(op)
        if stage is None:
            continue
        staged += 1
        p = op.params
        t1, t2 = (t.astype(np.int64) for t in impl.rescale_tables(op))
        raw = t1[q1 + 128] + t2[q2 + 128]
        want = np.clip(multiply_by_quantized_multiplier(raw, p["output_multiplier"], p["output_shift"])
                       + p["output_offset"], p["act_min"], p["act_max"])
        got = np.clip(stage_requant(raw, stage), p["act_min"], p["act_max"])
        assert np.array_equal(got, want), (case, kind, scales, zps, act, int(np.count_nonzero(got != want)))
    assert staged >= 40, staged  # the stage is the rule, not the exception
