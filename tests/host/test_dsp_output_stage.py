"""runtime/edgec_dsp_out.h (the DSP kernels' compile-time output stage: LSL, SMMLAR, ADD of the sign, ASR, SSAT)
gives TFLite's requantization (edgec_fixedpoint.h's MBQM, the portable kernels' own) exactly, wherever
toolchain/ops/int8_common.py's dsp_output_stage admits it: every right shift e = 1..31 (a left shift has e = 0,
which the stage refuses), the multipliers' extremes (0, 2^30, 2^31 - 1) and random ones, output zero points at
the int8 ends, and accumulators at the admitted bound, around zero, on the ties of both roundings (SRDHM's half
and RDBPOT's half, both signs, +-2) and at random: millions of comparisons, through the C model of SMMLAR and
under ASan/UBSan. The same stage on the emulated cores (the real SMMLAR and SSAT) is checked by
tests/board/test_fast_kernels_harness.py."""

from __future__ import annotations

import subprocess

from c_driver import build_sanitized

DRIVER = r"""
#include <stdio.h>
#include "edgec_dsp_out.h"
#include "edgec_fixedpoint.h"

static uint32_t state = 12345;
static uint32_t next(void) { state ^= state << 13; state ^= state >> 17; state ^= state << 5; return state; }

/* dsp_output_stage's rule: the largest accumulator bound it admits for (m, left, e, zp), 0 if none */
static int64_t admitted_bound(int64_t m, int left, int e, int32_t zp) {
    int64_t bound = (int64_t)INT32_MAX >> (left + 1);
    const int64_t rnd = ((int64_t)1 << (e - 1)) + (int64_t)zp * ((int64_t)1 << e);
    while (bound > 0 && (rnd < 0 ? -rnd : rnd) + (((bound << left) * m + ((int64_t)1 << 30)) >> 31) + 2 > INT32_MAX)
        bound >>= 1;
    return bound;
}

static uint64_t checks, mismatches;
static void check(int32_t acc, const int32_t *row, int32_t m, int shift, int32_t zp) {
    const int32_t want = edgec_clamp(edgec_mbqm(acc, m, shift) + zp, -128, 127);
    const int32_t got = edgec_dsp_requant(acc, row);
    checks++;
    if (got != want && mismatches++ < 10)
        printf("acc=%d m=%d shift=%d zp=%d: mbqm %d, stage %d\n", acc, m, shift, zp, want, got);
}

int main(void) {
    const int32_t zps[] = {-128, 127, 0, -5, 96};
    /* shift = -e (e >= 1): a left shift means e = 0, which dsp_output_stage refuses, so pre is always 1 */
    for (int e = 1; e <= 31; e++) {
        for (int mi = 0; mi < 8; mi++) {
            const int32_t m = mi == 0 ? 0 : mi == 1 ? (1 << 30) : mi == 2 ? INT32_MAX
                            : (int32_t)((1u << 30) + (next() >> 2));
            for (int zi = 0; zi < 5; zi++) {
                const int32_t zp = zps[zi];
                const int64_t bound = admitted_bound(m, 0, e, zp);
                if (bound == 0) continue;
                const int32_t row[EDGEC_DSP_OUT_WORDS] = {
                    0, m, (int32_t)(((int64_t)1 << (e - 1)) + (int64_t)zp * ((int64_t)1 << e)), 1, e};
                const int32_t b = (int32_t)bound;
                const int32_t edges[] = {0, 1, -1, 2, -2, b, -b, b - 1, -b + 1, b / 2, -b / 2};
                for (int k = 0; k < 11; k++) check(edges[k], row, m, -e, zp);
                for (int k = 0; k < 3000; k++) {
                    const int32_t acc = (int32_t)((int64_t)(next() % (2 * (uint32_t)b + 1)) - b);
                    check(acc, row, m, -e, zp);
                    check(acc >> (next() % 24), row, m, -e, zp); /* small ones too */
                }
                if (m == 0) continue;
                /* ties: accumulators whose product lands on SRDHM's half (a m = (2j + 1) 2^30) or on RDBPOT's
                 * half (SRDHM = (2j + 1) 2^(e-1)), both signs, +-2 around */
                for (int k = 0; k < 400; k++) {
                    const int64_t s = (((int64_t)(next() % 4096) * 2 + 1) << (e - 1)) % ((int64_t)b + 1);
                    const int64_t target = k % 2 ? s : (int64_t)(next() % 65536) * 2 + 1;
                    const int64_t centre = k % 2 ? (target << 31) / m : (target << 30) / m;
                    for (int64_t d = -2; d <= 2; d++) {
                        const int64_t a = centre + d;
                        if (a <= b && a >= -(int64_t)b) {
                            check((int32_t)a, row, m, -e, zp);
                            check((int32_t)-a, row, m, -e, zp);
                        }
                    }
                }
            }
        }
    }
    printf("checks=%llu mismatches=%llu\n", (unsigned long long)checks, (unsigned long long)mismatches);
    return mismatches != 0;
}
"""


def test_stage_equals_mbqm_over_shifts_multipliers_and_edges(tmp_path):
    exe = build_sanitized(tmp_path, DRIVER, ["conv2d_s8"])
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    checks = int(run.stdout.split("checks=")[1].split()[0])
    assert checks > 2_000_000 and "mismatches=0" in run.stdout, run.stdout[-2000:]
