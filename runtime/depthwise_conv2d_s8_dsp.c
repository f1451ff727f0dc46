#include "depthwise_conv2d_s8_dsp.h"

#include <string.h>

#include "edgec_acle.h"
#include "edgec_dsp_out.h"
#include "edgec_fixedpoint.h"

/* Channel planes (one input channel at a time, padded with the input zero point), SMLAD along x.
 *
 * Zero point. The portable kernel computes acc = bias + sum_{taps inside} w * (x - zp), skipping padded taps.
 * Here the padded taps read zp from the plane's border, and the zero point is folded into the start value:
 *   acc = (bias - zp * sum_{all taps} w) + sum_{all taps} w * x~,   x~ = x inside, zp on the border,
 * which is the same integer: the border taps add w * zp, cancelled by the fold. All adds wrap modulo 2^32
 * (uint32 here, SMLAD's own adds on the core), so the accumulator equals the portable kernel's int32 exactly;
 * the requantization and clamp are the portable kernel's.
 *
 * Pairing. An unaligned word of the plane holds 4 neighbours q0..q3 of a row; SXTB16 gives (q0, q2) and SXTB16
 * ROR 8 gives (q1, q3). For a 3-tap row (w0, w1, w2) and W02 = (w0, w2) as int16 halves:
 *   out(x)   += w0 q0 + w1 q1 + w2 q2 = SMLAD(W02, (q0,q2)) + SMLABB((q1,q3), w1)
 *   out(x+1) += w0 q1 + w1 q2 + w2 q3 = SMLAD(W02, (q1,q3)) + SMLATB((q0,q2), w1)
 * 7 instructions per 6 MACs (1 LDR, 2 SXTB16, 4 multiply-accumulates). The 3x3 path runs per column of outputs
 * (a pair of columns at stride_w 1) in two passes: an inline-assembly multiply pass down the column (25
 * instructions per output pair, the sums stored after the plane), then the requantization pass (dw_col_out).
 * Other kernel widths take one output at a time: taps in groups of 4, t..t+3 from one word,
 * SMLAD((w_t, w_t+2), (q0,q2)) + SMLAD((w_t+1, w_t+3), (q1,q3)); the last k_w mod 4 taps one by one. */

typedef struct {
    int32_t rows, row_bytes; /* the plane: rows x row_bytes, plane row 0 = input row -pad_top */
} dw_plane_t;

static dw_plane_t dw_plane_geometry(const edgec_depthwise_conv2d_s8_params *p) {
    dw_plane_t g;
    g.rows = (p->out_h - 1) * p->stride_h + p->k_h;
    /* + 1: the 3-tap single output reads one byte beyond its last tap (loaded, never multiplied) */
    g.row_bytes = ((p->out_w - 1) * p->stride_w + p->k_w + 1 + 3) & ~3;
    return g;
}

/* the plane (a multiple of 4 bytes) and, after it, the 3x3 path's column sums: 2 out_h int32 */
int32_t edgec_depthwise_conv2d_s8_dsp_plane_bytes(const edgec_depthwise_conv2d_s8_params *p) {
    const dw_plane_t g = dw_plane_geometry(p);
    return g.rows * g.row_bytes + 8 * p->out_h;
}

static inline int32_t dw_halves(int32_t bottom, int32_t top) {
    return (int32_t)(((uint32_t)(uint16_t)(int16_t)bottom) | ((uint32_t)(uint16_t)(int16_t)top << 16));
}

/* one output channel's requantization, read once from the params: int8 stores may alias anything, so fields read
 * through `p` inside the output loops would be reloaded after every store */
typedef struct {
    int32_t multiplier, shift, rounding, output_offset, act_min, act_max;
    const int32_t *stage; /* the channel's compile-time output stage (edgec_dsp_out.h), NULL: none */
} dw_requant_t;

static inline dw_requant_t dw_requant_of(const edgec_depthwise_conv2d_s8_params *p, int32_t o, int32_t rounding) {
    dw_requant_t r;
    r.multiplier = p->multiplier[o];
    r.shift = p->shift[o];
    r.rounding = rounding;
    r.output_offset = p->output_offset;
    r.act_min = p->act_min;
    r.act_max = p->act_max;
    r.stage = NULL;
    return r;
}

/* Requantization and clamp: `mode` is a literal at each call. 0, 1: the portable kernel's (TFLite's, onnxruntime's
 * rounding); 2: the compile-time stage (edgec_dsp_out.h), activation [-128, 127]; 3: the stage, then the clamp. */
static inline int8_t dw_output(const dw_requant_t *r, int32_t acc, int32_t mode) {
    if (mode >= 2) {
        const int32_t y = edgec_dsp_requant(acc, r->stage);
        return (int8_t)(mode == 3 ? edgec_clamp(y, r->act_min, r->act_max) : y);
    }
    acc = edgec_requantize(acc, r->multiplier, r->shift, mode) + r->output_offset;
    return (int8_t)edgec_clamp(acc, r->act_min, r->act_max);
}

#if defined(__GNUC__)
#define DW_INLINE static inline __attribute__((always_inline))
#define DW_NOINLINE static __attribute__((noinline)) /* the 14-register loops start with every register free */
#else
#define DW_INLINE static inline
#define DW_NOINLINE static
#endif

/* The 3x3 weights of one channel in 5 registers: (w0, w2) of rows 0, 1, 2, the middle taps of rows 0 and 1 as the
 * halves of one word, the middle tap of row 2 */
typedef struct {
    int32_t w02_0, w02_1, w02_2, w1_01, w1_2;
} dw_w3x3_t;

/* Pass 1 of a 3x3 channel, stride_w 1: the sums (without the start) of the output pair (y, x), (y, x + 1) for
 * y = 0 .. n - 1 (n >= 1) into acc[2y], acc[2y + 1]; p = the plane at column x of output row 0's first input row,
 * rb the plane's row bytes, step = stride_h * rb. Per pair: 3 x (LDR, 2 SXTB16, 2 SMLAD, 2 SMLAxy), ADD, STRD,
 * CMP, BNE: 25 instructions for 18 MACs, nothing else in the loop (14 registers: inline assembly on the cores). */
DW_NOINLINE void dw_col_pair(const int8_t *p, int32_t rb, int32_t step, dw_w3x3_t w, int32_t *acc, int32_t n) {
    int32_t *const end = acc + 2 * n;
#if EDGEC_HAVE_DSP
    int32_t t, q, a0, a1;
    __asm__ volatile("1:\n\t"
                     "ldr %[t], [%[p]]\n\t"
                     "sxtb16 %[q], %[t]\n\t"
                     "sxtb16 %[t], %[t], ror #8\n\t"
                     "smuad %[a0], %[w0], %[q]\n\t"
                     "smlabb %[a0], %[t], %[w1s], %[a0]\n\t"
                     "smuad %[a1], %[w0], %[t]\n\t"
                     "smlatb %[a1], %[q], %[w1s], %[a1]\n\t"
                     "ldr %[t], [%[p], %[rb]]\n\t"
                     "sxtb16 %[q], %[t]\n\t"
                     "sxtb16 %[t], %[t], ror #8\n\t"
                     "smlad %[a0], %[w1], %[q], %[a0]\n\t"
                     "smlabt %[a0], %[t], %[w1s], %[a0]\n\t"
                     "smlad %[a1], %[w1], %[t], %[a1]\n\t"
                     "smlatt %[a1], %[q], %[w1s], %[a1]\n\t"
                     "ldr %[t], [%[p], %[rb], lsl #1]\n\t"
                     "sxtb16 %[q], %[t]\n\t"
                     "sxtb16 %[t], %[t], ror #8\n\t"
                     "smlad %[a0], %[w2], %[q], %[a0]\n\t"
                     "smlabb %[a0], %[t], %[w2s], %[a0]\n\t"
                     "smlad %[a1], %[w2], %[t], %[a1]\n\t"
                     "smlatb %[a1], %[q], %[w2s], %[a1]\n\t"
                     "add %[p], %[p], %[step]\n\t"
                     "strd %[a0], %[a1], [%[acc]], #8\n\t"
                     "cmp %[acc], %[end]\n\t"
                     "bne 1b"
                     : [t] "=&r"(t), [q] "=&r"(q), [a0] "=&r"(a0), [a1] "=&r"(a1), [p] "+r"(p), [acc] "+r"(acc)
                     : [rb] "r"(rb), [step] "r"(step), [end] "r"(end), [w0] "r"(w.w02_0), [w1] "r"(w.w02_1),
                       [w2] "r"(w.w02_2), [w1s] "r"(w.w1_01), [w2s] "r"(w.w1_2)
                     : "cc", "memory");
#else
    for (; acc < end; acc += 2, p += step) {
        /* a word q0..q3 of a row: (q0, q2) and (q1, q3); out(x) += w0 q0 + w2 q2 + w1 q1, out(x+1) += w0 q1 +
         * w2 q3 + w1 q2 */
        int32_t a0 = 0, a1 = 0;
        const int32_t r[3] = {edgec_read_s8x4(p), edgec_read_s8x4(p + rb), edgec_read_s8x4(p + 2 * rb)};
        const int32_t w02[3] = {w.w02_0, w.w02_1, w.w02_2};
        const int32_t w1[3] = {w.w1_01, w.w1_01 >> 16, w.w1_2}; /* each middle tap in a bottom half */
        for (int32_t k = 0; k < 3; k++) {
            const int32_t q02 = edgec_sxtb16(r[k]), q13 = edgec_sxtb16_ror8(r[k]);
            a0 = edgec_smlabb(q13, w1[k], edgec_smlad(w02[k], q02, a0));
            a1 = edgec_smlatb(q02, w1[k], edgec_smlad(w02[k], q13, a1));
        }
        acc[0] = a0, acc[1] = a1;
    }
#endif
}

/* Pass 1 for one output column (any stride_w): acc[y] for y = 0 .. n - 1, 19 instructions per 9 MACs */
DW_NOINLINE void dw_col_one(const int8_t *p, int32_t rb, int32_t step, dw_w3x3_t w, int32_t *acc, int32_t n) {
    int32_t *const end = acc + 2 * n; /* every other int32: pass 2 reads both layouts alike */
#if EDGEC_HAVE_DSP
    int32_t t, q, a0;
    __asm__ volatile("1:\n\t"
                     "ldr %[t], [%[p]]\n\t"
                     "sxtb16 %[q], %[t]\n\t"
                     "sxtb16 %[t], %[t], ror #8\n\t"
                     "smuad %[a0], %[w0], %[q]\n\t"
                     "smlabb %[a0], %[t], %[w1s], %[a0]\n\t"
                     "ldr %[t], [%[p], %[rb]]\n\t"
                     "sxtb16 %[q], %[t]\n\t"
                     "sxtb16 %[t], %[t], ror #8\n\t"
                     "smlad %[a0], %[w1], %[q], %[a0]\n\t"
                     "smlabt %[a0], %[t], %[w1s], %[a0]\n\t"
                     "ldr %[t], [%[p], %[rb], lsl #1]\n\t"
                     "sxtb16 %[q], %[t]\n\t"
                     "sxtb16 %[t], %[t], ror #8\n\t"
                     "smlad %[a0], %[w2], %[q], %[a0]\n\t"
                     "smlabb %[a0], %[t], %[w2s], %[a0]\n\t"
                     "add %[p], %[p], %[step]\n\t"
                     "str %[a0], [%[acc]], #8\n\t"
                     "cmp %[acc], %[end]\n\t"
                     "bne 1b"
                     : [t] "=&r"(t), [q] "=&r"(q), [a0] "=&r"(a0), [p] "+r"(p), [acc] "+r"(acc)
                     : [rb] "r"(rb), [step] "r"(step), [end] "r"(end), [w0] "r"(w.w02_0), [w1] "r"(w.w02_1),
                       [w2] "r"(w.w02_2), [w1s] "r"(w.w1_01), [w2s] "r"(w.w1_2)
                     : "cc", "memory");
#else
    for (; acc < end; acc += 2, p += step) {
        int32_t a0 = 0;
        const int32_t r[3] = {edgec_read_s8x4(p), edgec_read_s8x4(p + rb), edgec_read_s8x4(p + 2 * rb)};
        const int32_t w02[3] = {w.w02_0, w.w02_1, w.w02_2};
        const int32_t w1[3] = {w.w1_01, w.w1_01 >> 16, w.w1_2};
        for (int32_t k = 0; k < 3; k++)
            a0 = edgec_smlabb(edgec_sxtb16_ror8(r[k]), w1[k], edgec_smlad(w02[k], edgec_sxtb16(r[k]), a0));
        *acc = a0;
    }
#endif
}

/* Pass 2 with the compile-time stage: n outputs of one column (`two`: and of the next, at out + out_c) from pass
 * 1's sums (2 int32 per row) plus the start. ADD, LSL, SMMLAR, ADD, ASR, SSAT, STRB per output with the channel's
 * constants in registers (a function of its own: inlined into the channel loop, GCC spilled them). `narrow`: the
 * activation clamps inside [-128, 127]. */
DW_NOINLINE void dw_col_out_staged(const int32_t *acc, int32_t n, int two, int32_t start, int8_t *out, int32_t out_c,
                                   int32_t row_step, const int32_t *stage, int32_t lo, int32_t hi, int narrow) {
    const int32_t pre = stage[EDGEC_DSP_OUT_PRE], m = stage[EDGEC_DSP_OUT_M];
    const int32_t round = stage[EDGEC_DSP_OUT_ROUND], right = stage[EDGEC_DSP_OUT_RIGHT];
    const int32_t *const end = acc + 2 * n;
    if (two && !narrow) {
#if EDGEC_HAVE_DSP /* 2 rows a turn (an odd n enters at the second): per pair LDRD, 2 x (ADD, LSL, SMMLAR,
                   * ADD ASR #31, ASR, SSAT, STRB), ADD; per turn CMP, BNE: 17.5 per pair (the C loop: 20) */
        int32_t a0, a1, t = n & 1;
        __asm__ volatile("cmp %[t], #0\n\t"
                         "bne 2f\n\t"
                         "1:\n\t"
                         "ldrd %[a0], %[a1], [%[acc]], #8\n\t"
                         "add %[a0], %[a0], %[start]\n\t"
                         "lsl %[t], %[a0], %[pre]\n\t"
                         "smmlar %[t], %[t], %[m], %[round]\n\t"
                         "add %[t], %[t], %[a0], asr #31\n\t"
                         "asr %[t], %[t], %[right]\n\t"
                         "ssat %[t], #8, %[t]\n\t"
                         "strb %[t], [%[out]]\n\t"
                         "add %[a1], %[a1], %[start]\n\t"
                         "lsl %[t], %[a1], %[pre]\n\t"
                         "smmlar %[t], %[t], %[m], %[round]\n\t"
                         "add %[t], %[t], %[a1], asr #31\n\t"
                         "asr %[t], %[t], %[right]\n\t"
                         "ssat %[t], #8, %[t]\n\t"
                         "strb %[t], [%[out], %[out_c]]\n\t"
                         "add %[out], %[out], %[row_step]\n\t"
                         "2:\n\t"
                         "ldrd %[a0], %[a1], [%[acc]], #8\n\t"
                         "add %[a0], %[a0], %[start]\n\t"
                         "lsl %[t], %[a0], %[pre]\n\t"
                         "smmlar %[t], %[t], %[m], %[round]\n\t"
                         "add %[t], %[t], %[a0], asr #31\n\t"
                         "asr %[t], %[t], %[right]\n\t"
                         "ssat %[t], #8, %[t]\n\t"
                         "strb %[t], [%[out]]\n\t"
                         "add %[a1], %[a1], %[start]\n\t"
                         "lsl %[t], %[a1], %[pre]\n\t"
                         "smmlar %[t], %[t], %[m], %[round]\n\t"
                         "add %[t], %[t], %[a1], asr #31\n\t"
                         "asr %[t], %[t], %[right]\n\t"
                         "ssat %[t], #8, %[t]\n\t"
                         "strb %[t], [%[out], %[out_c]]\n\t"
                         "add %[out], %[out], %[row_step]\n\t"
                         "cmp %[acc], %[end]\n\t"
                         "bne 1b"
                         : [a0] "=&r"(a0), [a1] "=&r"(a1), [t] "+r"(t), [acc] "+r"(acc), [out] "+r"(out)
                         : [end] "r"(end), [start] "r"(start), [pre] "r"(pre), [m] "r"(m), [round] "r"(round),
                           [right] "r"(right), [out_c] "r"(out_c), [row_step] "r"(row_step)
                         : "cc", "memory");
        (void)a0, (void)a1, (void)t;
        return;
#endif
        for (; acc < end; acc += 2, out += row_step) {
            out[0] = (int8_t)edgec_dsp_requant_k((int32_t)((uint32_t)acc[0] + (uint32_t)start), pre, m, round, right);
            out[out_c] =
                (int8_t)edgec_dsp_requant_k((int32_t)((uint32_t)acc[1] + (uint32_t)start), pre, m, round, right);
        }
    } else if (two) {
        for (; acc < end; acc += 2, out += row_step) {
            int32_t v = edgec_dsp_requant_k((int32_t)((uint32_t)acc[0] + (uint32_t)start), pre, m, round, right);
            out[0] = (int8_t)edgec_clamp(v, lo, hi);
            v = edgec_dsp_requant_k((int32_t)((uint32_t)acc[1] + (uint32_t)start), pre, m, round, right);
            out[out_c] = (int8_t)edgec_clamp(v, lo, hi);
        }
    } else {
#if EDGEC_HAVE_DSP /* one column, full range: 2 rows a turn as above, 10 instructions per output (C: 12) */
        if (!narrow) {
            int32_t a0, t = n & 1;
            __asm__ volatile("cmp %[t], #0\n\t"
                             "bne 2f\n\t"
                             "1:\n\t"
                             "ldr %[a0], [%[acc]], #8\n\t"
                             "add %[a0], %[a0], %[start]\n\t"
                             "lsl %[t], %[a0], %[pre]\n\t"
                             "smmlar %[t], %[t], %[m], %[round]\n\t"
                             "add %[t], %[t], %[a0], asr #31\n\t"
                             "asr %[t], %[t], %[right]\n\t"
                             "ssat %[t], #8, %[t]\n\t"
                             "strb %[t], [%[out]]\n\t"
                             "add %[out], %[out], %[row_step]\n\t"
                             "2:\n\t"
                             "ldr %[a0], [%[acc]], #8\n\t"
                             "add %[a0], %[a0], %[start]\n\t"
                             "lsl %[t], %[a0], %[pre]\n\t"
                             "smmlar %[t], %[t], %[m], %[round]\n\t"
                             "add %[t], %[t], %[a0], asr #31\n\t"
                             "asr %[t], %[t], %[right]\n\t"
                             "ssat %[t], #8, %[t]\n\t"
                             "strb %[t], [%[out]]\n\t"
                             "add %[out], %[out], %[row_step]\n\t"
                             "cmp %[acc], %[end]\n\t"
                             "bne 1b"
                             : [a0] "=&r"(a0), [t] "+r"(t), [acc] "+r"(acc), [out] "+r"(out)
                             : [end] "r"(end), [start] "r"(start), [pre] "r"(pre), [m] "r"(m), [round] "r"(round),
                               [right] "r"(right), [row_step] "r"(row_step)
                             : "cc", "memory");
            (void)a0, (void)t;
            return;
        }
#endif
        for (; acc < end; acc += 2, out += row_step) {
            const int32_t v =
                edgec_dsp_requant_k((int32_t)((uint32_t)acc[0] + (uint32_t)start), pre, m, round, right);
            out[0] = (int8_t)(narrow ? edgec_clamp(v, lo, hi) : v);
        }
    }
}

/* Pass 2 for any mode: the outputs of one column (`two`: and of the next, at out + out_c) from pass 1's sums,
 * acc_step int32 apart, plus the start; `mode` as dw_output */
DW_INLINE void dw_col_out(const dw_requant_t *r, const int32_t *acc, int32_t n, int32_t acc_step, int two,
                          int32_t start, int8_t *out, int32_t out_c, int32_t row_step, int32_t mode) {
    if (mode >= 2 && acc_step == 2) {
        dw_col_out_staged(acc, n, two, start, out, out_c, row_step, r->stage, r->act_min, r->act_max, mode == 3);
        return;
    }
    for (int32_t y = 0; y < n; y++, acc += acc_step, out += row_step) {
        out[0] = dw_output(r, (int32_t)((uint32_t)acc[0] + (uint32_t)start), mode);
        if (two) out[out_c] = dw_output(r, (int32_t)((uint32_t)acc[1] + (uint32_t)start), mode);
    }
}

/* One output channel, 3x3 kernel, in two passes per column of outputs (a pair of columns at stride_w 1): pass 1
 * multiplies down the column with nothing else in registers, pass 2 requantizes the column (its constants in
 * registers). An odd out_w's last column (and every column at stride_w > 1) takes the single-column pass.
 * `acc`: 2 out_h int32 of scratch. `mode` is a literal at each call (DW_CHANNEL_3X3 below). */
DW_INLINE void dw_channel_3x3(const edgec_depthwise_conv2d_s8_params *p, const int8_t *plane, int32_t row_bytes,
                              const int32_t w02[3], const int32_t w1[3], int32_t start, int32_t o, int8_t *out,
                              const int32_t *stage, int32_t mode, int32_t *acc) {
    const int32_t step_y = p->stride_h * row_bytes, stride_w = p->stride_w, out_c = p->out_c;
    const int32_t out_h = p->out_h, out_w = p->out_w, row_step = out_w * out_c;
    dw_requant_t rq = dw_requant_of(p, o, mode & 1);
    rq.stage = stage;
    dw_w3x3_t w;
    w.w02_0 = w02[0], w.w02_1 = w02[1], w.w02_2 = w02[2];
    w.w1_01 = dw_halves(w1[0], w1[1]), w.w1_2 = w1[2];
    if (stride_w == 1) {
        int32_t x = 0;
        for (; x + 1 < out_w; x += 2) {
            dw_col_pair(plane + x, row_bytes, step_y, w, acc, out_h);
            dw_col_out(&rq, acc, out_h, 2, 1, start, out + x * out_c, out_c, row_step, mode);
        }
        if (x < out_w) { /* odd out_w: the last column alone */
            dw_col_one(plane + x, row_bytes, step_y, w, acc, out_h);
            dw_col_out(&rq, acc, out_h, 2, 0, start, out + x * out_c, out_c, row_step, mode);
        }
    } else {
        for (int32_t x = 0; x < out_w; x++) {
            dw_col_one(plane + x * stride_w, row_bytes, step_y, w, acc, out_h);
            dw_col_out(&rq, acc, out_h, 2, 0, start, out + x * out_c, out_c, row_step, mode);
        }
    }
}

/* one function per output mode (dw_output): the mode's test folds away in each */
#define DW_CHANNEL_3X3(name, mode)                                                                              \
    static void name(const edgec_depthwise_conv2d_s8_params *p, const int8_t *plane, int32_t row_bytes,        \
                     const int32_t w02[3], const int32_t w1[3], int32_t start, int32_t o, int8_t *out,          \
                     const int32_t *stage, int32_t *acc) {                                                      \
        dw_channel_3x3(p, plane, row_bytes, w02, w1, start, o, out, stage, mode, acc);                          \
    }
DW_CHANNEL_3X3(dw_channel_3x3_tflite, 0)
DW_CHANNEL_3X3(dw_channel_3x3_onnx, 1)
DW_CHANNEL_3X3(dw_channel_3x3_staged, 2)
DW_CHANNEL_3X3(dw_channel_3x3_staged_clamped, 3)

/* One output channel, any kernel: per row, groups of 4 taps by SMLAD, then the rest one by one */
static void dw_channel_any(const edgec_depthwise_conv2d_s8_params *p, const int8_t *plane, int32_t row_bytes,
                           const int32_t *w02, const int32_t *w13, const int32_t *taps, int32_t start, int32_t o,
                           int8_t *out, const int32_t *stage) {
    const int32_t groups = p->k_w / 4, out_c = p->out_c, out_h = p->out_h, out_w = p->out_w;
    const int32_t k_h = p->k_h, k_w = p->k_w, stride_h = p->stride_h, stride_w = p->stride_w;
    dw_requant_t rq = dw_requant_of(p, o, p->rounding);
    rq.stage = stage;
    const int32_t mode = stage ? (p->act_min == -128 && p->act_max == 127 ? 2 : 3) : p->rounding;
    for (int32_t y = 0; y < out_h; y++) {
        for (int32_t x = 0; x < out_w; x++, out += out_c) {
            const int8_t *window = plane + y * stride_h * row_bytes + x * stride_w;
            int32_t acc = start;
            for (int32_t ky = 0; ky < k_h; ky++, window += row_bytes) {
                const int32_t *g02 = w02 + ky * groups, *g13 = w13 + ky * groups;
                int32_t kx = 0;
                for (int32_t g = 0; g < groups; g++, kx += 4) {
                    const int32_t q = edgec_read_s8x4(window + kx);
                    acc = edgec_smlad(g02[g], edgec_sxtb16(q), acc);
                    acc = edgec_smlad(g13[g], edgec_sxtb16_ror8(q), acc);
                }
                for (; kx < k_w; kx++) {
                    acc = edgec_smlabb(taps[ky * k_w + kx], window[kx], acc);
                }
            }
            *out = dw_output(&rq, acc, mode);
        }
    }
}

/* rows x cols bytes, in_c apart in a row of the input, into the plane's rows (a function of its own: inlined into
 * the channel loop, GCC kept its pointers on the stack). Per 4 bytes: 4 LDRB, 3 ORR, STR and the loop. */
DW_NOINLINE void dw_gather(const int8_t *src, int32_t in_c, int32_t src_row, int8_t *dst, int32_t dst_row,
                           int32_t rows, int32_t cols) {
    const int32_t in_c2 = 2 * in_c, in_c3 = 3 * in_c, in_c4 = 4 * in_c, words = cols >> 2, rest = cols & 3;
    for (int32_t r = 0; r < rows; r++, src += src_row, dst += dst_row) {
        const uint8_t *s = (const uint8_t *)src;
        int8_t *d = dst;
        for (int32_t k = 0; k < words; k++, d += 4, s += in_c4) { /* 4 LDRB, 3 ORR, STR (unaligned: allowed) */
            const uint32_t v = (uint32_t)s[0] | ((uint32_t)s[in_c] << 8) | ((uint32_t)s[in_c2] << 16) |
                               ((uint32_t)s[in_c3] << 24);
            memcpy(d, &v, 4);
        }
        for (int32_t k = 0; k < rest; k++, s += in_c) d[k] = (int8_t)*s;
    }
}

/* dw_gather for planes taller than wide (kws: 25 x 5), column by column: 4 rows per step, 4 LDRB, 4 STRB and the
 * loop, the row overhead paid per column instead */
DW_NOINLINE void dw_gather_cols(const int8_t *src, int32_t in_c, int32_t src_row, int8_t *dst, int32_t dst_row,
                                int32_t rows, int32_t cols) {
    const int32_t s2 = 2 * src_row, s3 = 3 * src_row, d2 = 2 * dst_row, d3 = 3 * dst_row;
    for (int32_t x = 0; x < cols; x++, src += in_c, dst++) {
        const int8_t *s = src;
        int8_t *d = dst;
        int32_t r = rows;
        for (; r >= 4; r -= 4, s += 4 * src_row, d += 4 * dst_row) {
            const int8_t b0 = s[0], b1 = s[src_row], b2 = s[s2], b3 = s[s3];
            d[0] = b0, d[dst_row] = b1, d[d2] = b2, d[d3] = b3;
        }
        for (; r > 0; r--, s += src_row, d += dst_row) *d = *s;
    }
}

/* out[b,y,x,i*dm+m] = clamp(zp_out + MBQM(bias + sum_{ky,kx} w[ky,kx,i*dm+m] * (in[b,iy,ix,i] - zp_in)))
 * In place (input == output, depth multiplier 1): channel c is copied to the plane before any of its outputs is
 * written, and output pixel q of batch b goes to slot (b * out_h * out_w + q) * in_c + c, at or before input
 * pixel b * in_h * in_w + q, in channel c: it overwrites only channel c of this batch (saved in the plane) or
 * input of an earlier batch (consumed): the argument of edgec_depthwise_conv2d_s8_inplace. */
void edgec_depthwise_conv2d_s8_dsp(const edgec_depthwise_conv2d_s8_params *p, const int32_t *stage,
                                   const int8_t *input, int8_t *output, int8_t *plane) {
    const dw_plane_t g = dw_plane_geometry(p);
    const int8_t zp = (int8_t)(-p->input_offset);
    const int32_t in_c = p->in_c, dm = p->depth_multiplier, out_c = p->out_c;
    const int32_t k_taps = p->k_h * p->k_w, groups = p->k_w / 4;
    const int is_3x3 = p->k_h == 3 && p->k_w == 3, full = p->act_min == -128 && p->act_max == 127;
    /* the input rows and columns the plane holds (the rest of the plane is the zp border) */
    const int32_t y_end = edgec_min(p->in_h, g.rows - p->pad_top);
    const int32_t x_end = edgec_min(p->in_w, g.row_bytes - p->pad_left);
    /* the column sums after the plane: the plane is a multiple of 4 bytes and `plane` 4-byte aligned (STRD) */
    int32_t *const acc = (int32_t *)(void *)(plane + g.rows * g.row_bytes);
    for (int32_t k = 0; k < g.rows * g.row_bytes; k++) plane[k] = zp;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * in_c;
        int8_t *out_b = output + b * p->out_h * p->out_w * out_c;
        for (int32_t i = 0; i < in_c; i++) {
            /* gather channel i into the plane's interior */
            if (y_end > 2 * x_end)
                dw_gather_cols(in_b + i, in_c, p->in_w * in_c, plane + p->pad_top * g.row_bytes + p->pad_left,
                               g.row_bytes, y_end, x_end);
            else
                dw_gather(in_b + i, in_c, p->in_w * in_c, plane + p->pad_top * g.row_bytes + p->pad_left,
                          g.row_bytes, y_end, x_end);
            for (int32_t m = 0; m < dm; m++) {
                const int32_t o = i * dm + m;
                int32_t taps[EDGEC_DW_DSP_MAX_K * EDGEC_DW_DSP_MAX_K];
                uint32_t weight_sum = 0;
                for (int32_t t = 0; t < k_taps; t++) {
                    taps[t] = p->weights[t * out_c + o];
                    weight_sum += (uint32_t)taps[t];
                }
                /* bias - zp * sum(w), modulo 2^32: computed by the compiler when the layer has a stage */
                const int32_t *st = stage ? stage + o * EDGEC_DSP_OUT_WORDS : NULL;
                const int32_t start = st ? st[EDGEC_DSP_OUT_START]
                                         : (int32_t)((p->bias ? (uint32_t)p->bias[o] : 0u) +
                                                     (uint32_t)p->input_offset * weight_sum);
                if (is_3x3) {
                    int32_t w02[3], w1[3];
                    for (int32_t r = 0; r < 3; r++) {
                        w02[r] = dw_halves(taps[3 * r], taps[3 * r + 2]);
                        w1[r] = taps[3 * r + 1];
                    }
                    int8_t *out_o = out_b + o;
                    const int32_t rb = g.row_bytes;
                    if (st && full) dw_channel_3x3_staged(p, plane, rb, w02, w1, start, o, out_o, st, acc);
                    else if (st) dw_channel_3x3_staged_clamped(p, plane, rb, w02, w1, start, o, out_o, st, acc);
                    else if (p->rounding) dw_channel_3x3_onnx(p, plane, rb, w02, w1, start, o, out_o, st, acc);
                    else dw_channel_3x3_tflite(p, plane, rb, w02, w1, start, o, out_o, st, acc);
                } else {
                    int32_t w02[EDGEC_DW_DSP_MAX_K * EDGEC_DW_DSP_MAX_K / 4];
                    int32_t w13[EDGEC_DW_DSP_MAX_K * EDGEC_DW_DSP_MAX_K / 4];
                    for (int32_t r = 0; r < p->k_h; r++) {
                        for (int32_t q = 0; q < groups; q++) {
                            const int32_t *t = taps + r * p->k_w + 4 * q;
                            w02[r * groups + q] = dw_halves(t[0], t[2]);
                            w13[r * groups + q] = dw_halves(t[1], t[3]);
                        }
                    }
                    dw_channel_any(p, plane, g.row_bytes, w02, w13, taps, start, o, out_b + o, st);
                }
            }
        }
    }
}
