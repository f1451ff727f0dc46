"""runtime/conv2d_s8_host.c, depthwise_conv2d_s8_host.c and fully_connected_s8_host.c (the host's vectorizable
kernels) write the same bytes as the portable kernels on thousands of random layers: channel counts that are not
multiples of 4, 8 or 16, odd pixel counts, batches, kernels up to 5x5, strides 1-3, dilation, SAME and VALID
padding, zero points at both int8 ends, per-channel multipliers (with the ends of TFLite's range, 2^30 and
2^31 - 1, and 0) with left and right shifts, both rounding modes (TFLite's through edgec_host.h's table,
onnxruntime's through edgec_requantize), fused-activation clamps, the
pointwise conv in place both ways and the depthwise conv in place through its row ring. TFLite-rounded layers run,
where host_vector_stage's rule allows, the vector output stage in double (edgec_host_out16), with constant and
fixed-up channels, and for 1-8 channels over several pixels at once. The compile-time arrays (int16 weights,
folded bias, requantization table, vector stage) are built here in C by the formulas of toolchain/ops
(host_conv_arrays, host_dw_arrays, host_fc_arrays, host_requant_table, host_vector_stage; the whole-model tests
check the Python side). Compiled with
ASan and UBSan and exact-size allocations, at -O1 and at -O2 (the vectorized loops)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from c_driver import build_sanitized

from edgec.ops.depthwise_conv2d import host_ring_ok

DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "conv2d_s8.h"
#include "conv2d_s8_host.h"
#include "depthwise_conv2d_s8.h"
#include "depthwise_conv2d_s8_host.h"
#include "fully_connected_s8.h"
#include "fully_connected_s8_host.h"

static uint32_t state;
static uint32_t next(void) { state ^= state << 13; state ^= state >> 17; state ^= state << 5; return state; }
static int32_t pick(int32_t lo, int32_t hi) { return lo + (int32_t)(next() % (uint32_t)(hi - lo + 1)); }
static int32_t pick_of(const int32_t *v, int n) { return v[next() % (uint32_t)n]; }
static const int32_t CHANNELS[] = {1, 2, 3, 5, 7, 8, 13, 16, 17, 24, 33, 47, 64, 100};
static const int32_t SIZES[] = {1, 2, 3, 5, 7, 9};

typedef struct { int32_t rounding, input_offset, output_offset, act_min, act_max; } stage_t;

static stage_t pick_stage(void) {
    stage_t s;
    const int32_t zps[] = {-128, 127, 0, pick(-128, 127)};
    s.input_offset = -pick_of(zps, 4), s.output_offset = pick_of(zps, 4);
    s.act_min = -128, s.act_max = 127;
    if (next() % 2) s.act_min = pick(-128, 0), s.act_max = pick(s.act_min, 127);
    s.rounding = (int32_t)(next() % 4 == 0);
    return s;
}

/* multipliers, shifts and (TFLite's rounding) the host table M, left, right, half; NULL table for onnxruntime's */
static int32_t *pick_requant(int32_t n, int32_t rounding, int32_t *mult, int32_t *shift) {
    int32_t *table = rounding ? NULL : malloc(sizeof(int32_t) * 4 * (size_t)n);
    const int32_t right_only = (int32_t)(next() % 2); /* as in real layers: no left shift, right below 21 */
    for (int32_t o = 0; o < n; o++) {
        if (rounding) {
            mult[o] = pick(1 << 23, (1 << 24) - 1), shift[o] = pick(-40, -24);
        } else {
            const int32_t edges[] = {1 << 30, INT32_MAX, 0}; /* the ends of TFLite's multiplier range, and 0 */
            mult[o] = next() % 8 ? (int32_t)((1u << 30) + (next() >> 2)) : pick_of(edges, 3);
            shift[o] = right_only ? pick(-20, 0) : next() % 8 ? pick(-20, 3) : pick(-31, 8);
            const int32_t right = shift[o] < 0 ? -shift[o] : 0;
            table[4 * o] = mult[o], table[4 * o + 1] = shift[o] > 0 ? shift[o] : 0, table[4 * o + 2] = right;
            table[4 * o + 3] = right > 0 ? (int32_t)(1u << (right - 1)) : 0;
        }
    }
    return table;
}

/* the vector output stage (toolchain/ops/int8_common.py host_vector_stage, the same rule and formulas) for n
 * channels whose |acc| <= peak[c], in 3 of 4 layers where it applies; NULL (and *voff NULL) otherwise */
static int vector_cases, fixed_channels, constant_channels, tiled_cases;
static double *pick_vector(int32_t n, const int32_t *table, const int64_t *peak, const int32_t *bias, int32_t zp,
                           int32_t tiled_ok, int32_t **voff) {
    *voff = NULL;
    if (!table || (n < 16 && (!tiled_ok || 16 % n)) || next() % 4 == 0) return NULL;
    double *vq = malloc(sizeof(double) * 3 * (size_t)n);
    int32_t *off = malloc(sizeof(int32_t) * (size_t)(2 * n + 1)), n_fix = 0;
    for (int32_t c = 0; c < n; c++) {
        const int64_t m = table[4 * c], left = table[4 * c + 1], right = table[4 * c + 2], half = table[4 * c + 3];
        const int64_t b = bias ? bias[c] : 0, sway = peak[c] - llabs(b); /* acc within b +- sway */
        const int64_t sh = 31 + right, bm = peak[c] * m;
        const int64_t t0 = (b - sway) * m + ((int64_t)1 << 30), t1 = (b + sway) * m + ((int64_t)1 << 30);
        vq[c] = 0.0, vq[n + c] = 1.0, vq[2 * n + c] = 0.0, off[c] = 0; /* a constant or fixed-up channel */
        if (left || (m > 0 && m < ((int64_t)1 << 30))) {
            off[n + 1 + n_fix++] = c;
            continue;
        }
        const int64_t y0 = (t0 + (half - (t0 < 0 && right > 0)) * ((int64_t)1 << 31)) >> sh;
        const int64_t y1 = (t1 + (half - (t1 < 0 && right > 0)) * ((int64_t)1 << 31)) >> sh;
        if (y0 == y1) {
            off[c] = (int32_t)(zp + y0 - 1), constant_channels++;
            continue;
        }
        const int64_t k = ((bm + ((int64_t)1 << 31)) >> sh) + 1, start = ((int64_t)1 << 30) + half * ((int64_t)1 << 31);
        if (sh > 52 || bm >= ((int64_t)1 << 53) || bm + start + (k << sh) >= ((int64_t)1 << 53) ||
            ((bm + start + (k << sh)) >> sh) + 1 >= ((int64_t)1 << 31) || llabs(zp - k) >= (1 << 30)) {
            off[n + 1 + n_fix++] = c;
            continue;
        }
        const double scale = (double)((int64_t)1 << sh);
        vq[c] = (double)m / scale, vq[n + c] = (double)(start + (k << sh)) / scale;
        vq[2 * n + c] = right ? (double)((int64_t)1 << 31) / scale : 0.0;
        off[c] = (int32_t)(zp - k);
    }
    if (4 * n_fix > n) {
        free(vq), free(off);
        return NULL;
    }
    off[n] = n_fix, vector_cases++, fixed_channels += n_fix;
    if (n < 16) { /* 1, 2, 4 or 8 channels: the arrays repeated to 16 columns (host_vector_stage) */
        double *vq16 = malloc(sizeof(double) * 48);
        int32_t *off16 = malloc(sizeof(int32_t) * (size_t)(17 + n_fix));
        for (int32_t i = 0; i < 16; i++) {
            for (int32_t r = 0; r < 3; r++) vq16[r * 16 + i] = vq[r * n + i % n];
            off16[i] = off[i % n];
        }
        for (int32_t f = 0; f <= n_fix; f++) off16[16 + f] = off[n + f];
        free(vq), free(off), vq = vq16, off = off16, tiled_cases++;
    }
    *voff = off;
    return vq;
}

/* SAME or VALID geometry for k x k' kernels with strides and dilation */
static void geometry(int32_t in_h, int32_t in_w, int32_t k_h, int32_t k_w, int32_t s_h, int32_t s_w, int32_t d_h,
                     int32_t d_w, int32_t *io) { /* io: in_h, in_w, out_h, out_w, pad_top, pad_left */
    const int32_t eff_h = (k_h - 1) * d_h + 1, eff_w = (k_w - 1) * d_w + 1;
    if (next() % 2) {
        io[2] = (in_h + s_h - 1) / s_h, io[3] = (in_w + s_w - 1) / s_w;
        const int32_t pad_h = (io[2] - 1) * s_h + eff_h - in_h, pad_w = (io[3] - 1) * s_w + eff_w - in_w;
        io[0] = in_h, io[1] = in_w, io[4] = pad_h > 0 ? pad_h / 2 : 0, io[5] = pad_w > 0 ? pad_w / 2 : 0;
    } else {
        if (in_h < eff_h) in_h = eff_h;
        if (in_w < eff_w) in_w = eff_w;
        io[0] = in_h, io[1] = in_w, io[2] = (in_h - eff_h) / s_h + 1, io[3] = (in_w - eff_w) / s_w + 1;
        io[4] = io[5] = 0;
    }
}

static int report(int bad, const char *what, int32_t a, int32_t b, int32_t c, int32_t d) {
    if (bad) printf("%s mismatch: %d %d %d %d\n", what, a, b, c, d);
    return bad;
}

/* kind 0: im2col apart, 1: pointwise apart, 2: pointwise in place */
static int conv_case(int kind) {
    edgec_conv2d_s8_params p;
    memset(&p, 0, sizeof p);
    p.batches = pick(1, 2), p.groups = 1;
    p.in_c = pick_of(CHANNELS, 14), p.out_c = pick_of(CHANNELS, 14);
    p.k_h = p.k_w = p.stride_h = p.stride_w = p.dilation_h = p.dilation_w = 1;
    int32_t io[6];
    if (kind == 0) {
        p.k_h = pick(1, 5), p.k_w = pick(1, 5), p.stride_h = pick(1, 3), p.stride_w = pick(1, 3);
        p.dilation_h = pick(1, 2), p.dilation_w = pick(1, 2);
        if (next() % 3 == 0) p.in_c = pick(1, 3);
        geometry(pick_of(SIZES, 6), pick_of(SIZES, 6), p.k_h, p.k_w, p.stride_h, p.stride_w, p.dilation_h,
                 p.dilation_w, io);
    } else {
        io[0] = io[2] = pick_of(SIZES, 6), io[1] = io[3] = pick_of(SIZES, 6), io[4] = io[5] = 0;
    }
    p.in_h = io[0], p.in_w = io[1], p.out_h = io[2], p.out_w = io[3], p.pad_top = io[4], p.pad_left = io[5];
    const stage_t s = pick_stage();
    p.rounding = s.rounding, p.input_offset = s.input_offset, p.output_offset = s.output_offset;
    p.act_min = s.act_min, p.act_max = s.act_max;
    const int32_t k = p.k_h * p.k_w * p.in_c, k_pad = (k + 7) / 8 * 8;
    const int32_t in_n = p.batches * p.in_h * p.in_w * p.in_c, out_n = p.batches * p.out_h * p.out_w * p.out_c;
    int8_t *w = malloc((size_t)(p.out_c * k));
    int16_t *w16 = calloc((size_t)(p.out_c * k_pad), sizeof(int16_t));
    int32_t *bias = next() % 4 ? malloc(sizeof(int32_t) * (size_t)p.out_c) : NULL;
    int32_t *folded = malloc(sizeof(int32_t) * (size_t)p.out_c);
    int32_t *mult = malloc(sizeof(int32_t) * (size_t)p.out_c), *shift = malloc(sizeof(int32_t) * (size_t)p.out_c);
    int32_t *table = pick_requant(p.out_c, p.rounding, mult, shift);
    int64_t *peak = malloc(sizeof(int64_t) * (size_t)p.out_c); /* fixedpoint.accumulator_extremes */
    const int64_t span = 127 + p.input_offset > -p.input_offset + 128 ? 127 + p.input_offset : 128 - p.input_offset;
    const int32_t w_max = next() % 2 ? 127 : pick(1, 20); /* small weights: more layers the vector stage takes */
    for (int32_t o = 0; o < p.out_c; o++) {
        int32_t sum = 0;
        peak[o] = 0;
        for (int32_t i = 0; i < k; i++) {
            w[o * k + i] = (int8_t)(next() % 16 ? pick(-w_max, w_max) : (next() % 2 ? w_max : -w_max));
            w16[o * k_pad + i] = w[o * k + i], sum += w[o * k + i], peak[o] += abs(w[o * k + i]) * span;
        }
        if (bias) bias[o] = pick(-70000, 70000), peak[o] += abs(bias[o]);
        folded[o] = (bias ? bias[o] : 0) + p.input_offset * sum;
    }
    int32_t *voff;
    double *vq = pick_vector(p.out_c, table, peak, bias, p.output_offset, 1, &voff);
    p.weights = w, p.bias = bias, p.multiplier = mult, p.shift = shift;
    int8_t *input = malloc((size_t)in_n), *want = malloc((size_t)out_n);
    for (int32_t i = 0; i < in_n; i++) input[i] = (int8_t)pick(-128, 127);
    edgec_conv2d_s8(&p, input, want);
    int8_t *got;
    if (kind == 2) {
        const int32_t size = in_n > out_n ? in_n : out_n;
        got = malloc((size_t)size);
        memset(got, 0x5a, (size_t)size);
        memcpy(got, input, (size_t)in_n);
        edgec_conv2d_s8_host(&p, w16, folded, table, vq, voff, got, got);
    } else {
        got = malloc((size_t)out_n);
        edgec_conv2d_s8_host(&p, w16, folded, table, vq, voff, input, got);
    }
    const int bad = report(memcmp(got, want, (size_t)out_n) != 0, "conv", kind, k, p.out_c, vq != NULL);
    free(w), free(w16), free(bias), free(folded), free(mult), free(shift), free(table), free(input), free(want);
    free(got), free(peak), free(vq), free(voff);
    return bad;
}

/* the ring's rule (toolchain/ops/depthwise_conv2d.py host_ring_ok) */
static int ring_ok(const edgec_depthwise_conv2d_s8_params *p) {
    const int32_t span = (p->k_h - 1) * p->dilation_h + 1;
    int32_t next_row = 0;
    for (int32_t y = 0; y < p->out_h; y++) {
        int32_t last = y * p->stride_h - p->pad_top + span - 1;
        if (last > p->in_h - 1) last = p->in_h - 1;
        if (next_row <= last && y * p->out_w > next_row * p->in_w) return 0;
        if (last + 1 > next_row) next_row = last + 1;
    }
    return 1;
}

/* kind 0: apart, 1: in place (when the ring's rule allows it) */
static int dw_case(int kind) {
    edgec_depthwise_conv2d_s8_params p;
    memset(&p, 0, sizeof p);
    p.batches = kind ? 1 : pick(1, 2), p.depth_multiplier = 1;
    p.in_c = p.out_c = pick_of(CHANNELS, 14);
    p.k_h = pick(1, 5), p.k_w = pick(1, 5), p.stride_h = pick(1, 3), p.stride_w = pick(1, 3);
    p.dilation_h = next() % 4 ? 1 : 2, p.dilation_w = next() % 4 ? 1 : 2;
    int32_t io[6];
    geometry(pick_of(SIZES, 6) + 2, pick_of(SIZES, 6) + 2, p.k_h, p.k_w, p.stride_h, p.stride_w, p.dilation_h,
             p.dilation_w, io);
    p.in_h = io[0], p.in_w = io[1], p.out_h = io[2], p.out_w = io[3], p.pad_top = io[4], p.pad_left = io[5];
    if (kind && !ring_ok(&p)) return -1; /* not a case the compiler runs in place: skipped */
    const stage_t s = pick_stage();
    p.rounding = s.rounding, p.input_offset = s.input_offset, p.output_offset = s.output_offset;
    p.act_min = s.act_min, p.act_max = s.act_max;
    const int32_t taps = p.k_h * p.k_w, c = p.out_c, c_pad = (c + 7) / 8 * 8;
    const int32_t in_n = p.batches * p.in_h * p.in_w * c, out_n = p.batches * p.out_h * p.out_w * c;
    int8_t *w = malloc((size_t)(taps * c));
    int16_t *w16 = calloc((size_t)(taps * c_pad), sizeof(int16_t));
    int32_t *bias = next() % 4 ? malloc(sizeof(int32_t) * (size_t)c) : NULL;
    int32_t *folded = calloc((size_t)c_pad, sizeof(int32_t)); /* bias + input_offset sum w, modulo 2^32 */
    int32_t *mult = malloc(sizeof(int32_t) * (size_t)c), *shift = malloc(sizeof(int32_t) * (size_t)c);
    int32_t *table = pick_requant(c, p.rounding, mult, shift);
    int64_t *peak = calloc((size_t)c, sizeof(int64_t)); /* fixedpoint.accumulator_extremes */
    const int64_t span = 127 + p.input_offset > -p.input_offset + 128 ? 127 + p.input_offset : 128 - p.input_offset;
    for (int32_t i = 0; i < taps * c; i++) {
        w[i] = (int8_t)(next() % 16 ? pick(-127, 127) : (next() % 2 ? 127 : -127));
        w16[i / c * c_pad + i % c] = w[i], folded[i % c] += p.input_offset * w[i], peak[i % c] += abs(w[i]) * span;
    }
    for (int32_t o = 0; o < c && bias; o++) bias[o] = pick(-70000, 70000), folded[o] += bias[o];
    for (int32_t o = 0; o < c && bias; o++) peak[o] += abs(bias[o]);
    int32_t *voff;
    double *vq = pick_vector(c, table, peak, bias, p.output_offset, c == c_pad, &voff);
    p.weights = w, p.bias = bias, p.multiplier = mult, p.shift = shift;
    int8_t *input = malloc((size_t)in_n), *want = malloc((size_t)out_n), *got;
    for (int32_t i = 0; i < in_n; i++) input[i] = (int8_t)pick(-128, 127);
    edgec_depthwise_conv2d_s8(&p, input, want);
    if (kind) {
        got = malloc((size_t)in_n);
        memcpy(got, input, (size_t)in_n);
        edgec_depthwise_conv2d_s8_host(&p, w16, folded, table, vq, voff, got, got);
    } else {
        got = malloc((size_t)out_n);
        edgec_depthwise_conv2d_s8_host(&p, w16, folded, table, vq, voff, input, got);
    }
    const int bad = report(memcmp(got, want, (size_t)out_n) != 0, "depthwise", kind, c, p.k_h * 10 + p.k_w,
                           p.stride_h * 10 + p.stride_w);
    free(w), free(w16), free(bias), free(folded), free(mult), free(shift), free(table), free(input), free(want);
    free(got), free(peak), free(vq), free(voff);
    return bad;
}

static int fc_case(void) {
    edgec_fully_connected_s8_params p;
    memset(&p, 0, sizeof p);
    p.batches = pick(1, 3), p.depth = next() % 2 ? pick_of(CHANNELS, 14) : pick(1, 700);
    p.out_c = next() % 2 ? pick_of(CHANNELS, 14) : pick(1, 130);
    p.per_channel = (int32_t)(next() % 2);
    const stage_t s = pick_stage();
    p.rounding = s.rounding, p.input_offset = s.input_offset, p.output_offset = s.output_offset;
    p.act_min = s.act_min, p.act_max = s.act_max;
    const int32_t d_pad = (p.depth + 7) / 8 * 8, n_mult = p.per_channel ? p.out_c : 1;
    int8_t *w = malloc((size_t)(p.out_c * p.depth));
    int16_t *w16 = calloc((size_t)(p.out_c * d_pad), sizeof(int16_t));
    int32_t *bias = next() % 4 ? malloc(sizeof(int32_t) * (size_t)p.out_c) : NULL;
    int32_t *folded = malloc(sizeof(int32_t) * (size_t)p.out_c);
    int32_t *mult = malloc(sizeof(int32_t) * (size_t)n_mult), *shift = malloc(sizeof(int32_t) * (size_t)n_mult);
    int32_t *table1 = pick_requant(n_mult, p.rounding, mult, shift), *table = NULL;
    if (table1) { /* the compiler broadcasts a per-tensor table to every output */
        table = malloc(sizeof(int32_t) * 4 * (size_t)p.out_c);
        for (int32_t o = 0; o < p.out_c; o++) memcpy(table + 4 * o, table1 + 4 * (p.per_channel ? o : 0), 16);
    }
    int64_t *peak = malloc(sizeof(int64_t) * (size_t)p.out_c); /* fixedpoint.accumulator_extremes */
    const int64_t span = 127 + p.input_offset > -p.input_offset + 128 ? 127 + p.input_offset : 128 - p.input_offset;
    const int32_t w_max = next() % 2 ? 127 : pick(1, 20);
    for (int32_t o = 0; o < p.out_c; o++) {
        int32_t sum = 0;
        peak[o] = 0;
        for (int32_t d = 0; d < p.depth; d++) {
            w[o * p.depth + d] = (int8_t)pick(-w_max, w_max), w16[o * d_pad + d] = w[o * p.depth + d];
            sum += w[o * p.depth + d], peak[o] += abs(w[o * p.depth + d]) * span;
        }
        if (bias) bias[o] = pick(-70000, 70000), peak[o] += abs(bias[o]);
        folded[o] = (bias ? bias[o] : 0) + p.input_offset * sum;
    }
    int32_t *voff;
    double *vq = pick_vector(p.out_c, table, peak, bias, p.output_offset, 0, &voff);
    p.weights = w, p.bias = bias, p.multiplier = mult, p.shift = shift;
    const int32_t in_n = p.batches * p.depth, out_n = p.batches * p.out_c;
    int8_t *input = malloc((size_t)in_n), *want = malloc((size_t)out_n), *got = malloc((size_t)out_n);
    for (int32_t i = 0; i < in_n; i++) input[i] = (int8_t)pick(-128, 127);
    edgec_fully_connected_s8(&p, input, want);
    edgec_fully_connected_s8_host(&p, w16, folded, table, vq, voff, input, got);
    const int bad = report(memcmp(got, want, (size_t)out_n) != 0, "fc", p.depth, p.out_c, p.per_channel,
                           p.rounding);
    free(w), free(w16), free(bias), free(folded), free(mult), free(shift), free(table1), free(table), free(input);
    free(want), free(got), free(peak), free(vq), free(voff);
    return bad;
}

int main(int argc, char **argv) {
    if (argc != 3) return 2;
    state = (uint32_t)strtoul(argv[1], NULL, 10);
    const int cases = atoi(argv[2]);
    int bad[6] = {0, 0, 0, 0, 0, 0}, ran[6] = {0, 0, 0, 0, 0, 0};
    for (int i = 0; i < cases; i++) {
        const int kind = i % 6;
        const int r = kind < 3 ? conv_case(kind) : kind < 5 ? dw_case(kind - 3) : fc_case();
        if (r >= 0) ran[kind]++, bad[kind] += r;
    }
    printf("ran=%d,%d,%d,%d,%d,%d\n", ran[0], ran[1], ran[2], ran[3], ran[4], ran[5]);
    printf("vector=%d,%d,%d,%d\n", vector_cases, fixed_channels, constant_channels, tiled_cases);
    printf("mismatches=%d,%d,%d,%d,%d,%d\n", bad[0], bad[1], bad[2], bad[3], bad[4], bad[5]);
    return 0;
}
"""

KERNELS = ["conv2d_s8", "conv2d_s8_host", "depthwise_conv2d_s8", "depthwise_conv2d_s8_host", "fully_connected_s8",
           "fully_connected_s8_host"]


@pytest.mark.parametrize("opt", ["-O1", "-O2"])
def test_host_kernels_match_the_portable_kernels(tmp_path: Path, opt: str):
    exe = build_sanitized(tmp_path, DRIVER, KERNELS, flags=(opt,))
    cases = 3000
    res = subprocess.run([str(exe), "4242", str(cases)], capture_output=True, text=True, check=True)
    ran = [int(v) for v in res.stdout.splitlines()[-3].removeprefix("ran=").split(",")]
    vector, fixed, constant, tiled = (int(v) for v in res.stdout.splitlines()[-2].removeprefix("vector=").split(","))
    assert tiled > 30, tiled  # layers of 1, 2, 4 or 8 channels through the vector stage, 16 / out_c pixels at once
    assert vector > cases // 20, vector  # conv and depthwise layers through the vector output stage
    assert fixed > 50 and constant > 50, (fixed, constant)  # channels redone by the scalar stage, constant ones
    # conv im2col, pointwise apart, pointwise in place, depthwise apart, depthwise in place, FC
    assert ran[:4] == [cases // 6] * 4 and ran[5] == cases // 6, res.stdout[-3000:]
    assert ran[4] > cases // 12, ran  # most random depthwise layers run in place under the ring's rule
    assert res.stdout.splitlines()[-1] == "mismatches=0,0,0,0,0,0", res.stdout[-3000:]


def test_ring_rule_refuses_what_would_overwrite_unread_rows():
    # 3x3 stride 1 SAME (the MLPerf shape): every row is copied before the output reaches it
    assert host_ring_ok(25, 5, 25, 5, 3, 1, 1, 1)
    # stride 2 SAME from 9x9: output row y writes 5(y + 1) pixels, far below row 2y's start
    assert host_ring_ok(9, 9, 5, 5, 3, 2, 1, 1)
    # a 1-row kernel padded at the top by 0 but with the input 1 column wide and the output 2 wide (not a real
    # layer, the rule only): output row 1 has overwritten input row 1 before copying it
    assert not host_ring_ok(4, 1, 4, 2, 1, 1, 1, 0)
