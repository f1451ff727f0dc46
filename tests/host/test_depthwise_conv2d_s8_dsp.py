"""runtime/depthwise_conv2d_s8_dsp.c (the Cortex-M DSP depthwise kernel, here through edgec_acle.h's plain-C models
of SXTB16, SMLAD and SMLAxy) writes the same bytes as the portable runtime/depthwise_conv2d_s8.c on thousands of
random layers: odd channel counts, depth multipliers 1 to 3, kernels 1x1 to 8x8 (3x3 most often, its paired
path), strides 1 to 3, SAME and VALID padding, batches, zero points at the int8 ends, per-channel multipliers with
left shifts, both rounding modes, fused-activation clamps, and in place against the portable in-place kernel.
Compiled with ASan and UBSan and exact-size allocations (the plane is exactly
edgec_depthwise_conv2d_s8_dsp_plane_bytes), so a read past the weights, the input or the plane fails the run too."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
from c_driver import build_sanitized

from edgec.ops.depthwise_conv2d import DW3X3_WORDS, DWCL_WORDS, pack_3x3_records, pack_cl_records, plane_bytes

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "depthwise_conv2d_s8.h"
#include "depthwise_conv2d_s8_dsp.h"

static uint32_t state;
static uint32_t next(void) { state ^= state << 13; state ^= state >> 17; state ^= state << 5; return state; }
static int32_t pick(int32_t lo, int32_t hi) { return lo + (int32_t)(next() % (uint32_t)(hi - lo + 1)); }
static int32_t pick_of(const int32_t *v, int n) { return v[next() % (uint32_t)n]; }
static const int32_t CHANNELS[] = {1, 2, 3, 4, 5, 7, 13, 17, 33};
static const int32_t SIZES[] = {1, 2, 3, 4, 5, 7, 9, 12};

/* kind 0: apart (any depth multiplier), 1: in place (depth multiplier 1) */
static int one_case(int kind, int verbose) {
    edgec_depthwise_conv2d_s8_params p;
    memset(&p, 0, sizeof p);
    p.batches = pick(1, 2);
    p.in_h = pick_of(SIZES, 8), p.in_w = pick_of(SIZES, 8);
    p.in_c = pick_of(CHANNELS, 9);
    p.depth_multiplier = kind == 1 || next() % 2 ? 1 : pick(2, 3);
    p.out_c = p.in_c * p.depth_multiplier;
    p.dilation_h = p.dilation_w = 1;
    p.k_h = p.k_w = 3;
    if (next() % 3 == 0) p.k_h = pick(1, EDGEC_DW_DSP_MAX_K), p.k_w = pick(1, EDGEC_DW_DSP_MAX_K);
    p.stride_h = p.stride_w = 1;
    if (next() % 2) p.stride_h = pick(1, 3), p.stride_w = pick(1, 3);
    if (next() % 2) { /* SAME */
        p.out_h = (p.in_h + p.stride_h - 1) / p.stride_h, p.out_w = (p.in_w + p.stride_w - 1) / p.stride_w;
        const int32_t pad_h = (p.out_h - 1) * p.stride_h + p.k_h - p.in_h;
        const int32_t pad_w = (p.out_w - 1) * p.stride_w + p.k_w - p.in_w;
        p.pad_top = pad_h > 0 ? pad_h / 2 : 0, p.pad_left = pad_w > 0 ? pad_w / 2 : 0;
    } else { /* VALID */
        if (p.in_h < p.k_h) p.in_h = p.k_h;
        if (p.in_w < p.k_w) p.in_w = p.k_w;
        p.out_h = (p.in_h - p.k_h) / p.stride_h + 1, p.out_w = (p.in_w - p.k_w) / p.stride_w + 1;
    }
    const int32_t zps[] = {-128, 127, 0, pick(-128, 127)};
    p.input_offset = -pick_of(zps, 4), p.output_offset = pick_of(zps, 4);
    p.act_min = -128, p.act_max = 127;
    if (next() % 2) p.act_min = pick(-128, 0), p.act_max = pick(p.act_min, 127);
    p.rounding = (int32_t)(next() % 4 == 0);
    const int32_t taps = p.k_h * p.k_w;
    const int32_t in_n = p.batches * p.in_h * p.in_w * p.in_c, out_n = p.batches * p.out_h * p.out_w * p.out_c;
    int8_t *w = malloc((size_t)(p.out_c * taps));
    int32_t *bias = next() % 4 ? malloc(sizeof(int32_t) * (size_t)p.out_c) : NULL;
    int32_t *mult = malloc(sizeof(int32_t) * (size_t)p.out_c), *shift = malloc(sizeof(int32_t) * (size_t)p.out_c);
    for (int32_t i = 0; i < p.out_c * taps; i++) w[i] = (int8_t)pick(-127, 127);
    for (int32_t o = 0; o < p.out_c; o++) {
        if (bias) bias[o] = pick(-70000, 70000);
        if (p.rounding) { /* onnxruntime: a float32 mantissa times 2^shift */
            mult[o] = pick(1 << 23, (1 << 24) - 1), shift[o] = pick(-36, -20);
        } else {
            mult[o] = (int32_t)((1u << 30) + (next() >> 2)), shift[o] = pick(-16, 3);
        }
    }
    p.weights = w, p.bias = bias, p.multiplier = mult, p.shift = shift;
    int8_t *input = malloc((size_t)in_n), *want = malloc((size_t)out_n);
    for (int32_t i = 0; i < in_n; i++) input[i] = (int8_t)pick(-128, 127);
    const size_t plane_bytes = (size_t)edgec_depthwise_conv2d_s8_dsp_plane_bytes(&p);
    int8_t *plane = malloc(plane_bytes);
    memset(plane, 0x55, plane_bytes); /* garbage: the kernel must write every byte it multiplies */
    int8_t *got;
    int bad;
    if (kind == 1 && p.out_h * p.out_w <= p.in_h * p.in_w) {
        int8_t *ref = malloc((size_t)in_n), *ref_plane = malloc((size_t)(p.in_h * p.in_w));
        memcpy(ref, input, (size_t)in_n);
        edgec_depthwise_conv2d_s8_inplace(&p, ref, ref_plane);
        got = malloc((size_t)in_n);
        memcpy(got, input, (size_t)in_n);
        edgec_depthwise_conv2d_s8_dsp(&p, NULL, got, got, plane);
        bad = memcmp(got, ref, (size_t)out_n) != 0;
        free(ref), free(ref_plane);
    } else {
        edgec_depthwise_conv2d_s8(&p, input, want);
        got = malloc((size_t)out_n);
        edgec_depthwise_conv2d_s8_dsp(&p, NULL, input, got, plane);
        bad = memcmp(got, want, (size_t)out_n) != 0;
    }
    if (bad || verbose) {
        printf("kind %d: batches %d in %dx%dx%d out %dx%dx%d dm %d k %dx%d stride %d,%d pad %d,%d "
               "in_off %d out_off %d act [%d,%d] rounding %d bias %d\n", kind, p.batches, p.in_h, p.in_w, p.in_c,
               p.out_h, p.out_w, p.out_c, p.depth_multiplier, p.k_h, p.k_w, p.stride_h, p.stride_w,
               p.pad_top, p.pad_left, p.input_offset, p.output_offset, p.act_min, p.act_max, p.rounding, !!bias);
    }
    free(w), free(bias), free(mult), free(shift), free(input), free(want), free(plane), free(got);
    return bad;
}

int main(int argc, char **argv) {
    if (argc == 9) { /* plane OUT_H OUT_W K_H K_W STRIDE_H STRIDE_W IN_C: the planes' size */
        edgec_depthwise_conv2d_s8_params p;
        memset(&p, 0, sizeof p);
        p.out_h = atoi(argv[2]), p.out_w = atoi(argv[3]), p.k_h = atoi(argv[4]), p.k_w = atoi(argv[5]);
        p.stride_h = atoi(argv[6]), p.stride_w = atoi(argv[7]), p.in_c = atoi(argv[8]);
        printf("%d\n", edgec_depthwise_conv2d_s8_dsp_plane_bytes(&p));
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "pack") == 0) { /* pack SEED: random 3x3 layers' records, one layer a line */
        state = (uint32_t)strtoul(argv[2], NULL, 10);
        for (int n = 0; n < 200; n++) {
            edgec_depthwise_conv2d_s8_params p;
            memset(&p, 0, sizeof p);
            p.k_h = p.k_w = 3, p.out_c = pick(1, 9);
            int8_t w[9 * 9];
            int32_t stage[9 * 5], packed[9 * EDGEC_DW3X3_WORDS];
            for (int32_t i = 0; i < 9 * p.out_c; i++) w[i] = (int8_t)pick(-128, 127);
            for (int32_t o = 0; o < p.out_c; o++) {
                stage[5 * o] = (int32_t)next(), stage[5 * o + 1] = (int32_t)(next() >> 1);
                stage[5 * o + 2] = (int32_t)next(), stage[5 * o + 3] = n % 4 ? pick(1, 8) : pick(0, 10);
                stage[5 * o + 4] = pick(1, 31);
            }
            p.weights = w;
            const int32_t ok = edgec_depthwise_conv2d_s8_dsp_3x3_pack(&p, stage, packed);
            printf("%d %d", p.out_c, ok);
            for (int32_t i = 0; i < 9 * p.out_c; i++) printf(" %d", w[i]);
            for (int32_t i = 0; i < 5 * p.out_c; i++) printf(" %d", stage[i]);
            for (int32_t i = 0; ok && i < EDGEC_DW3X3_WORDS * p.out_c; i++) printf(" %d", packed[i]);
            printf("\n");
        }
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "packcl") == 0) { /* packcl SEED: the channels-last records, a layer a line */
        state = (uint32_t)strtoul(argv[2], NULL, 10);
        for (int n = 0; n < 200; n++) {
            edgec_depthwise_conv2d_s8_params p;
            memset(&p, 0, sizeof p);
            p.k_h = p.k_w = 3, p.depth_multiplier = 1, p.out_c = p.in_c = pick(1, 11);
            p.input_offset = pick(-127, 128);
            int8_t w[9 * 11];
            int32_t stage[11 * 5], packed[3 * EDGEC_DWCL_WORDS];
            for (int32_t i = 0; i < 9 * p.out_c; i++) w[i] = (int8_t)pick(-128, 127);
            for (int32_t o = 0; o < p.out_c; o++) {
                stage[5 * o] = (int32_t)next(), stage[5 * o + 1] = (int32_t)(next() >> 1);
                stage[5 * o + 2] = (int32_t)next(), stage[5 * o + 3] = n % 4 ? pick(0, 8) : pick(-1, 10);
                stage[5 * o + 4] = pick(1, 31);
            }
            p.weights = w;
            const int32_t ok = edgec_depthwise_conv2d_s8_dsp_cl_pack(&p, stage, packed);
            printf("%d %d %d", p.out_c, p.input_offset, ok);
            for (int32_t i = 0; i < 9 * p.out_c; i++) printf(" %d", w[i]);
            for (int32_t i = 0; i < 5 * p.out_c; i++) printf(" %d", stage[i]);
            for (int32_t i = 0; ok && i < (p.out_c + 3) / 4 * EDGEC_DWCL_WORDS; i++) printf(" %d", packed[i]);
            printf("\n");
        }
        return 0;
    }
    if (argc != 3) return 2;
    state = (uint32_t)strtoul(argv[1], NULL, 10);
    const int cases = atoi(argv[2]);
    int mismatches[2] = {0, 0};
    for (int i = 0; i < cases; i++) mismatches[i % 2] += one_case(i % 2, 0);
    printf("cases=%d mismatches=%d,%d\n", cases, mismatches[0], mismatches[1]);
    return 0;
}
"""


def build_driver(tmp_path: Path) -> Path:
    return build_sanitized(tmp_path, DRIVER, ["depthwise_conv2d_s8", "depthwise_conv2d_s8_dsp"])


def test_scratch_the_planner_reserves_is_the_plane_the_kernel_uses(tmp_path: Path):
    exe = build_driver(tmp_path)
    # (out_h, out_w, k_h, k_w, stride_h, stride_w, in_c): 4 planes for vww's 6 x 6 and 3 x 3 layers, 1 for kws's
    # 216-byte plane, 3 channels or a plane above 128 bytes
    shapes = [(25, 5, 3, 3, 1, 1, 64), (48, 48, 3, 3, 2, 2, 8), (1, 1, 1, 1, 1, 1, 1), (6, 7, 5, 8, 3, 2, 5),
              (3, 9, 8, 1, 1, 3, 3), (6, 6, 3, 3, 1, 1, 128), (3, 3, 3, 3, 1, 1, 4), (24, 24, 3, 3, 1, 1, 32)]
    for shape in shapes:
        res = subprocess.run([str(exe), "plane", *map(str, shape)], capture_output=True, text=True, check=True)
        assert int(res.stdout) == plane_bytes(*shape), shape


def test_dsp_depthwise_kernel_matches_the_portable_kernel(tmp_path: Path):
    exe = build_driver(tmp_path)
    cases = 3000
    res = subprocess.run([str(exe), "12345", str(cases)], capture_output=True, text=True, check=True)
    # one line per mismatching case (its geometry), then the counts per kind: apart, in place
    assert res.stdout.splitlines()[-1] == f"cases={cases} mismatches=0,0", res.stdout[-3000:]


def test_the_compilers_3x3_records_are_the_kernels(tmp_path: Path):
    """toolchain/ops/depthwise_conv2d.py's pack_3x3_records (what the generated C passes to
    edgec_depthwise_conv2d_s8_dsp_3x3) against the kernel's own packing (edgec_depthwise_conv2d_s8_dsp_3x3_pack), word
    for word, on 200 random layers: weights at -128 and 127, pre-shifts 0 to 10 (above 8 both refuse: |w| 2^pre
    would leave int16), any start, M, round."""
    exe = build_driver(tmp_path)
    res = subprocess.run([str(exe), "pack", "777"], capture_output=True, text=True, check=True)
    refused = 0
    for line in res.stdout.splitlines():
        v = [int(t) for t in line.split()]
        c, ok = v[0], v[1]
        w = np.array(v[2:2 + 9 * c], np.int8).reshape(3, 3, c)  # [k_h, k_w, out_c], as the kernel's p->weights
        stage = np.array(v[2 + 9 * c:2 + 14 * c], np.int64).reshape(c, 5)
        ours = pack_3x3_records(w, stage)
        assert (ours is not None) == bool(ok), line
        if ours is None:
            refused += 1
            continue
        theirs = np.array(v[2 + 14 * c:], np.int64).reshape(c, DW3X3_WORDS)
        assert np.array_equal(ours.astype(np.int64), theirs), line
    assert 10 <= refused <= 60, refused  # a pre above 8 in some channel of about a fifth of the layers


def test_the_compilers_channels_last_records_are_the_kernels(tmp_path: Path):
    """pack_cl_records (what the generated C passes to edgec_depthwise_conv2d_s8_dsp_cl) against the kernel's own
    packing (edgec_depthwise_conv2d_s8_dsp_cl_pack), word for word, on 200 random layers of 1 to 11 channels (a
    last group of 1-3), weights at -128 and 127, any input offset, pre-shifts -1 to 10 (outside [0, 8] both
    refuse). The kernel itself runs from these records against the portable kernel in
    tests/board/test_fast_kernels_harness.py (host under ASan/UBSan, M4, M7, M33, M55)."""
    exe = build_driver(tmp_path)
    res = subprocess.run([str(exe), "packcl", "4242"], capture_output=True, text=True, check=True)
    refused = 0
    for line in res.stdout.splitlines():
        v = [int(t) for t in line.split()]
        c, io, ok = v[0], v[1], v[2]
        w = np.array(v[3:3 + 9 * c], np.int8).reshape(3, 3, c)
        stage = np.array(v[3 + 9 * c:3 + 14 * c], np.int64).reshape(c, 5)
        ours = pack_cl_records(w, stage, io)
        assert (ours is not None) == bool(ok), line
        if ours is None:
            refused += 1
            continue
        theirs = np.array(v[3 + 14 * c:], np.int64)
        assert len(theirs) == (c + 3) // 4 * DWCL_WORDS, line
        assert np.array_equal(ours.astype(np.int64), theirs), line
    assert 10 <= refused <= 60, refused
