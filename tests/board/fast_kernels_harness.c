/* fast_vs_portable.c - the fast (DSP, MVE) int8 kernels against the portable ones, byte for byte, on random cases.
 *
 * Built for an emulated core (Cortex-M4/M7/M33/M55: the ACLE instructions) or for the host (their C models, under
 * ASan/UBSan). Each case draws a shape, zero points at either end of the int8 range, per-channel multipliers with
 * right and left shifts, a fused-activation clamp and a rounding mode (TFLite's or onnxruntime's) from one
 * xorshift32 seed, runs the portable kernel and the fast kernel on the same inputs (in place too, where the kernel
 * supports it) and compares every output byte. On a core with Helium (Cortex-M55) the MVE kernels run on the
 * same cases too. It reports `cases=N mismatches=M mve_cases=K` (N the DSP kernels' cases, K the MVE kernels') and,
 * on a mismatch, the case seed and the first differing byte. The portable kernels are the reference: the
 * whole-model tests compare them with TFLite Micro.
 */
#include <stdint.h>
#include <string.h>

#include "conv2d_s8.h"
#include "conv2d_s8_dsp.h"
#include "conv2d_s8_fc_dsp.h"
#include "depthwise_conv2d_s8.h"
#include "edgec_fixedpoint.h"
#include "depthwise_conv2d_s8_dsp.h"
#include "fully_connected_s8.h"
#include "fully_connected_s8_dsp.h"
#include "pool2d_s8_dsp.h"
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1) /* the Helium kernels: Cortex-M55 only */
#define HAVE_MVE 1
#include "conv2d_s8_mve.h"
#include "depthwise_conv2d_s8_mve.h"
#include "fully_connected_s8_mve.h"
#include "pool2d_s8_mve.h"
#include "add_s8.h"
#include "add_s8_mve.h"
#else
#define HAVE_MVE 0
#endif

#ifdef __arm__
#include "semihost.h"
static void say(const char *text, uint32_t value) { sh_write_dec(text, value); }
static void say_text(const char *text) { sh_write0(text); }
static void say_end(void) { sh_write0("\n"); }
#else
#include <stdio.h>
static void say(const char *text, uint32_t value) { printf("%s%u", text, (unsigned)value); }
static void say_text(const char *text) { printf("%s", text); }
static void say_end(void) { printf("\n"); }
#endif

#define MAX_ACT 8192
#define MAX_W 16384 /* im2col: 33 x 5 x 5 x 17 = 14,025 */
#define MAX_C 96

static int8_t input[MAX_ACT], out_ref[MAX_ACT], out_fast[MAX_ACT], in_place[MAX_ACT], weights[MAX_W];
static int16_t scratch16[2048]; /* 2 x ceil4(k_h * k_w * in_c) int16 at the most */
static int8_t plane[MAX_ACT] __attribute__((aligned(8))); /* the DSP depthwise kernel: 4-byte aligned */
static int32_t bias[MAX_C], multiplier[MAX_C], shift[MAX_C];

static uint32_t state;
static uint32_t next(void) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}
static int32_t pick(int32_t lo, int32_t hi) { return lo + (int32_t)(next() % (uint32_t)(hi - lo + 1)); }
static int32_t zero_point(void) {
    switch (next() % 4) {
    case 0: return -128;
    case 1: return 127;
    case 2: return 0;
    default: return pick(-128, 127);
    }
}
static void fill(int8_t *a, int32_t n) {
    for (int32_t i = 0; i < n; i++) a[i] = (int8_t)pick(-128, 127);
}
static int32_t odd_count(int32_t hi) {
    static const int32_t counts[] = {1, 2, 3, 4, 5, 7, 8, 13, 16, 17, 24, 33};
    int32_t c;
    do c = counts[next() % (sizeof counts / sizeof counts[0])]; while (c > hi);
    return c;
}

/* per-channel requantization: rounding 0 = TFLite (multiplier in [2^30, 2^31), shift -14..2), 1 = onnxruntime
 * (a 24-bit float32 mantissa and its exponent); the clamp a fused activation gives */
static int32_t rounding_mode;
static void requant_params(int32_t channels, int32_t *act_min, int32_t *act_max) {
    rounding_mode = (next() % 4) == 0;
    const int32_t max_shift = (next() % 4) ? -1 : 2; /* right shifts only in 3 cases of 4: the DSP output stage */
    for (int32_t c = 0; c < channels; c++) {
        if (rounding_mode) {
            multiplier[c] = pick(1 << 23, (1 << 24) - 1);
            shift[c] = pick(-40, -26);
        } else {
            multiplier[c] = (int32_t)((1u << 30) + (next() >> 2));
            shift[c] = pick(-14, max_shift);
        }
        bias[c] = pick(-20000, 20000);
    }
    *act_min = -128;
    *act_max = 127;
    if (next() % 3 == 0) {
        *act_min = pick(-128, 0);
        *act_max = pick(*act_min, 127);
    }
}

#if HAVE_MVE
static int32_t bias_folded[MAX_C]; /* the Helium kernels' start values (edgec_mve.h) */
static int32_t chan_words[4 * MAX_C]; /* the Helium convs' per-channel words (conv2d_s8_mve.h) */
static int8_t scratch8[2048];      /* 4 x ceil16(k_h * k_w * in_c) int8 at the most */
/* the last compare was an MVE kernel's: counted apart */
static void count_mve(void);
#endif

static uint32_t cases, mve_cases, mismatches, staged, fc_rec_cases, mve_dw_pairs, dw_cl_cases, pw_rec_cases;
static uint32_t fc_rec_tails[4]; /* records cases with depth > 8 by out_c % 4 (1-3: the 1-, 2-, 3-row blocks) */
static void pointwise_records_case(uint32_t seed, const edgec_conv2d_s8_params *p); /* after fc_build_records */

/* ---- the compiler's compile-time work for the DSP kernels, redone here (toolchain/ops/int8_common.py,
 * dsp_output_stage; toolchain/ops/conv2d.py, dsp_stage): the output stage of edgec_dsp_out.h per channel, or NULL
 * when it would not be exact for some accumulator the layer can reach (then the kernel requantizes as the portable
 * one) ---- */
static int32_t stage_rows[MAX_C * EDGEC_DSP_OUT_WORDS];
static int16_t live_channels[MAX_C];
static int8_t live_weights[MAX_W], dead_row[MAX_C];
static int16_t live_weights16[MAX_W + 3 * MAX_C]; /* live x ceil4(K) at the most */

/* channels[0..count) (all when NULL) of a layer whose channel c has the weights w[c * c_step + i * i_step], i < n;
 * start = bias (+ input_offset * sum(w) when fold); the multiplier per channel or per tensor (per_channel 0) */
static const int32_t *build_stage(const int8_t *w, const int32_t *b, int32_t n, int32_t c_step, int32_t i_step,
                                  const int16_t *channels, int32_t count, int32_t per_channel, int32_t input_offset,
                                  int32_t output_offset, int32_t rounding, int fold) {
    if (rounding) return NULL;
    const int64_t span = -input_offset + 128 > 127 + input_offset ? -input_offset + 128 : 127 + input_offset;
    for (int32_t j = 0; j < count; j++) {
        const int32_t c = channels ? channels[j] : j, q = per_channel ? c : 0;
        int64_t sum = 0, sum_abs = 0;
        for (int32_t i = 0; i < n; i++) {
            const int32_t v = w[c * c_step + i * i_step];
            sum += v, sum_abs += v < 0 ? -v : v;
        }
        const int64_t bc = b ? b[c] : 0, bound = (bc < 0 ? -bc : bc) + sum_abs * span;
        const int64_t m = multiplier[q];
        const int32_t left = shift[q] > 0 ? shift[q] : 0, e = shift[q] < 0 ? -shift[q] : 0;
        if (e < 1 || e > 31 || (bound << (left + 1)) > INT32_MAX) return NULL;
        const int64_t rnd = ((int64_t)1 << (e - 1)) + (int64_t)output_offset * ((int64_t)1 << e);
        if ((rnd < 0 ? -rnd : rnd) + (((bound << left) * m + ((int64_t)1 << 30)) >> 31) + 2 > INT32_MAX) return NULL;
        int32_t *row = stage_rows + j * EDGEC_DSP_OUT_WORDS;
        row[EDGEC_DSP_OUT_START] = (int32_t)(uint32_t)((uint64_t)bc + (fold ? (uint64_t)(input_offset * sum) : 0u));
        row[EDGEC_DSP_OUT_M] = (int32_t)m;
        row[EDGEC_DSP_OUT_ROUND] = (int32_t)rnd;
        row[EDGEC_DSP_OUT_PRE] = left + 1;
        row[EDGEC_DSP_OUT_RIGHT] = e;
    }
    staged++;
    return stage_rows;
}

/* a conv's stage: its live channels (weights not all zero) compacted, the dead ones' outputs computed once */
static const edgec_conv2d_s8_dsp_stage *conv_stage(const edgec_conv2d_s8_params *p, int32_t k,
                                                   edgec_conv2d_s8_dsp_stage *st) {
    if (p->rounding) return NULL; /* onnxruntime's rounding: no stage */
    int32_t live = 0;
    for (int32_t c = 0; c < p->out_c; c++) {
        int any = 0;
        for (int32_t i = 0; i < k; i++) any |= p->weights[c * k + i] != 0;
        if (any) {
            memcpy(live_weights + live * k, p->weights + c * k, (size_t)k);
            live_channels[live++] = (int16_t)c;
        }
        const int32_t y = edgec_requantize(p->bias ? p->bias[c] : 0, p->multiplier[c], p->shift[c], 0);
        dead_row[c] = (int8_t)edgec_clamp(y + p->output_offset, p->act_min, p->act_max);
    }
    st->out = build_stage(p->weights, p->bias, k, k, 1, live_channels, live, 1, p->input_offset, p->output_offset,
                          p->rounding, 0);
    if (st->out == NULL) return NULL;
    st->live = live;
    st->weights = live < p->out_c ? live_weights : p->weights;
    st->channel = live < p->out_c ? live_channels : NULL;
    st->row = live < p->out_c ? dead_row : NULL;
    /* the int16 copy of the live pairs' weights (toolchain/ops/conv2d.py, weights16) in two cases of three; else
     * NULL: the int8 path (a counter of its own, so the seeds draw the same cases as before) */
    static uint32_t stage_count;
    st->weights16 = NULL;
    if (stage_count++ % 3) {
        const int32_t k4 = (k + 3) & ~3;
        static const int8_t lane[4] = {0, 2, 1, 3}; /* slot i of a group of 4 holds k = 4g + lane[i] */
        for (int32_t j = 0; j + 2 <= live; j += 2)
            for (int32_t g = 0; g < k4 / 4; g++)
                for (int32_t h = 0; h < 2; h++)
                    for (int32_t i = 0; i < 4; i++) {
                        const int32_t kk = 4 * g + lane[i];
                        live_weights16[(j / 2 * (k4 / 4) + g) * 8 + 4 * h + i] =
                            (int16_t)(kk < k ? st->weights[(j + h) * k + kk] : 0);
                    }
        st->weights16 = live_weights16;
    }
    return st;
}

/* some output channels' weights all zero (as in vww_96_int8's last pointwise layers), in one case of three */
static void kill_channels(int8_t *w, int32_t out_c, int32_t k) {
    if (next() % 3) return;
    const uint32_t pattern = next();
    for (int32_t c = 0; c < out_c; c++)
        if ((pattern >> (c % 32)) & 1) memset(w + c * k, 0, (size_t)k);
}
static void compare(const char *kernel, uint32_t seed, const int8_t *a, const int8_t *b, int32_t n) {
    cases++;
    for (int32_t i = 0; i < n; i++) {
        if (a[i] != b[i]) {
            if (mismatches++ < 5) {
                say_text(kernel);
                say(" seed=", seed);
                say(" byte=", (uint32_t)i);
                say(" portable=", (uint32_t)(uint8_t)a[i]);
                say(" fast=", (uint32_t)(uint8_t)b[i]);
                say_end();
            }
            return;
        }
    }
}

#if HAVE_MVE
static void count_mve(void) { cases--, mve_cases++; }

/* the Helium convs' dead channels (toolchain/ops/conv2d.py, mve_live), in either rounding mode; NULL when none */
static const edgec_conv2d_s8_mve_live *mve_live(const edgec_conv2d_s8_params *p, int32_t k,
                                                edgec_conv2d_s8_mve_live *lv) {
    int32_t live = 0;
    for (int32_t c = 0; c < p->out_c; c++) {
        int any = 0;
        for (int32_t i = 0; i < k; i++) any |= p->weights[c * k + i] != 0;
        if (any) {
            memcpy(live_weights + live * k, p->weights + c * k, (size_t)k);
            live_channels[live++] = (int16_t)c;
        }
        const int32_t y = edgec_requantize(p->bias ? p->bias[c] : 0, p->multiplier[c], p->shift[c], p->rounding);
        dead_row[c] = (int8_t)edgec_clamp(y + p->output_offset, p->act_min, p->act_max);
    }
    if (live == p->out_c) return NULL;
    lv->weights = live_weights, lv->channel = live_channels, lv->row = dead_row, lv->live = live;
    return lv;
}

/* the lanes kernel's weights, [K][ceil4(out_c)] (toolchain/ops/conv2d.py, lanes_weights) */
static int8_t weights_t[MAX_W];
static const int8_t *transpose_weights(const edgec_conv2d_s8_params *p, int32_t k) {
    const int32_t stride = (p->out_c + 3) / 4 * 4;
    for (int32_t i = 0; i < k; i++)
        for (int32_t o = 0; o < stride; o++) weights_t[i * stride + o] = o < p->out_c ? p->weights[o * k + i] : 0;
    return weights_t;
}

/* depthwise weights are [k_h * k_w, out_c]: channel o's taps are a column */
static void edgec_fold_bias_s8_dw(const edgec_depthwise_conv2d_s8_params *p) {
    for (int32_t o = 0; o < p->out_c; o++) {
        uint32_t sum = 0;
        for (int32_t t = 0; t < p->k_h * p->k_w; t++) sum += (uint32_t)(int32_t)p->weights[t * p->out_c + o];
        bias_folded[o] = (int32_t)((p->bias ? (uint32_t)p->bias[o] : 0u) + (uint32_t)p->input_offset * sum);
    }
}
#endif

#if HAVE_MVE
/* the depthwise lanes kernel's weights [ceil4(C) / 4][taps][4] (toolchain/ops/depthwise_conv2d.py,
 * lanes_dw_weights) and its in-place condition (host_ring_ok there) */
static int8_t weights_r[MAX_W];
static const int8_t *regroup_dw(const edgec_depthwise_conv2d_s8_params *p) {
    const int32_t taps = p->k_h * p->k_w, C = p->out_c;
    for (int32_t g = 0; g < (C + 3) / 4; g++)
        for (int32_t t = 0; t < taps; t++)
            for (int32_t i = 0; i < 4; i++)
                weights_r[(g * taps + t) * 4 + i] = 4 * g + i < C ? p->weights[t * C + 4 * g + i] : 0;
    return weights_r;
}
static int ring_ok(const edgec_depthwise_conv2d_s8_params *p) {
    int32_t next_row = 0;
    for (int32_t y = 0; y < p->out_h; y++) {
        const int32_t last = edgec_min(y * p->stride_h - p->pad_top + p->k_h - 1, p->in_h - 1);
        if (next_row <= last && y * p->out_w > next_row * p->in_w) return 0;
        next_row = edgec_max(next_row, last + 1);
    }
    return 1;
}
#endif

/* a 1x1, stride-1, ungrouped conv over p's input size, with random zero points (input's first: the draws' order) */
static void pointwise_geometry(edgec_conv2d_s8_params *p) {
    p->out_h = p->in_h;
    p->out_w = p->in_w;
    p->k_h = p->k_w = 1;
    p->groups = 1;
    p->stride_h = p->stride_w = p->dilation_h = p->dilation_w = 1;
    p->input_offset = -zero_point();
    p->output_offset = zero_point();
}

#if HAVE_MVE
/* the Helium 4-pixel pointwise kernel with K a multiple of 16 over several groups (its pair asm loop without the
 * tail step) and more than one chunk of 32 computed channels (out_c 33 to 96, odd and even), also in place */
static void wide_pointwise_case(uint32_t seed) {
    static const int32_t ins[] = {32, 48, 64, 80, 96}, outs[] = {31, 32, 33, 64, 65, 96};
    edgec_conv2d_s8_params p;
    memset(&p, 0, sizeof p);
    p.batches = 1;
    p.in_h = 1 + (int32_t)(next() % 5);
    p.in_w = 1 + (int32_t)(next() % 7);
    p.in_c = ins[next() % 5];
    p.out_c = outs[next() % 6];
    pointwise_geometry(&p);
    requant_params(p.out_c, &p.act_min, &p.act_max);
    p.rounding = rounding_mode;
    fill(weights, p.out_c * p.in_c);
    for (int32_t i = 0; i < p.out_c * p.in_c; i++) if (weights[i] == -128) weights[i] = -127;
    kill_channels(weights, p.out_c, p.in_c);
    p.weights = weights;
    p.bias = (next() % 5) ? bias : NULL;
    p.multiplier = multiplier;
    p.shift = shift;
    const int32_t pixels = p.in_h * p.in_w;
    fill(input, pixels * p.in_c);
    edgec_conv2d_s8(&p, input, out_ref);
    edgec_fold_bias_s8(p.weights, p.bias, p.input_offset, p.out_c, p.in_c, bias_folded);
    edgec_conv2d_s8_mve_channels(&p, bias_folded, chan_words);
    edgec_conv2d_s8_mve_live lv_mem;
    const edgec_conv2d_s8_mve_live *lv = mve_live(&p, p.in_c, &lv_mem);
    memset(out_fast, 0x5a, (size_t)(pixels * p.out_c));
    edgec_conv2d_s8_pointwise_mve(&p, chan_words, lv, input, out_fast, scratch8);
    compare("wide pointwise mve", seed, out_ref, out_fast, pixels * p.out_c);
    count_mve();
    memcpy(in_place, input, (size_t)(pixels * p.in_c));
    edgec_conv2d_s8_pointwise_mve(&p, chan_words, lv, in_place, in_place, scratch8);
    compare("wide pointwise mve in place", seed, out_ref, in_place, pixels * p.out_c);
    count_mve();
}
#endif

static void pointwise_case(uint32_t seed) {
    edgec_conv2d_s8_params p;
    memset(&p, 0, sizeof p);
    p.batches = 1 + (next() % 4 == 0);
    p.in_h = odd_count(7);
    p.in_w = odd_count(9);
    p.in_c = odd_count(MAX_C);
    p.out_c = odd_count(MAX_C);
    while (p.batches * p.in_h * p.in_w * (p.in_c > p.out_c ? p.in_c : p.out_c) > MAX_ACT || p.out_c * p.in_c > MAX_W) {
        p.in_h = 1 + p.in_h / 2;
        p.in_w = 1 + p.in_w / 2;
        if (p.out_c * p.in_c > MAX_W) p.out_c = 1 + p.out_c / 2;
    }
    pointwise_geometry(&p);
    requant_params(p.out_c, &p.act_min, &p.act_max);
    p.rounding = rounding_mode;
    fill(weights, p.out_c * p.in_c);
    for (int32_t i = 0; i < p.out_c * p.in_c; i++) if (weights[i] == -128) weights[i] = -127; /* symmetric */
    kill_channels(weights, p.out_c, p.in_c);
    p.weights = weights;
    p.bias = (next() % 5) ? bias : NULL;
    p.multiplier = multiplier;
    p.shift = shift;
    const int32_t pixels = p.batches * p.in_h * p.in_w;
    fill(input, pixels * p.in_c);
    edgec_conv2d_s8(&p, input, out_ref);
    edgec_conv2d_s8_dsp_stage st_mem;
    const edgec_conv2d_s8_dsp_stage *st = conv_stage(&p, p.in_c, &st_mem);
    edgec_conv2d_s8_pointwise_dsp(&p, st, input, out_fast, scratch16);
    compare("pointwise", seed, out_ref, out_fast, pixels * p.out_c);
    memcpy(in_place, input, (size_t)(pixels * p.in_c));
    edgec_conv2d_s8_pointwise_dsp(&p, st, in_place, in_place, scratch16);
    compare("pointwise in place", seed, out_ref, in_place, pixels * p.out_c);
    pointwise_records_case(seed, &p);
#if HAVE_MVE
    edgec_fold_bias_s8(p.weights, p.bias, p.input_offset, p.out_c, p.in_c, bias_folded);
    edgec_conv2d_s8_mve_channels(&p, bias_folded, chan_words);
    edgec_conv2d_s8_mve_live lv_mem;
    const edgec_conv2d_s8_mve_live *lv = mve_live(&p, p.in_c, &lv_mem);
    memset(out_fast, 0x5a, (size_t)(pixels * p.out_c));
    edgec_conv2d_s8_pointwise_mve(&p, chan_words, lv, input, out_fast, scratch8);
    compare("pointwise mve", seed, out_ref, out_fast, pixels * p.out_c);
    count_mve();
    memcpy(in_place, input, (size_t)(pixels * p.in_c));
    edgec_conv2d_s8_pointwise_mve(&p, chan_words, lv, in_place, in_place, scratch8);
    compare("pointwise mve in place", seed, out_ref, in_place, pixels * p.out_c);
    count_mve();
    if (p.out_c <= EDGEC_CONV_MVE_LANES_MAX_OUT) {
        const int8_t *wt = transpose_weights(&p, p.in_c);
        static int32_t rec[16 * ((MAX_C + 3) / 4)];
        edgec_conv2d_s8_mve_records(&p, rec);
        memset(out_fast, 0x5a, (size_t)(pixels * p.out_c));
        edgec_conv2d_s8_lanes_mve(&p, rec, wt, input, out_fast);
        compare("pointwise mve lanes", seed, out_ref, out_fast, pixels * p.out_c);
        count_mve();
        memcpy(in_place, input, (size_t)(pixels * p.in_c));
        edgec_conv2d_s8_lanes_mve(&p, rec, wt, in_place, in_place);
        compare("pointwise mve lanes in place", seed, out_ref, in_place, pixels * p.out_c);
        count_mve();
    }
#endif
}

/* TFLite SAME padding: out = ceil(in / stride), the smaller half of the padding first; VALID: no padding */
static void same_or_valid(int32_t in, int32_t k, int32_t stride, int32_t dilation, int same, int32_t *out,
                          int32_t *pad) {
    const int32_t span = (k - 1) * dilation + 1;
    if (same) {
        *out = (in + stride - 1) / stride;
        const int32_t total = (*out - 1) * stride + span - in;
        *pad = total > 0 ? total / 2 : 0;
    } else {
        *out = in >= span ? (in - span) / stride + 1 : 0;
        *pad = 0;
    }
}

static void im2col_case(uint32_t seed) {
    edgec_conv2d_s8_params p;
    memset(&p, 0, sizeof p);
    p.batches = 1;
    p.in_h = pick(1, 11);
    p.in_w = pick(1, 11);
    p.in_c = odd_count(17);
    p.out_c = odd_count(33);
    p.k_h = pick(1, 5);
    p.k_w = pick(1, 5);
    p.groups = 1;
    p.stride_h = pick(1, 2);
    p.stride_w = pick(1, 2);
    p.dilation_h = p.dilation_w = (next() % 5 == 0) ? 2 : 1;
    const int same = (int)(next() % 2);
    same_or_valid(p.in_h, p.k_h, p.stride_h, p.dilation_h, same, &p.out_h, &p.pad_top);
    same_or_valid(p.in_w, p.k_w, p.stride_w, p.dilation_w, same, &p.out_w, &p.pad_left);
    if (p.out_h == 0 || p.out_w == 0) return; /* a VALID window larger than the input: no such layer */
    p.input_offset = -zero_point();
    p.output_offset = zero_point();
    requant_params(p.out_c, &p.act_min, &p.act_max);
    p.rounding = rounding_mode;
    const int32_t nw = p.out_c * p.k_h * p.k_w * p.in_c;
    fill(weights, nw);
    for (int32_t i = 0; i < nw; i++) if (weights[i] == -128) weights[i] = -127;
    kill_channels(weights, p.out_c, p.k_h * p.k_w * p.in_c);
    p.weights = weights;
    p.bias = (next() % 5) ? bias : NULL;
    p.multiplier = multiplier;
    p.shift = shift;
    fill(input, p.in_h * p.in_w * p.in_c);
    edgec_conv2d_s8(&p, input, out_ref);
    edgec_conv2d_s8_dsp_stage st_mem;
    edgec_conv2d_s8_im2col_dsp(&p, conv_stage(&p, p.k_h * p.k_w * p.in_c, &st_mem), input, out_fast, scratch16);
    compare("im2col conv", seed, out_ref, out_fast, p.out_h * p.out_w * p.out_c);
#if HAVE_MVE
    edgec_fold_bias_s8(p.weights, p.bias, p.input_offset, p.out_c, p.k_h * p.k_w * p.in_c, bias_folded);
    memset(out_fast, 0x5a, (size_t)(p.out_h * p.out_w * p.out_c));
    edgec_conv2d_s8_mve_channels(&p, bias_folded, chan_words);
    edgec_conv2d_s8_mve_live lv_mem;
    edgec_conv2d_s8_im2col_mve(&p, chan_words, mve_live(&p, p.k_h * p.k_w * p.in_c, &lv_mem), input, out_fast,
                               scratch8);
    compare("im2col conv mve", seed, out_ref, out_fast, p.out_h * p.out_w * p.out_c);
    count_mve();
    if (p.out_c <= EDGEC_CONV_MVE_LANES_MAX_OUT) {
        static int32_t rec[16 * ((MAX_C + 3) / 4)];
        edgec_conv2d_s8_mve_records(&p, rec);
        memset(out_fast, 0x5a, (size_t)(p.out_h * p.out_w * p.out_c));
        edgec_conv2d_s8_lanes_mve(&p, rec, transpose_weights(&p, p.k_h * p.k_w * p.in_c), input, out_fast);
        compare("conv mve lanes", seed, out_ref, out_fast, p.out_h * p.out_w * p.out_c);
        count_mve();
    }
#endif
}

/* the records of edgec_fully_connected_s8_dsp_rec (toolchain/ops/fully_connected.py, dsp_fc_records) from a stage
 * of TFLite's rounding; 0 when the kernel would not take the layer (a narrowed clamp, pre > 8, a depth past
 * EDGEC_FC_REC_PAD not a multiple of 4) */
#define FC_REC_MAX_W 4096
static int32_t fc_records[512 + 2 * (FC_REC_MAX_W + 3 * MAX_C) + 8 * MAX_C];
static int32_t fc_pair(const edgec_fully_connected_s8_params *p, const int32_t *st, int32_t r, int32_t d0, int32_t d1) {
    const int32_t pre = st[r * EDGEC_DSP_OUT_WORDS + EDGEC_DSP_OUT_PRE];
    const int32_t lo = d0 < p->depth ? p->weights[r * p->depth + d0] * (1 << pre) : 0;
    const int32_t hi = d1 < p->depth ? p->weights[r * p->depth + d1] * (1 << pre) : 0;
    return (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
}
static int fc_build_records(const edgec_fully_connected_s8_params *p, const int32_t *st) {
    if (!st || p->act_min != -128 || p->act_max != 127 || p->out_c * p->depth > FC_REC_MAX_W) return 0;
    if (p->depth > 8 && p->depth % 4 && p->depth > EDGEC_FC_REC_PAD) return 0;
    for (int32_t r = 0; r < p->out_c; r++)
        if (st[r * EDGEC_DSP_OUT_WORDS + EDGEC_DSP_OUT_PRE] > 8) return 0;
    int32_t *w = fc_records;
#define FC_ST(r, k) st[(r) * EDGEC_DSP_OUT_WORDS + (k)]
#define FC_START(r) (int32_t)((uint32_t)FC_ST(r, EDGEC_DSP_OUT_START) << FC_ST(r, EDGEC_DSP_OUT_PRE))
    if (p->depth <= 8) {
        for (int32_t r = 0; r < p->out_c; r++) {
            const int32_t j = p->out_c - 1 - r;
            *w++ = FC_START(r);
            *w++ = fc_pair(p, st, r, 0, 2), *w++ = fc_pair(p, st, r, 1, 3);
            *w++ = fc_pair(p, st, r, 4, 6), *w++ = fc_pair(p, st, r, 5, 7);
            *w++ = FC_ST(r, EDGEC_DSP_OUT_M), *w++ = FC_ST(r, EDGEC_DSP_OUT_ROUND);
            *w++ = FC_ST(r, EDGEC_DSP_OUT_RIGHT) | (j % 4 == 0 ? (j / 4) << 8 : 0);
        }
        return 1;
    }
    /* blocks of 4 rows (R of the fourth: the blocks left), then one block of the out_c % 4 last rows */
    const int32_t groups = (p->depth + 3) / 4, blocks = p->out_c / 4;
    for (int32_t k = 0; 4 * k < p->out_c; k++) {
        const int32_t first = 4 * k, n = p->out_c - first < 4 ? p->out_c - first : 4;
        for (int32_t r = first; r < first + n; r++) *w++ = FC_START(r);
        *w++ = 4 * groups;
        for (int32_t g = 0; g < groups; g++)
            for (int32_t r = first; r < first + n; r++)
                *w++ = fc_pair(p, st, r, 4 * g, 4 * g + 2), *w++ = fc_pair(p, st, r, 4 * g + 1, 4 * g + 3);
        for (int32_t i = 0; i < n; i++) {
            const int32_t r = first + i;
            *w++ = FC_ST(r, EDGEC_DSP_OUT_M), *w++ = FC_ST(r, EDGEC_DSP_OUT_ROUND);
            *w++ = FC_ST(r, EDGEC_DSP_OUT_RIGHT) | (i == 3 ? (blocks - 1 - k) << 8 : 0);
        }
    }
#undef FC_ST
#undef FC_START
    return 1;
}

/* the records of edgec_conv2d_s8_pointwise_dsp_rec (toolchain/ops/fully_connected.py, dsp_fc_records for in_c <= 8,
 * pointwise_block_records: blocks of 4 channels, then the out_c % 4 last ones) from a stage of TFLite's rounding;
 * 0 when some pre is over 8 */
static int32_t pw_records[(MAX_W / 4 + 8) * 2 + 32 * MAX_C];
/* channel r's int16 weights d0, d1 (<< pre; zero past in_c) as one word (d0 low) */
static int32_t pw_pair(const edgec_conv2d_s8_params *p, const int32_t *st, int32_t r, int32_t d0, int32_t d1) {
    const int32_t pre = st[r * EDGEC_DSP_OUT_WORDS + EDGEC_DSP_OUT_PRE], k = p->in_c;
    const int32_t lo = d0 < k ? p->weights[r * k + d0] * (1 << pre) : 0;
    const int32_t hi = d1 < k ? p->weights[r * k + d1] * (1 << pre) : 0;
    return (int32_t)(((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16));
}
static int pw_build_records(const edgec_conv2d_s8_params *p, const int32_t *st) {
    const int32_t k = p->in_c, groups = (k + 3) / 4, blocks = p->out_c / 4;
    for (int32_t r = 0; r < p->out_c; r++)
        if (st[r * EDGEC_DSP_OUT_WORDS + EDGEC_DSP_OUT_PRE] > 8) return 0;
    int32_t *w = pw_records;
#define PW_ST(r, i) st[(r) * EDGEC_DSP_OUT_WORDS + (i)]
#define PW_START(r) (int32_t)((uint32_t)PW_ST(r, EDGEC_DSP_OUT_START) << PW_ST(r, EDGEC_DSP_OUT_PRE))
    if (k <= 8) { /* dsp_fc_records' depth <= 8 form: one record per channel */
        for (int32_t r = 0; r < p->out_c; r++) {
            const int32_t j = p->out_c - 1 - r;
            *w++ = PW_START(r);
            *w++ = pw_pair(p, st, r, 0, 2), *w++ = pw_pair(p, st, r, 1, 3);
            *w++ = pw_pair(p, st, r, 4, 6), *w++ = pw_pair(p, st, r, 5, 7);
            *w++ = PW_ST(r, EDGEC_DSP_OUT_M), *w++ = PW_ST(r, EDGEC_DSP_OUT_ROUND);
            *w++ = PW_ST(r, EDGEC_DSP_OUT_RIGHT) | (j % 4 == 0 ? (j / 4) << 8 : 0);
        }
        return 1;
    }
    for (int32_t b = 0; b < blocks; b++) {
        for (int32_t r = 4 * b; r < 4 * b + 4; r++) *w++ = PW_START(r);
        *w++ = 8 * groups;
        for (int32_t g = 0; g < groups; g++)
            for (int32_t r = 4 * b; r < 4 * b + 4; r++)
                *w++ = pw_pair(p, st, r, 4 * g, 4 * g + 2), *w++ = pw_pair(p, st, r, 4 * g + 1, 4 * g + 3);
        for (int32_t i = 0; i < 4; i++) {
            const int32_t r = 4 * b + i;
            *w++ = PW_ST(r, EDGEC_DSP_OUT_M), *w++ = PW_ST(r, EDGEC_DSP_OUT_ROUND);
            *w++ = PW_ST(r, EDGEC_DSP_OUT_RIGHT) | (i == 3 ? (blocks - 1 - b) << 8 : 0);
        }
    }
    for (int32_t r = 4 * blocks; r < p->out_c; r++) {
        *w++ = PW_START(r);
        for (int32_t g = 0; g < groups; g++)
            *w++ = pw_pair(p, st, r, 4 * g, 4 * g + 2), *w++ = pw_pair(p, st, r, 4 * g + 1, 4 * g + 3);
        *w++ = PW_ST(r, EDGEC_DSP_OUT_M), *w++ = PW_ST(r, EDGEC_DSP_OUT_ROUND), *w++ = PW_ST(r, EDGEC_DSP_OUT_RIGHT);
    }
#undef PW_ST
#undef PW_START
    return 1;
}

/* edgec_conv2d_s8_pointwise_dsp_rec: the pointwise conv as an FC over its pixels from compile-time records (the
 * compiler takes it for in_c <= 256 with every channel live and at least 4 channels past in_c 8; here every in_c
 * the case draws (up to 96), any out_c, dead channels too), apart and in place (forward and backward; in_c < 8: the
 * pixel at the highest address from a padded copy). Draws no random numbers: the seeds' cases stay. */
static void pointwise_records_case(uint32_t seed, const edgec_conv2d_s8_params *p) {
    if (p->in_c > 4 * EDGEC_PW_REC_MAX_GROUPS || p->act_min != -128 || p->act_max != 127) return;
    const int32_t *st = build_stage(p->weights, p->bias, p->in_c, p->in_c, 1, NULL, p->out_c, 1, p->input_offset,
                                    p->output_offset, p->rounding, 1);
    if (!st || !pw_build_records(p, st)) return;
    const int32_t pixels = p->batches * p->in_h * p->in_w;
    memset(out_fast, 0x5a, (size_t)(pixels * p->out_c));
    edgec_conv2d_s8_pointwise_dsp_rec(p, pw_records, input, out_fast);
    compare("pointwise records", seed, out_ref, out_fast, pixels * p->out_c);
    memcpy(in_place, input, (size_t)(pixels * p->in_c));
    edgec_conv2d_s8_pointwise_dsp_rec(p, pw_records, in_place, in_place);
    compare("pointwise records in place", seed, out_ref, in_place, pixels * p->out_c);
    pw_rec_cases++;
}

/* edgec_conv2d_s8_pointwise_dsp_rec past the pointwise cases' in_c (97..256, up to the kernel's bound; out_c 1..64,
 * every channel live as the compiler requires), a few pixels, apart and in place: on 100 seeds */
static void wide_records_case(uint32_t seed) {
    edgec_conv2d_s8_params p;
    memset(&p, 0, sizeof p);
    p.batches = 1;
    p.in_c = 97 + (int32_t)(next() % (4 * EDGEC_PW_REC_MAX_GROUPS - 96));
    p.out_c = 1 + (int32_t)(next() % 64);
    p.in_h = 1 + (int32_t)(next() % 3);
    p.in_w = 1 + (int32_t)(next() % 5);
    while (p.in_h * p.in_w * (p.in_c > p.out_c ? p.in_c : p.out_c) > MAX_ACT) p.in_w = 1 + p.in_w / 2;
    pointwise_geometry(&p);
    do requant_params(p.out_c, &p.act_min, &p.act_max); while (rounding_mode); /* TFLite's rounding: a stage */
    p.act_min = -128, p.act_max = 127; /* the records take the full clamp only */
    p.rounding = 0;
    fill(weights, p.out_c * p.in_c);
    for (int32_t i = 0; i < p.out_c * p.in_c; i++) if (weights[i] == -128) weights[i] = -127;
    p.weights = weights;
    p.bias = (next() % 5) ? bias : NULL;
    p.multiplier = multiplier;
    p.shift = shift;
    fill(input, p.in_h * p.in_w * p.in_c);
    edgec_conv2d_s8(&p, input, out_ref);
    pointwise_records_case(seed, &p);
}

/* `few_rows`: 0, the general draw; 1, 1-3, 5-7 or 10 rows (the records' 1-, 2- and 3-row blocks, alone and after
 * blocks of 4) and depths 1 to 300 (above and below 8, every depth % 4, past EDGEC_FC_REC_PAD) */
static void fully_connected_case(uint32_t seed, int few_rows) {
    edgec_fully_connected_s8_params p;
    memset(&p, 0, sizeof p);
    p.batches = 1 + (next() % 4 == 0) * 2;
    if (few_rows) {
        static const int32_t rows[] = {1, 2, 3, 5, 6, 7, 10};
        p.out_c = rows[next() % (sizeof rows / sizeof rows[0])];
        p.depth = next() % 3 ? pick(9, 300) : pick(1, 12);
    } else {
        p.depth = odd_count(MAX_C) * (1 + (int32_t)(next() % 3));
        p.out_c = odd_count(MAX_C);
    }
    while (p.out_c * p.depth > MAX_W) p.depth = 1 + p.depth / 2;
    p.input_offset = -zero_point();
    p.output_offset = zero_point();
    requant_params(p.out_c, &p.act_min, &p.act_max);
    p.rounding = rounding_mode;
    p.per_channel = (int32_t)(next() % 2);
    fill(weights, p.out_c * p.depth);
    for (int32_t i = 0; i < p.out_c * p.depth; i++) if (weights[i] == -128) weights[i] = -127;
    p.weights = weights;
    p.bias = (next() % 5) ? bias : NULL;
    p.multiplier = multiplier;
    p.shift = shift;
    fill(input, p.batches * p.depth);
    edgec_fully_connected_s8(&p, input, out_ref);
    const int32_t *st = build_stage(p.weights, p.bias, p.depth, p.depth, 1, NULL, p.out_c, p.per_channel,
                                    p.input_offset, p.output_offset, p.rounding, 1);
    static uint32_t fc_staged;
    if (st && p.out_c >= 4 && p.depth >= 4 && fc_staged++ % 2) {
        /* in one staged case of two, the int16 weights (toolchain/ops/fully_connected.py, dsp_fc_weights16): the
         * first 4 floor(out_c / 4) rows by blocks of 4, groups of 4 inputs, lanes 0, 2, 1, 3 */
        const int32_t blocks = p.out_c / 4, groups = p.depth / 4;
        static const int8_t lane[4] = {0, 2, 1, 3};
        for (int32_t k = 0; k < blocks; k++)
            for (int32_t g = 0; g < groups; g++)
                for (int32_t r = 0; r < 4; r++)
                    for (int32_t i = 0; i < 4; i++)
                        live_weights16[((k * groups + g) * 4 + r) * 4 + i] =
                            p.weights[(4 * k + r) * p.depth + 4 * g + lane[i]];
        edgec_fully_connected_s8_dsp_w16(&p, st, live_weights16, input, out_fast);
    } else {
        edgec_fully_connected_s8_dsp(&p, st, input, out_fast);
    }
    compare("fully_connected", seed, out_ref, out_fast, p.batches * p.out_c);
    if (fc_build_records(&p, st)) { /* the compile-time records */
        memset(out_fast, 0x5a, (size_t)(p.batches * p.out_c));
        edgec_fully_connected_s8_dsp_rec(&p, fc_records, input, out_fast);
        compare("fully_connected records", seed, out_ref, out_fast, p.batches * p.out_c);
        fc_rec_cases++;
        if (p.depth > 8) fc_rec_tails[p.out_c % 4]++;
    }
#if HAVE_MVE
    edgec_fold_bias_s8(p.weights, p.bias, p.input_offset, p.out_c, p.depth, bias_folded);
    memset(out_fast, 0x5a, (size_t)(p.batches * p.out_c));
    edgec_fully_connected_s8_mve(&p, bias_folded, input, out_fast);
    compare("fully_connected mve", seed, out_ref, out_fast, p.batches * p.out_c);
    count_mve();
#endif
}

/* `strides`: 0, the general draw; 1, a 3x3 layer with stride_h and stride_w drawn apart from 1 to 3 (the
 * 3x3 path's rolling passes at stride_h 1 and 2, its column walks at 3, pairs and single columns) */
static void depthwise_case(uint32_t seed, int strides) {
    edgec_depthwise_conv2d_s8_params p;
    memset(&p, 0, sizeof p);
    p.batches = 1;
    p.in_h = pick(1, 12);
    p.in_w = pick(1, 12);
    p.in_c = odd_count(24);
    p.depth_multiplier = (next() % 4 == 0) ? 2 : 1;
    p.out_c = p.in_c * p.depth_multiplier;
    p.k_h = (next() % 4 == 0) ? pick(1, 5) : 3;
    p.k_w = (next() % 4 == 0) ? pick(1, 5) : 3;
    p.stride_h = p.stride_w = (next() % 3 == 0) ? 2 : 1;
    if (strides) p.k_h = p.k_w = 3, p.stride_h = pick(1, 3), p.stride_w = pick(1, 3);
    p.dilation_h = p.dilation_w = 1;
    const int same = (int)(next() % 2);
    same_or_valid(p.in_h, p.k_h, p.stride_h, 1, same, &p.out_h, &p.pad_top);
    same_or_valid(p.in_w, p.k_w, p.stride_w, 1, same, &p.out_w, &p.pad_left);
    if (p.out_h == 0 || p.out_w == 0) return;
    p.input_offset = -zero_point();
    p.output_offset = zero_point();
    requant_params(p.out_c, &p.act_min, &p.act_max);
    p.rounding = rounding_mode;
    fill(weights, p.k_h * p.k_w * p.out_c);
    for (int32_t i = 0; i < p.k_h * p.k_w * p.out_c; i++) if (weights[i] == -128) weights[i] = -127;
    p.weights = weights;
    p.bias = (next() % 5) ? bias : NULL;
    p.multiplier = multiplier;
    p.shift = shift;
    fill(input, p.in_h * p.in_w * p.in_c);
    edgec_depthwise_conv2d_s8(&p, input, out_ref);
    const int32_t *st = build_stage(p.weights, p.bias, p.k_h * p.k_w, 1, p.out_c, NULL, p.out_c, 1, p.input_offset,
                                    p.output_offset, p.rounding, 1);
    edgec_depthwise_conv2d_s8_dsp(&p, st, input, out_fast, plane);
    compare("depthwise", seed, out_ref, out_fast, p.out_h * p.out_w * p.out_c);
    if (p.depth_multiplier == 1 && p.out_h * p.out_w <= p.in_h * p.in_w) {
        memcpy(in_place, input, (size_t)(p.in_h * p.in_w * p.in_c));
        edgec_depthwise_conv2d_s8_dsp(&p, st, in_place, in_place, plane);
        compare("depthwise in place", seed, out_ref, in_place, p.out_h * p.out_w * p.out_c);
    }
    /* 3x3 with a stage: the records the compiler would pass (its taps scaled by 2^pre), also in place */
    static int32_t packed3x3[MAX_C * EDGEC_DW3X3_WORDS];
    if (st && edgec_depthwise_conv2d_s8_dsp_3x3_pack(&p, st, packed3x3)) {
        memset(out_fast, 0x5a, (size_t)(p.out_h * p.out_w * p.out_c));
        edgec_depthwise_conv2d_s8_dsp_3x3(&p, packed3x3, input, out_fast, plane);
        compare("depthwise 3x3 records", seed, out_ref, out_fast, p.out_h * p.out_w * p.out_c);
        if (p.depth_multiplier == 1 && p.out_h * p.out_w <= p.in_h * p.in_w) {
            memcpy(in_place, input, (size_t)(p.in_h * p.in_w * p.in_c));
            edgec_depthwise_conv2d_s8_dsp_3x3(&p, packed3x3, in_place, in_place, plane);
            compare("depthwise 3x3 records in place", seed, out_ref, in_place, p.out_h * p.out_w * p.out_c);
        }
    }
    /* 3x3, depth multiplier 1, a stage: channels last from the compiler's group records (not in place) */
    static int32_t packed_cl[(MAX_C + 3) / 4 * EDGEC_DWCL_WORDS];
    if (st && edgec_depthwise_conv2d_s8_dsp_cl_pack(&p, st, packed_cl)) {
        memset(out_fast, 0x5a, (size_t)(p.out_h * p.out_w * p.out_c));
        edgec_depthwise_conv2d_s8_dsp_cl(&p, packed_cl, input, out_fast);
        compare("depthwise channels last", seed, out_ref, out_fast, p.out_h * p.out_w * p.out_c);
        dw_cl_cases++;
    }
#if HAVE_MVE
    if (strides) return;
    edgec_fold_bias_s8_dw(&p);
    if (p.depth_multiplier == 1 && edgec_depthwise_conv2d_s8_mve_ring_bytes(&p) <= MAX_ACT) {
        const int8_t *wr = regroup_dw(&p);
        /* the records of TFLite's rounding (3x3: the straight-line path), in 3 cases of 4; else NULL (generic) */
        static int32_t rec[16 * ((MAX_C + 3) / 4)];
        const int with_rec = !p.rounding && next() % 4 != 0;
        if (with_rec) edgec_depthwise_conv2d_s8_mve_records(&p, bias_folded, rec);
        const int32_t *rc = with_rec ? rec : NULL;
        memset(out_fast, 0x5a, (size_t)(p.out_h * p.out_w * p.out_c));
        edgec_depthwise_conv2d_s8_lanes_mve(&p, bias_folded, rc, wr, input, out_fast, plane);
        compare("depthwise mve lanes", seed, out_ref, out_fast, p.out_h * p.out_w * p.out_c);
        count_mve();
        /* the pixel-pair path (3x3, stride_w 1 or 2, C % 4 == 0, the records): its ring stored by channel group */
        if (rc && p.k_h == 3 && p.k_w == 3 && p.stride_w <= 2 && p.in_c % 4 == 0) mve_dw_pairs++;
        if (p.out_h * p.out_w <= p.in_h * p.in_w && ring_ok(&p)) {
            memcpy(in_place, input, (size_t)(p.in_h * p.in_w * p.in_c));
            edgec_depthwise_conv2d_s8_lanes_mve(&p, bias_folded, rc, wr, in_place, in_place, plane);
            compare("depthwise mve lanes in place", seed, out_ref, in_place, p.out_h * p.out_w * p.out_c);
            count_mve();
        }
    }
    if (!edgec_depthwise_conv2d_s8_mve_fits(&p) || edgec_depthwise_conv2d_s8_mve_plane_bytes(&p) > MAX_ACT) return;
    memset(out_fast, 0x5a, (size_t)(p.out_h * p.out_w * p.out_c));
    edgec_depthwise_conv2d_s8_mve(&p, bias_folded, input, out_fast, plane);
    compare("depthwise mve", seed, out_ref, out_fast, p.out_h * p.out_w * p.out_c);
    count_mve();
    if (p.depth_multiplier == 1 && p.out_h * p.out_w <= p.in_h * p.in_w) {
        memcpy(in_place, input, (size_t)(p.in_h * p.in_w * p.in_c));
        edgec_depthwise_conv2d_s8_mve(&p, bias_folded, in_place, in_place, plane);
        compare("depthwise mve in place", seed, out_ref, in_place, p.out_h * p.out_w * p.out_c);
        count_mve();
    }
#endif
}

/* AVERAGE_POOL_2D and MAX_POOL_2D on the DSP kernels: odd channel counts, windows up to the whole input (global
 * pooling, up to 16 x 16 = 256 taps: the DSP average's bound), strides 1..3, SAME/VALID, clamps, the reciprocal
 * given (the code generator's proof holds for every window of at most 256 taps) or 0 (TFLite's division); the
 * whole layer and one random region of it (patch-based inference: a window of the input buffer) */
static void dsp_pool_case(uint32_t seed) {
    edgec_pool2d_s8_params p;
    memset(&p, 0, sizeof p);
    p.batches = 1 + (next() % 4 == 0);
    p.in_h = pick(1, 16);
    p.in_w = pick(1, 16);
    p.channels = odd_count(MAX_C);
    while (p.batches * p.in_h * p.in_w * p.channels > MAX_ACT) p.in_h = 1 + p.in_h / 2, p.in_w = 1 + p.in_w / 2;
    const int global = next() % 4 == 0;
    p.k_h = global ? p.in_h : pick(1, 6);
    p.k_w = global ? p.in_w : pick(1, 6);
    p.stride_h = pick(1, 3);
    p.stride_w = pick(1, 3);
    const int same = (int)(next() % 2);
    same_or_valid(p.in_h, p.k_h, p.stride_h, 1, same, &p.out_h, &p.pad_top);
    same_or_valid(p.in_w, p.k_w, p.stride_w, 1, same, &p.out_w, &p.pad_left);
    if (p.out_h == 0 || p.out_w == 0) return;
    p.act_min = -128, p.act_max = 127;
    if (next() % 3 == 0) p.act_min = pick(-128, 0), p.act_max = pick(p.act_min, 127);
    fill(input, p.batches * p.in_h * p.in_w * p.channels);
    if (next() % 4 == 0) memset(input, (int)(int8_t)(next() % 2 ? -128 : 127), (size_t)(p.in_h * p.in_w * p.channels));
    const uint32_t full = (uint32_t)(p.k_h * p.k_w);
    const uint32_t recip = next() % 4 == 0 || full == 1 ? 0 : 0xFFFFFFFFu / full + 1;
    const int32_t n = p.batches * p.out_h * p.out_w * p.channels;
    edgec_avg_pool2d_s8(&p, input, out_ref);
    memset(out_fast, 0x5a, (size_t)n);
    edgec_avg_pool2d_s8_dsp(&p, recip, input, out_fast);
    compare(recip ? "avg pool dsp" : "avg pool dsp (division)", seed, out_ref, out_fast, n);
    edgec_max_pool2d_s8(&p, input, out_ref);
    memset(out_fast, 0x5a, (size_t)n);
    edgec_max_pool2d_s8_dsp(&p, input, out_fast);
    compare("max pool dsp", seed, out_ref, out_fast, n);
#if HAVE_MVE
    memset(out_fast, 0x5a, (size_t)n);
    edgec_max_pool2d_s8_mve(&p, input, out_fast);
    compare("max pool mve", seed, out_ref, out_fast, n);
    count_mve();
#endif
    /* a region: output rows [oy, oy + oh) and columns [ox, ox + ow), read from the input window they need */
    edgec_region r;
    r.out_y0 = pick(0, p.out_h - 1), r.out_x0 = pick(0, p.out_w - 1);
    r.out_h = pick(1, p.out_h - r.out_y0), r.out_w = pick(1, p.out_w - r.out_x0);
    r.in_y0 = edgec_max(r.out_y0 * p.stride_h - p.pad_top, 0);
    r.in_x0 = edgec_max(r.out_x0 * p.stride_w - p.pad_left, 0);
    r.in_h = edgec_min((r.out_y0 + r.out_h - 1) * p.stride_h - p.pad_top + p.k_h, p.in_h) - r.in_y0;
    r.in_w = edgec_min((r.out_x0 + r.out_w - 1) * p.stride_w - p.pad_left + p.k_w, p.in_w) - r.in_x0;
    r.ob_y0 = r.out_y0, r.ob_x0 = r.out_x0, r.ob_h = r.out_h, r.ob_w = r.out_w;
    if (r.in_h <= 0 || r.in_w <= 0) return;
    for (int32_t b = 0; b < p.batches; b++)
        for (int32_t y = 0; y < r.in_h; y++)
            memcpy(in_place + ((b * r.in_h + y) * r.in_w) * p.channels,
                   input + ((b * p.in_h + r.in_y0 + y) * p.in_w + r.in_x0) * p.channels, (size_t)(r.in_w * p.channels));
    const int32_t m = p.batches * r.out_h * r.out_w * p.channels;
    edgec_avg_pool2d_s8_region(&p, &r, in_place, out_ref);
    memset(out_fast, 0x5a, (size_t)m);
    edgec_avg_pool2d_s8_dsp_region(&p, recip, &r, in_place, out_fast);
    compare("avg pool dsp region", seed, out_ref, out_fast, m);
    edgec_max_pool2d_s8_region(&p, &r, in_place, out_ref);
    memset(out_fast, 0x5a, (size_t)m);
    edgec_max_pool2d_s8_dsp_region(&p, &r, in_place, out_fast);
    compare("max pool dsp region", seed, out_ref, out_fast, m);
#if HAVE_MVE
    memset(out_fast, 0x5a, (size_t)m);
    edgec_max_pool2d_s8_mve_region(&p, &r, in_place, out_fast);
    compare("max pool mve region", seed, out_ref, out_fast, m);
    count_mve();
#endif
}

#if HAVE_MVE
/* AVERAGE_POOL_2D: odd channel counts, windows up to the whole input (global pooling), strides 1..3, SAME/VALID,
 * clamps; the whole layer and one random region of it (patch-based inference: a window of the input buffer) */
static void avg_pool_case(uint32_t seed) {
    edgec_pool2d_s8_params p;
    memset(&p, 0, sizeof p);
    p.batches = 1 + (next() % 4 == 0);
    p.in_h = pick(1, 12);
    p.in_w = pick(1, 12);
    p.channels = odd_count(MAX_C);
    while (p.batches * p.in_h * p.in_w * p.channels > MAX_ACT) p.in_h = 1 + p.in_h / 2, p.in_w = 1 + p.in_w / 2;
    const int global = next() % 4 == 0;
    p.k_h = global ? p.in_h : pick(1, 5);
    p.k_w = global ? p.in_w : pick(1, 5);
    p.stride_h = pick(1, 3);
    p.stride_w = pick(1, 3);
    const int same = (int)(next() % 2);
    same_or_valid(p.in_h, p.k_h, p.stride_h, 1, same, &p.out_h, &p.pad_top);
    same_or_valid(p.in_w, p.k_w, p.stride_w, 1, same, &p.out_w, &p.pad_left);
    if (p.out_h == 0 || p.out_w == 0) return;
    p.act_min = -128, p.act_max = 127;
    if (next() % 3 == 0) p.act_min = pick(-128, 0), p.act_max = pick(p.act_min, 127);
    fill(input, p.batches * p.in_h * p.in_w * p.channels);
    if (next() % 4 == 0) memset(input, (int)(int8_t)(next() % 2 ? -128 : 127), (size_t)(p.in_h * p.in_w * p.channels));
    const int32_t n = p.batches * p.out_h * p.out_w * p.channels;
    edgec_avg_pool2d_s8(&p, input, out_ref);
    memset(out_fast, 0x5a, (size_t)n);
    edgec_avg_pool2d_s8_mve(&p, input, out_fast);
    compare("avg pool mve", seed, out_ref, out_fast, n);
    count_mve();
    /* a region: output rows [oy, oy + oh) and columns [ox, ox + ow), read from the input window they need */
    edgec_region r;
    r.out_y0 = pick(0, p.out_h - 1), r.out_x0 = pick(0, p.out_w - 1);
    r.out_h = pick(1, p.out_h - r.out_y0), r.out_w = pick(1, p.out_w - r.out_x0);
    r.in_y0 = edgec_max(r.out_y0 * p.stride_h - p.pad_top, 0);
    r.in_x0 = edgec_max(r.out_x0 * p.stride_w - p.pad_left, 0);
    r.in_h = edgec_min((r.out_y0 + r.out_h - 1) * p.stride_h - p.pad_top + p.k_h, p.in_h) - r.in_y0;
    r.in_w = edgec_min((r.out_x0 + r.out_w - 1) * p.stride_w - p.pad_left + p.k_w, p.in_w) - r.in_x0;
    r.ob_y0 = r.out_y0, r.ob_x0 = r.out_x0, r.ob_h = r.out_h, r.ob_w = r.out_w;
    if (r.in_h <= 0 || r.in_w <= 0) return;
    for (int32_t b = 0; b < p.batches; b++)
        for (int32_t y = 0; y < r.in_h; y++)
            memcpy(in_place + ((b * r.in_h + y) * r.in_w) * p.channels,
                   input + ((b * p.in_h + r.in_y0 + y) * p.in_w + r.in_x0) * p.channels, (size_t)(r.in_w * p.channels));
    const int32_t m = p.batches * r.out_h * r.out_w * p.channels;
    edgec_avg_pool2d_s8_region(&p, &r, in_place, out_ref);
    memset(out_fast, 0x5a, (size_t)m);
    edgec_avg_pool2d_s8_mve_region(&p, &r, in_place, out_fast);
    compare("avg pool mve region", seed, out_ref, out_fast, m);
    count_mve();
}
#endif

#if HAVE_MVE
/* ADD and SUB: the tables of add_s8_lut.h (toolchain/ops/add.py, rescale_tables) and the portable kernel; rows of
 * odd lengths, the second input full, repeated per row (outer broadcast: still unit stride) or one value per row
 * (inner broadcast: the scalar loop); in place over the first input when it is not broadcast */
static int32_t add_t1[256], add_t2[256];
static void add_case(uint32_t seed) {
    edgec_add_s8_params p;
    memset(&p, 0, sizeof p);
    const int32_t rows = pick(1, 9), n = odd_count(MAX_C), mode = (int32_t)(next() % 3), sub = next() % 3 == 0;
    for (int d = 0; d < 4; d++) p.shape[d] = 1;
    p.shape[4] = rows, p.shape[5] = n;
    p.stride1[4] = n, p.stride1[5] = 1;
    p.stride2[4] = mode == 0 ? n : (mode == 1 ? 0 : 1), p.stride2[5] = mode == 2 ? 0 : 1;
    p.input1_offset = -zero_point(), p.input2_offset = -zero_point(), p.output_offset = zero_point();
    p.left_shift = 20;
    p.input1_multiplier = (int32_t)((1u << 30) + (next() >> 2)), p.input1_shift = pick(-10, -1);
    p.input2_multiplier = (int32_t)((1u << 30) + (next() >> 2)), p.input2_shift = pick(-10, -1);
    p.output_multiplier = (int32_t)((1u << 30) + (next() >> 2)), p.output_shift = pick(-24, -12);
    p.act_min = -128, p.act_max = 127;
    if (next() % 3 == 0) p.act_min = pick(-128, 0), p.act_max = pick(p.act_min, 127);
    for (int32_t q = -128; q < 128; q++) {
        add_t1[q + 128] = edgec_mbqm((q + p.input1_offset) * (1 << p.left_shift), p.input1_multiplier,
                                     p.input1_shift);
        const int32_t v2 = edgec_mbqm((q + p.input2_offset) * (1 << p.left_shift), p.input2_multiplier,
                                      p.input2_shift);
        add_t2[q + 128] = sub ? -v2 : v2;
    }
    const int32_t len2 = mode == 0 ? rows * n : (mode == 1 ? n : rows);
    fill(input, rows * n);
    fill(weights, len2); /* the second input */
    if (sub) edgec_sub_s8(&p, input, weights, out_ref); else edgec_add_s8(&p, input, weights, out_ref);
    memset(out_fast, 0x5a, (size_t)(rows * n));
    edgec_add_s8_mve(&p, add_t1, add_t2, input, weights, out_fast);
    compare(sub ? "sub mve" : "add mve", seed, out_ref, out_fast, rows * n);
    count_mve();
    memcpy(in_place, input, (size_t)(rows * n));
    edgec_add_s8_mve(&p, add_t1, add_t2, in_place, weights, in_place);
    compare(sub ? "sub mve in place" : "add mve in place", seed, out_ref, in_place, rows * n);
    count_mve();
}
#endif

int main(void) {
    const uint32_t n = 1000;
    for (uint32_t k = 0; k < n; k++) {
        const uint32_t seed = 0x9E3779B9u * (k + 1);
        state = seed;
        pointwise_case(seed);
        state = seed ^ 0x5bd1e995u;
        fully_connected_case(seed, 0);
        if (k % 2 == 0) {
            state = seed ^ 0x3c6ef372u;
            fully_connected_case(seed, 1);
        }
        state = seed ^ 0x27d4eb2fu;
        depthwise_case(seed, 0);
        if (k % 4 == 0) {
            state = seed ^ 0x61c88647u;
            depthwise_case(seed, 1);
        }
        state = seed ^ 0x165667b1u;
        im2col_case(seed);
        state = seed ^ 0x9e3779b1u;
        dsp_pool_case(seed);
#if HAVE_MVE
        state = seed ^ 0x85ebca6bu;
        avg_pool_case(seed);
        state = seed ^ 0xc2b2ae35u;
        add_case(seed);
        state = seed ^ 0x2545f491u;
        wide_pointwise_case(seed);
#endif
        if (k % 10 == 0) {
            state = seed ^ 0x7f4a7c15u;
            wide_records_case(seed);
        }
    }
    say("edgec_fast_kernels: cases=", cases);
    say(" mismatches=", mismatches);
    say(" mve_cases=", mve_cases);
    say(" staged=", staged);
    say(" fc_rec_cases=", fc_rec_cases);
    say(" fc_rec_tails=", fc_rec_tails[1]);
    say("/", fc_rec_tails[2]);
    say("/", fc_rec_tails[3]);
    say(" pw_rec_cases=", pw_rec_cases);
    say(" mve_dw_pairs=", mve_dw_pairs);
    say(" dw_cl_cases=", dw_cl_cases);
    say_end();
#ifdef __arm__
    sh_exit(mismatches == 0 ? 0 : 1);
#else
    return mismatches == 0 ? 0 : 1;
#endif
}
