"""runtime/fully_connected_s8_dsp.c (the Cortex-M DSP fully connected kernel, here through edgec_acle.h's plain-C
models of SXTB16 and SMLAD and the kernel's own model of SXTAB16) writes the same bytes as the portable
runtime/fully_connected_s8.c on thousands of random layers: odd depths and output counts (tails of both 4-blocks),
batches, zero points at the int8 ends, per-tensor and per-channel multipliers with left shifts, both rounding modes,
fused-activation clamps, with and without bias. Compiled with ASan and UBSan and exact-size allocations, so a read
past the weights or the input fails the run too."""

from __future__ import annotations

import subprocess
from pathlib import Path

from c_driver import build_sanitized

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "fully_connected_s8.h"
#include "fully_connected_s8_dsp.h"

static uint32_t state;
static uint32_t next(void) { state ^= state << 13; state ^= state >> 17; state ^= state << 5; return state; }
static int32_t pick(int32_t lo, int32_t hi) { return lo + (int32_t)(next() % (uint32_t)(hi - lo + 1)); }
static int32_t pick_of(const int32_t *v, int n) { return v[next() % (uint32_t)n]; }
static const int32_t SIZES[] = {1, 2, 3, 4, 5, 7, 8, 12, 13, 16, 17, 33, 64, 67, 250};

static int one_case(int verbose) {
    edgec_fully_connected_s8_params p;
    memset(&p, 0, sizeof p);
    p.batches = next() % 4 ? 1 : pick(2, 3);
    p.depth = next() % 8 ? pick_of(SIZES, 15) : pick(1, 700);
    p.out_c = next() % 8 ? pick_of(SIZES, 15) : pick(1, 70);
    const int32_t zps[] = {-128, 127, 0, pick(-128, 127)};
    p.input_offset = -pick_of(zps, 4), p.output_offset = pick_of(zps, 4);
    p.act_min = -128, p.act_max = 127;
    if (next() % 2) p.act_min = pick(-128, 0), p.act_max = pick(p.act_min, 127);
    p.rounding = (int32_t)(next() % 4 == 0);
    p.per_channel = (int32_t)(next() % 2);
    const int32_t n_mult = p.per_channel ? p.out_c : 1;
    const int32_t in_n = p.batches * p.depth, out_n = p.batches * p.out_c;
    int8_t *w = malloc((size_t)(p.out_c * p.depth));
    int32_t *bias = next() % 4 ? malloc(sizeof(int32_t) * (size_t)p.out_c) : NULL;
    int32_t *mult = malloc(sizeof(int32_t) * (size_t)n_mult), *shift = malloc(sizeof(int32_t) * (size_t)n_mult);
    for (int32_t i = 0; i < p.out_c * p.depth; i++) w[i] = (int8_t)pick(-127, 127);
    for (int32_t o = 0; o < p.out_c && bias; o++) bias[o] = pick(-70000, 70000);
    for (int32_t c = 0; c < n_mult; c++) {
        if (p.rounding) { /* onnxruntime: a float32 mantissa times 2^shift */
            mult[c] = pick(1 << 23, (1 << 24) - 1), shift[c] = pick(-40, -24);
        } else {
            mult[c] = (int32_t)((1u << 30) + (next() >> 2)), shift[c] = pick(-20, 3);
        }
    }
    p.weights = w, p.bias = bias, p.multiplier = mult, p.shift = shift;
    int8_t *input = malloc((size_t)in_n), *want = malloc((size_t)out_n), *got = malloc((size_t)out_n);
    for (int32_t i = 0; i < in_n; i++) input[i] = (int8_t)pick(-128, 127);
    memset(got, 0x5a, (size_t)out_n);
    edgec_fully_connected_s8(&p, input, want);
    edgec_fully_connected_s8_dsp(&p, NULL, input, got);
    int bad = memcmp(got, want, (size_t)out_n) != 0;
    if (bad || verbose) {
        printf("batches %d depth %d out_c %d in_off %d out_off %d act [%d,%d] rounding %d per_channel %d bias %d\n",
               p.batches, p.depth, p.out_c, p.input_offset, p.output_offset, p.act_min, p.act_max, p.rounding,
               p.per_channel, !!bias);
    }
    free(w), free(bias), free(mult), free(shift), free(input), free(want), free(got);
    return bad;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    state = (uint32_t)strtoul(argv[1], NULL, 10);
    const int cases = atoi(argv[2]);
    int mismatches = 0;
    for (int i = 0; i < cases; i++) mismatches += one_case(0);
    printf("cases=%d mismatches=%d\n", cases, mismatches);
    return 0;
}
"""


def test_dsp_kernel_matches_the_portable_kernel(tmp_path: Path):
    exe = build_sanitized(tmp_path, DRIVER, ["fully_connected_s8", "fully_connected_s8_dsp"])
    cases = 3000
    res = subprocess.run([str(exe), "12345", str(cases)], capture_output=True, text=True, check=True)
    # one line per mismatching case (its shape and parameters), then the count
    assert res.stdout.splitlines()[-1] == f"cases={cases} mismatches=0", res.stdout[-3000:]
