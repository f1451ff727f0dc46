"""runtime/conv2d_s8_dsp.c (the Cortex-M DSP conv kernels, here through edgec_acle.h's plain-C models of SXTB16,
SXTAB16 and SMLAD) writes the same bytes as the portable runtime/conv2d_s8.c on thousands of random layers:
odd channel counts, odd pixel counts, batches, zero points at the int8 ends, per-channel multipliers with left
shifts, both rounding modes, fused-activation clamps, pointwise in place both ways, and for the im2col kernel
kernels up to 5x5 with strides, padding and dilation. Compiled with ASan and UBSan and exact-size allocations, so
a read past the weights, the input or the scratch (2 * ceil4(K) int16) fails the run too."""

from __future__ import annotations

import subprocess
from pathlib import Path

from c_driver import build_sanitized

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conv2d_s8.h"
#include "conv2d_s8_dsp.h"

static uint32_t state;
static uint32_t next(void) { state ^= state << 13; state ^= state >> 17; state ^= state << 5; return state; }
static int32_t pick(int32_t lo, int32_t hi) { return lo + (int32_t)(next() % (uint32_t)(hi - lo + 1)); }
static int32_t pick_of(const int32_t *v, int n) { return v[next() % (uint32_t)n]; }
static const int32_t CHANNELS[] = {1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 33, 64};
static const int32_t SIZES[] = {1, 2, 3, 5, 7};

/* kind 0: pointwise apart, 1: pointwise in place, 2: im2col */
static int one_case(int kind, int verbose) {
    edgec_conv2d_s8_params p;
    memset(&p, 0, sizeof p);
    p.batches = pick(1, 2);
    p.in_h = pick_of(SIZES, 5), p.in_w = pick_of(SIZES, 5);
    p.in_c = pick_of(CHANNELS, 12), p.out_c = pick_of(CHANNELS, 12);
    p.groups = 1;
    p.stride_h = p.stride_w = p.dilation_h = p.dilation_w = 1;
    p.k_h = p.k_w = 1;
    if (kind == 2) {
        p.k_h = pick(1, 5), p.k_w = pick(1, 5);
        p.stride_h = pick(1, 3), p.stride_w = pick(1, 3);
        p.dilation_h = pick(1, 2), p.dilation_w = pick(1, 2);
        p.in_c = next() % 3 ? p.in_c : pick(1, 3); /* stems: 1 to 3 input channels */
        const int32_t eff_h = (p.k_h - 1) * p.dilation_h + 1, eff_w = (p.k_w - 1) * p.dilation_w + 1;
        if (next() % 2) { /* SAME */
            p.out_h = (p.in_h + p.stride_h - 1) / p.stride_h, p.out_w = (p.in_w + p.stride_w - 1) / p.stride_w;
            const int32_t pad_h = (p.out_h - 1) * p.stride_h + eff_h - p.in_h;
            const int32_t pad_w = (p.out_w - 1) * p.stride_w + eff_w - p.in_w;
            p.pad_top = pad_h > 0 ? pad_h / 2 : 0, p.pad_left = pad_w > 0 ? pad_w / 2 : 0;
        } else { /* VALID */
            if (p.in_h < eff_h) p.in_h = eff_h;
            if (p.in_w < eff_w) p.in_w = eff_w;
            p.out_h = (p.in_h - eff_h) / p.stride_h + 1, p.out_w = (p.in_w - eff_w) / p.stride_w + 1;
        }
    } else {
        p.out_h = p.in_h, p.out_w = p.in_w;
    }
    const int32_t zps[] = {-128, 127, 0, pick(-128, 127)};
    p.input_offset = -pick_of(zps, 4), p.output_offset = pick_of(zps, 4);
    p.act_min = -128, p.act_max = 127;
    if (next() % 2) p.act_min = pick(-128, 0), p.act_max = pick(p.act_min, 127);
    p.rounding = (int32_t)(next() % 4 == 0);
    const int32_t k = p.k_h * p.k_w * p.in_c;
    const int32_t in_n = p.batches * p.in_h * p.in_w * p.in_c, out_n = p.batches * p.out_h * p.out_w * p.out_c;
    int8_t *w = malloc((size_t)(p.out_c * k));
    int32_t *bias = next() % 4 ? malloc(sizeof(int32_t) * (size_t)p.out_c) : NULL;
    int32_t *mult = malloc(sizeof(int32_t) * (size_t)p.out_c), *shift = malloc(sizeof(int32_t) * (size_t)p.out_c);
    for (int32_t i = 0; i < p.out_c * k; i++) w[i] = (int8_t)pick(-127, 127);
    for (int32_t o = 0; o < p.out_c; o++) {
        if (bias) bias[o] = pick(-70000, 70000);
        if (p.rounding) { /* onnxruntime: a float32 mantissa times 2^shift */
            mult[o] = pick(1 << 23, (1 << 24) - 1), shift[o] = pick(-40, -24);
        } else {
            mult[o] = (int32_t)((1u << 30) + (next() >> 2)), shift[o] = pick(-20, 3);
        }
    }
    p.weights = w, p.bias = bias, p.multiplier = mult, p.shift = shift;
    int8_t *input = malloc((size_t)in_n), *want = malloc((size_t)out_n);
    for (int32_t i = 0; i < in_n; i++) input[i] = (int8_t)pick(-128, 127);
    const size_t scratch_bytes = sizeof(int16_t) * 2 * (size_t)((k + 3) & ~3);
    int16_t *scratch = malloc(scratch_bytes);
    memset(scratch, 0x55, scratch_bytes); /* garbage: the kernel must write every int16 it reads */
    edgec_conv2d_s8(&p, input, want);
    int8_t *got;
    if (kind == 1) { /* in place: the buffer holds the input at its start and receives the output */
        const int32_t size = in_n > out_n ? in_n : out_n;
        got = malloc((size_t)size);
        memset(got, 0x5a, (size_t)size);
        memcpy(got, input, (size_t)in_n);
        edgec_conv2d_s8_pointwise_dsp(&p, NULL, got, got, scratch);
    } else {
        got = malloc((size_t)out_n);
        if (kind == 0) edgec_conv2d_s8_pointwise_dsp(&p, NULL, input, got, scratch);
        else edgec_conv2d_s8_im2col_dsp(&p, NULL, input, got, scratch);
    }
    int bad = memcmp(got, want, (size_t)out_n) != 0;
    if (bad || verbose) {
        printf("kind %d: batches %d in %dx%dx%d out %dx%dx%d k %dx%d stride %d,%d dil %d,%d pad %d,%d "
               "in_off %d out_off %d act [%d,%d] rounding %d bias %d\n", kind, p.batches, p.in_h, p.in_w, p.in_c,
               p.out_h, p.out_w, p.out_c, p.k_h, p.k_w, p.stride_h, p.stride_w, p.dilation_h, p.dilation_w,
               p.pad_top, p.pad_left, p.input_offset, p.output_offset, p.act_min, p.act_max, p.rounding, !!bias);
    }
    free(w), free(bias), free(mult), free(shift), free(input), free(want), free(scratch), free(got);
    return bad;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    state = (uint32_t)strtoul(argv[1], NULL, 10);
    const int cases = atoi(argv[2]);
    int mismatches[3] = {0, 0, 0};
    for (int i = 0; i < cases; i++) mismatches[i % 3] += one_case(i % 3, 0);
    printf("cases=%d mismatches=%d,%d,%d\n", cases, mismatches[0], mismatches[1], mismatches[2]);
    return 0;
}
"""


def test_dsp_kernels_match_the_portable_kernel(tmp_path: Path):
    exe = build_sanitized(tmp_path, DRIVER, ["conv2d_s8", "conv2d_s8_dsp"])
    cases = 3000
    res = subprocess.run([str(exe), "12345", str(cases)], capture_output=True, text=True, check=True)
    # one line per mismatching case (its geometry), then the counts per kind: apart, in place, im2col
    assert res.stdout.splitlines()[-1] == f"cases={cases} mismatches=0,0,0", res.stdout[-3000:]
