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
 * (a pair of columns at stride_w 1) in two passes, one call per column: an inline-assembly multiply pass rolling
 * down the plane (each row split once feeds 3 output rows: 17.5 instructions per 18 MACs at stride_h 1; a single
 * column 11.5 per 9 MACs, 14.5 at stride_h 2; the sums stored after the planes), then the requantization pass
 * (14.5 per output pair with the compile-time stage, whose pre-shift the taps took: dw_pack_3x3). Per output of
 * kws's layer about 9.8 + 8.0 instructions, plus 3.6 of plane copy (4 channels per copy on planes up to 128 B).
 * Other kernel widths take one output at a time: taps in groups of 4, t..t+3 from one word,
 * SMLAD((w_t, w_t+2), (q0,q2)) + SMLAD((w_t+1, w_t+3), (q1,q3)); the last k_w mod 4 taps one by one.
 *
 * Channels last (edgec_depthwise_conv2d_s8_dsp_cl, at the end of this file; chosen by the compiler's counted cost
 * for small planes and stride 2): no plane, 4 channels of a pixel per tap word, acc_c = bias_c +
 * sum_{taps inside} w_c (x_c - zp) by SXTAB16 and SMLABB/SMLATT, 8 instructions per 4 MACs, 30 + s + 8 T per
 * 4 outputs with the stage. */

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

/* 4 planes (4 input channels copied per pass: one word load per pixel) when the input has 4 channels or more and a
 * plane is at most 128 bytes (512 bytes for the 4: small planes, whose copy is mostly per-row and per-call overhead;
 * kws's 216-byte plane keeps 1, its arena unchanged), else 1 */
static int32_t dw_planes(const edgec_depthwise_conv2d_s8_params *p, const dw_plane_t *g) {
    return p->in_c >= 4 && g->rows * g->row_bytes <= 128 ? 4 : 1;
}

/* the planes (each a multiple of 4 bytes) and, after them, the 3x3 path's column sums: 2 out_h int32 */
int32_t edgec_depthwise_conv2d_s8_dsp_plane_bytes(const edgec_depthwise_conv2d_s8_params *p) {
    const dw_plane_t g = dw_plane_geometry(p);
    return dw_planes(p, &g) * g.rows * g.row_bytes + 8 * p->out_h;
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
 * halves of one word, the middle tap of row 2 in the bottom half of the fifth (the rolling loops keep their row
 * counter in its top half: every instruction reading it takes the bottom). With a compile-time stage the taps are
 * scaled by 2^pre (edgec_depthwise_conv2d_s8_dsp below), so the sums leave pass 1 already shifted. */
typedef struct {
    int32_t w02_0, w02_1, w02_2, w1_01, w1_2;
} dw_w3x3_t;

/* the instruction groups of the 3x3 multiply loops: a plane word q0..q3 in t is split into q = (q0, q2) and
 * t = (q1, q3); K0, K1, K2 add kernel row 0 (starting the sums: SMUAD), 1, 2 of the output pair (x0: column x,
 * x1: column x + 1), K0S.. of a single column */
#define DW_SPLIT "sxtb16 %[q], %[t]\n\tsxtb16 %[t], %[t], ror #8\n\t"
#define DW_K0(x0, x1)                                                                                          \
    "smuad %[" x0 "], %[w0], %[q]\n\tsmlabb %[" x0 "], %[t], %[w1s], %[" x0 "]\n\t"                              \
    "smuad %[" x1 "], %[w0], %[t]\n\tsmlatb %[" x1 "], %[q], %[w1s], %[" x1 "]\n\t"
#define DW_K1(x0, x1)                                                                                          \
    "smlad %[" x0 "], %[w1], %[q], %[" x0 "]\n\tsmlabt %[" x0 "], %[t], %[w1s], %[" x0 "]\n\t"                   \
    "smlad %[" x1 "], %[w1], %[t], %[" x1 "]\n\tsmlatt %[" x1 "], %[q], %[w1s], %[" x1 "]\n\t"
#define DW_K2(x0, x1)                                                                                          \
    "smlad %[" x0 "], %[w2], %[q], %[" x0 "]\n\tsmlabb %[" x0 "], %[t], %[w2s], %[" x0 "]\n\t"                   \
    "smlad %[" x1 "], %[w2], %[t], %[" x1 "]\n\tsmlatb %[" x1 "], %[q], %[w2s], %[" x1 "]\n\t"
#define DW_K0S(x) "smuad %[" x "], %[w0], %[q]\n\tsmlabb %[" x "], %[t], %[w1s], %[" x "]\n\t"
#define DW_K1S(x) "smlad %[" x "], %[w1], %[q], %[" x "]\n\tsmlabt %[" x "], %[t], %[w1s], %[" x "]\n\t"
#define DW_K2S(x) "smlad %[" x "], %[w2], %[q], %[" x "]\n\tsmlabb %[" x "], %[t], %[w2s], %[" x "]\n\t"

/* the C model of one output pair (y, x), (y, x + 1) (`two`: else (y, x) alone) from the plane at p */
static inline void dw_pair_c(const int8_t *p, int32_t rb, const dw_w3x3_t *w, int32_t *a0, int32_t *a1) {
    int32_t s0 = 0, s1 = 0;
    const int32_t r[3] = {edgec_read_s8x4(p), edgec_read_s8x4(p + rb), edgec_read_s8x4(p + 2 * rb)};
    const int32_t w02[3] = {w->w02_0, w->w02_1, w->w02_2};
    const int32_t w1[3] = {w->w1_01, w->w1_01 >> 16, w->w1_2}; /* each middle tap in a bottom half */
    for (int32_t k = 0; k < 3; k++) {
        /* out(x) += w0 q0 + w2 q2 + w1 q1, out(x+1) += w0 q1 + w2 q3 + w1 q2 */
        const int32_t q02 = edgec_sxtb16(r[k]), q13 = edgec_sxtb16_ror8(r[k]);
        s0 = edgec_smlabb(q13, w1[k], edgec_smlad(w02[k], q02, s0));
        s1 = edgec_smlatb(q02, w1[k], edgec_smlad(w02[k], q13, s1));
    }
    *a0 = s0, *a1 = s1;
}

/* Pass 1 of a 3x3 channel at stride_h 1, the output column pair x, x + 1: the sums (without the start) of output
 * rows y = 0 .. n - 1 (n >= 1) into acc[2y], acc[2y + 1]; p = the plane at column x of row 0, rb its row bytes.
 * The loop rolls down the plane: each row is loaded and split once (LDR, 2 SXTB16) and feeds three output rows as
 * their kernel rows 2 (completing the oldest pair, stored), 1 and 0 (starting the newest in the registers the
 * stored pair freed): 4 accumulators. Per output pair LDR, 2 SXTB16, 12 multiplies, STRD, and per 2 rows ADD,
 * SUBS, BCS: 17.5 instructions per 18 MACs (a walk reloading the 3 rows of each pair: 25). 14 registers. */
DW_INLINE void dw_roll_pair(const int8_t *p, int32_t rb, dw_w3x3_t w, int32_t *acc, int32_t n) {
#if EDGEC_HAVE_DSP
    int32_t t, q, a0, a1, b0, b1;
    /* the counter: n in the top half, 2 per loop turn; after the loop its bit 16 is n's parity */
    int32_t w2s = (int32_t)(((uint32_t)w.w1_2 & 0xFFFFu) | ((uint32_t)n << 16));
    __asm__ volatile("ldr %[t], [%[p]]\n\t" DW_SPLIT DW_K0("b0", "b1")
                     "ldr %[t], [%[p], %[rb]]\n\t" DW_SPLIT DW_K1("b0", "b1") DW_K0("a0", "a1")
                     "add %[p], %[p], %[rb], lsl #1\n\t"
                     "subs %[w2s], %[w2s], #0x20000\n\t"
                     "bcc 3f\n"
                     "1:\n\t"
                     "ldr %[t], [%[p]]\n\t" DW_SPLIT DW_K2("b0", "b1")
                     "strd %[b0], %[b1], [%[acc]], #8\n\t" DW_K1("a0", "a1") DW_K0("b0", "b1")
                     "ldr %[t], [%[p], %[rb]]\n\t" DW_SPLIT DW_K2("a0", "a1")
                     "strd %[a0], %[a1], [%[acc]], #8\n\t" DW_K1("b0", "b1") DW_K0("a0", "a1")
                     "add %[p], %[p], %[rb], lsl #1\n\t"
                     "subs %[w2s], %[w2s], #0x20000\n\t"
                     "bcs 1b\n"
                     "3:\n\t"
                     "tst %[w2s], #0x10000\n\t"
                     "beq 4f\n\t"
                     "ldr %[t], [%[p]]\n\t" DW_SPLIT DW_K2("b0", "b1")
                     "strd %[b0], %[b1], [%[acc]]\n"
                     "4:"
                     : [t] "=&r"(t), [q] "=&r"(q), [a0] "=&r"(a0), [a1] "=&r"(a1), [b0] "=&r"(b0), [b1] "=&r"(b1),
                       [p] "+r"(p), [acc] "+r"(acc), [w2s] "+r"(w2s)
                     : [rb] "r"(rb), [w0] "r"(w.w02_0), [w1] "r"(w.w02_1), [w2] "r"(w.w02_2), [w1s] "r"(w.w1_01)
                     : "cc", "memory");
#else
    for (int32_t y = 0; y < n; y++, p += rb) dw_pair_c(p, rb, &w, acc + 2 * y, acc + 2 * y + 1);
#endif
}

/* dw_roll_pair for one output column (an odd out_w's last, or stride_w > 1): acc[y], LDR, 2 SXTB16, 6 multiplies,
 * STR per output and per 2 rows ADD, SUBS, BCS: 11.5 instructions per 9 MACs (the column walk: 19) */
DW_INLINE void dw_roll_one(const int8_t *p, int32_t rb, dw_w3x3_t w, int32_t *acc, int32_t n) {
#if EDGEC_HAVE_DSP
    int32_t t, q, a, b;
    int32_t w2s = (int32_t)(((uint32_t)w.w1_2 & 0xFFFFu) | ((uint32_t)n << 16));
    __asm__ volatile("ldr %[t], [%[p]]\n\t" DW_SPLIT DW_K0S("b")
                     "ldr %[t], [%[p], %[rb]]\n\t" DW_SPLIT DW_K1S("b") DW_K0S("a")
                     "add %[p], %[p], %[rb], lsl #1\n\t"
                     "subs %[w2s], %[w2s], #0x20000\n\t"
                     "bcc 3f\n"
                     "1:\n\t"
                     "ldr %[t], [%[p]]\n\t" DW_SPLIT DW_K2S("b")
                     "str %[b], [%[acc]], #4\n\t" DW_K1S("a") DW_K0S("b")
                     "ldr %[t], [%[p], %[rb]]\n\t" DW_SPLIT DW_K2S("a")
                     "str %[a], [%[acc]], #4\n\t" DW_K1S("b") DW_K0S("a")
                     "add %[p], %[p], %[rb], lsl #1\n\t"
                     "subs %[w2s], %[w2s], #0x20000\n\t"
                     "bcs 1b\n"
                     "3:\n\t"
                     "tst %[w2s], #0x10000\n\t"
                     "beq 4f\n\t"
                     "ldr %[t], [%[p]]\n\t" DW_SPLIT DW_K2S("b")
                     "str %[b], [%[acc]]\n"
                     "4:"
                     : [t] "=&r"(t), [q] "=&r"(q), [a] "=&r"(a), [b] "=&r"(b), [p] "+r"(p), [acc] "+r"(acc),
                       [w2s] "+r"(w2s)
                     : [rb] "r"(rb), [w0] "r"(w.w02_0), [w1] "r"(w.w02_1), [w2] "r"(w.w02_2), [w1s] "r"(w.w1_01)
                     : "cc", "memory");
#else
    for (int32_t y = 0; y < n; y++, p += rb) {
        int32_t a1;
        dw_pair_c(p, rb, &w, acc + y, &a1);
    }
#endif
}

/* dw_roll_one at stride_h 2: output row y reads plane rows 2y, 2y + 1, 2y + 2, and row 2y + 2 is also row 0 of
 * output y + 1: one accumulator, completed (stored) and restarted from the same split row. Per output 2 LDR,
 * 4 SXTB16, 6 multiplies, STR and per 2 outputs ADD, SUBS, BCS: 14.5 instructions per 9 MACs (the walk: 19).
 * rb3 = 3 rb (the fourth row of a turn). */
DW_INLINE void dw_roll2_one(const int8_t *p, int32_t rb, dw_w3x3_t w, int32_t *acc, int32_t n) {
#if EDGEC_HAVE_DSP
    int32_t t, q, b;
    const int32_t rb3 = 3 * rb;
    int32_t w2s = (int32_t)(((uint32_t)w.w1_2 & 0xFFFFu) | ((uint32_t)n << 16));
    __asm__ volatile("ldr %[t], [%[p]]\n\t" DW_SPLIT DW_K0S("b")
                     "subs %[w2s], %[w2s], #0x20000\n\t"
                     "bcc 3f\n"
                     "1:\n\t"
                     "ldr %[t], [%[p], %[rb]]\n\t" DW_SPLIT DW_K1S("b")
                     "ldr %[t], [%[p], %[rb], lsl #1]\n\t" DW_SPLIT DW_K2S("b")
                     "str %[b], [%[acc]], #4\n\t" DW_K0S("b")
                     "ldr %[t], [%[p], %[rb3]]\n\t" DW_SPLIT DW_K1S("b")
                     "ldr %[t], [%[p], %[rb], lsl #2]\n\t" DW_SPLIT DW_K2S("b")
                     "str %[b], [%[acc]], #4\n\t" DW_K0S("b")
                     "add %[p], %[p], %[rb], lsl #2\n\t"
                     "subs %[w2s], %[w2s], #0x20000\n\t"
                     "bcs 1b\n"
                     "3:\n\t"
                     "tst %[w2s], #0x10000\n\t"
                     "beq 4f\n\t"
                     "ldr %[t], [%[p], %[rb]]\n\t" DW_SPLIT DW_K1S("b")
                     "ldr %[t], [%[p], %[rb], lsl #1]\n\t" DW_SPLIT DW_K2S("b")
                     "str %[b], [%[acc]]\n"
                     "4:"
                     : [t] "=&r"(t), [q] "=&r"(q), [b] "=&r"(b), [p] "+r"(p), [acc] "+r"(acc), [w2s] "+r"(w2s)
                     : [rb] "r"(rb), [rb3] "r"(rb3), [w0] "r"(w.w02_0), [w1] "r"(w.w02_1), [w2] "r"(w.w02_2),
                       [w1s] "r"(w.w1_01)
                     : "cc", "memory");
#else
    for (int32_t y = 0; y < n; y++, p += 2 * rb) {
        int32_t a1;
        dw_pair_c(p, rb, &w, acc + y, &a1);
    }
#endif
}

/* Pass 1 at stride_h > 1 (no row is shared by consecutive output rows' same kernel row), the column pair: the 3
 * rows of each pair reloaded, 25 instructions per 18 MACs, acc[2y], acc[2y + 1]; step = stride_h rb */
DW_INLINE void dw_col_pair(const int8_t *p, int32_t rb, int32_t step, dw_w3x3_t w, int32_t *acc, int32_t n) {
    int32_t *const end = acc + 2 * n;
#if EDGEC_HAVE_DSP
    int32_t t, q, a0, a1;
    const int32_t w2s = w.w1_2;
    __asm__ volatile("1:\n\t"
                     "ldr %[t], [%[p]]\n\t" DW_SPLIT DW_K0("a0", "a1")
                     "ldr %[t], [%[p], %[rb]]\n\t" DW_SPLIT DW_K1("a0", "a1")
                     "ldr %[t], [%[p], %[rb], lsl #1]\n\t" DW_SPLIT DW_K2("a0", "a1")
                     "add %[p], %[p], %[step]\n\t"
                     "strd %[a0], %[a1], [%[acc]], #8\n\t"
                     "cmp %[acc], %[end]\n\t"
                     "bne 1b"
                     : [t] "=&r"(t), [q] "=&r"(q), [a0] "=&r"(a0), [a1] "=&r"(a1), [p] "+r"(p), [acc] "+r"(acc)
                     : [rb] "r"(rb), [step] "r"(step), [end] "r"(end), [w0] "r"(w.w02_0), [w1] "r"(w.w02_1),
                       [w2] "r"(w.w02_2), [w1s] "r"(w.w1_01), [w2s] "r"(w2s)
                     : "cc", "memory");
#else
    for (; acc < end; acc += 2, p += step) dw_pair_c(p, rb, &w, acc, acc + 1);
#endif
}

/* the same for one output column: acc[y], 19 instructions per 9 MACs */
DW_INLINE void dw_col_one(const int8_t *p, int32_t rb, int32_t step, dw_w3x3_t w, int32_t *acc, int32_t n) {
    int32_t *const end = acc + n;
#if EDGEC_HAVE_DSP
    int32_t t, q, a0;
    const int32_t w2s = w.w1_2;
    __asm__ volatile("1:\n\t"
                     "ldr %[t], [%[p]]\n\t" DW_SPLIT DW_K0S("a0")
                     "ldr %[t], [%[p], %[rb]]\n\t" DW_SPLIT DW_K1S("a0")
                     "ldr %[t], [%[p], %[rb], lsl #1]\n\t" DW_SPLIT DW_K2S("a0")
                     "add %[p], %[p], %[step]\n\t"
                     "str %[a0], [%[acc]], #4\n\t"
                     "cmp %[acc], %[end]\n\t"
                     "bne 1b"
                     : [t] "=&r"(t), [q] "=&r"(q), [a0] "=&r"(a0), [p] "+r"(p), [acc] "+r"(acc)
                     : [rb] "r"(rb), [step] "r"(step), [end] "r"(end), [w0] "r"(w.w02_0), [w1] "r"(w.w02_1),
                       [w2] "r"(w.w02_2), [w1s] "r"(w.w1_01), [w2s] "r"(w2s)
                     : "cc", "memory");
#else
    for (; acc < end; acc++, p += step) {
        int32_t a1;
        dw_pair_c(p, rb, &w, acc, &a1);
    }
#endif
}

/* one output of the compile-time stage from a sum already scaled by 2^pre (the taps' scale; else LSL first):
 * ADD start, SMMLAR, ADD (sign), ASR, SSAT */
#define DW_REQ(x)                                                                                               \
    "add %[" x "], %[" x "], %[start]\n\t"                                                                      \
    "smmlar %[t], %[" x "], %[m], %[round]\n\t"                                                                 \
    "add %[t], %[t], %[" x "], asr #31\n\t"                                                                     \
    "asr %[t], %[t], %[right]\n\t"                                                                              \
    "ssat %[t], #8, %[t]\n\t"

/* Pass 2 with the compile-time stage, activation [-128, 127] and the taps scaled by 2^pre: the outputs (y, x) and
 * (y, x + 1), y = 0 .. n - 1, from acc[2y], acc[2y + 1] plus the start. 2 rows a turn (an odd n enters at the
 * second): per output pair LDRD, 2 x (ADD, SMMLAR, ADD ASR #31, ASR, SSAT, STRB), per turn ADD, CMP, BNE:
 * 14.5 instructions per output pair (with the LSL and an ADD per row: 17.5) */
DW_INLINE void dw_out_pair(const int32_t *acc, int32_t n, int32_t start, int8_t *out, int32_t out_c,
                           int32_t row_step, const int32_t *mrr) {
    const int32_t m = mrr[0], round = mrr[1], right = mrr[2];
    const int32_t *const end = acc + 2 * n;
#if EDGEC_HAVE_DSP
    const int32_t rs_c = row_step + out_c;
    int32_t a0, a1, t = n & 1;
    __asm__ volatile("cmp %[t], #0\n\t"
                     "beq 1f\n\t"
                     "sub %[out], %[out], %[rs]\n\t"
                     "b 2f\n"
                     "1:\n\t"
                     "ldrd %[a0], %[a1], [%[acc]], #8\n\t" DW_REQ("a1")
                     "strb %[t], [%[out], %[out_c]]\n\t" DW_REQ("a0")
                     "strb %[t], [%[out]]\n"
                     "2:\n\t"
                     "ldrd %[a0], %[a1], [%[acc]], #8\n\t" DW_REQ("a1")
                     "strb %[t], [%[out], %[rs_c]]\n\t" DW_REQ("a0")
                     "strb %[t], [%[out], %[rs]]\n\t"
                     "add %[out], %[out], %[rs], lsl #1\n\t"
                     "cmp %[acc], %[end]\n\t"
                     "bne 1b"
                     : [a0] "=&r"(a0), [a1] "=&r"(a1), [t] "+r"(t), [acc] "+r"(acc), [out] "+r"(out)
                     : [end] "r"(end), [start] "r"(start), [m] "r"(m), [round] "r"(round), [right] "r"(right),
                       [out_c] "r"(out_c), [rs] "r"(row_step), [rs_c] "r"(rs_c)
                     : "cc", "memory");
    (void)a0, (void)a1, (void)t;
#else
    for (; acc < end; acc += 2, out += row_step) {
        out[0] = (int8_t)edgec_dsp_requant_k((int32_t)((uint32_t)acc[0] + (uint32_t)start), 0, m, round, right);
        out[out_c] = (int8_t)edgec_dsp_requant_k((int32_t)((uint32_t)acc[1] + (uint32_t)start), 0, m, round, right);
    }
#endif
}

/* the same for one column, acc[y]: 2 rows a turn from one LDRD (an odd n takes its first row alone), per output
 * pair LDRD, 2 x (ADD, SMMLAR, ADD, ASR, SSAT, STRB), ADD, CMP, BNE: 8 instructions per output (was 10) */
DW_INLINE void dw_out_one(const int32_t *acc, int32_t n, int32_t start, int8_t *out, int32_t row_step,
                          const int32_t *mrr) {
    const int32_t m = mrr[0], round = mrr[1], right = mrr[2];
    const int32_t *const end = acc + n;
#if EDGEC_HAVE_DSP
    int32_t a0, a1, t = n & 1;
    __asm__ volatile("cmp %[t], #0\n\t"
                     "beq 1f\n\t"
                     "ldr %[a0], [%[acc]], #4\n\t" DW_REQ("a0")
                     "strb %[t], [%[out]]\n\t"
                     "add %[out], %[out], %[rs]\n\t"
                     "cmp %[acc], %[end]\n\t"
                     "beq 3f\n"
                     "1:\n\t"
                     "ldrd %[a0], %[a1], [%[acc]], #8\n\t" DW_REQ("a0")
                     "strb %[t], [%[out]]\n\t" DW_REQ("a1")
                     "strb %[t], [%[out], %[rs]]\n\t"
                     "add %[out], %[out], %[rs], lsl #1\n\t"
                     "cmp %[acc], %[end]\n\t"
                     "bne 1b\n"
                     "3:"
                     : [a0] "=&r"(a0), [a1] "=&r"(a1), [t] "+r"(t), [acc] "+r"(acc), [out] "+r"(out)
                     : [end] "r"(end), [start] "r"(start), [m] "r"(m), [round] "r"(round), [right] "r"(right),
                       [rs] "r"(row_step)
                     : "cc", "memory");
    (void)a0, (void)a1, (void)t;
#else
    for (; acc < end; acc++, out += row_step)
        out[0] = (int8_t)edgec_dsp_requant_k((int32_t)((uint32_t)acc[0] + (uint32_t)start), 0, m, round, right);
#endif
}

/* A column pair of a 3x3 channel from its record k (EDGEC_DW3X3_WORDS): pass 1 (rolling at stride_h 1, when step
 * = rb) and, `fast` (the stage, full activation range, the taps scaled), pass 2 in one call; else the caller's
 * dw_out_c */
DW_NOINLINE void dw_column_pair(const int8_t *p, int32_t rb, int32_t step, const int32_t *k, int32_t *acc, int32_t n,
                                int8_t *out, int32_t out_c, int32_t row_step, int32_t fast) {
    dw_w3x3_t w;
    w.w02_0 = k[0], w.w02_1 = k[1], w.w02_2 = k[2], w.w1_01 = k[3], w.w1_2 = k[4];
    if (step == rb) dw_roll_pair(p, rb, w, acc, n);
    else dw_col_pair(p, rb, step, w, acc, n);
    if (fast) dw_out_pair(acc, n, k[5], out, out_c, row_step, k + 6);
}

/* the same for one column (rolling at stride_h 1 and 2) */
DW_NOINLINE void dw_column_one(const int8_t *p, int32_t rb, int32_t step, const int32_t *k, int32_t *acc, int32_t n,
                               int8_t *out, int32_t row_step, int32_t fast) {
    dw_w3x3_t w;
    w.w02_0 = k[0], w.w02_1 = k[1], w.w02_2 = k[2], w.w1_01 = k[3], w.w1_2 = k[4];
    if (step == rb) dw_roll_one(p, rb, w, acc, n);
    else if (step == 2 * rb) dw_roll2_one(p, rb, w, acc, n);
    else dw_col_one(p, rb, step, w, acc, n);
    if (fast) dw_out_one(acc, n, k[5], out, row_step, k + 6);
}

/* Pass 2 in C (the clamped stage, a stage whose pre-shift the taps could not take, no stage): the outputs of one
 * column (`two`: and of the next, at out + out_c) from acc[y acc_step] (and + 1) plus the start. `pre`: the stage's
 * shift left to do (0 when the taps took it); mrr: the stage's M, round, e */
DW_NOINLINE void dw_out_c(const dw_requant_t *r, const int32_t *acc, int32_t n, int32_t acc_step, int two,
                          int32_t start, int8_t *out, int32_t out_c, int32_t row_step, int32_t mode, int32_t pre,
                          const int32_t *mrr) {
    for (int32_t y = 0; y < n; y++, acc += acc_step, out += row_step) {
        for (int32_t k = 0; k <= two; k++) {
            const int32_t a = (int32_t)((uint32_t)acc[k] + (uint32_t)start);
            int32_t v;
            if (mode >= 2) {
                v = edgec_dsp_requant_k(a, pre, mrr[0], mrr[1], mrr[2]);
                if (mode == 3) v = edgec_clamp(v, r->act_min, r->act_max);
            } else {
                v = dw_output(r, a, mode);
            }
            out[k * out_c] = (int8_t)v;
        }
    }
}

/* One output channel, 3x3 kernel, in two passes per column of outputs (a pair of columns at stride_w 1): pass 1
 * multiplies down the column with nothing else in registers (rolling over the rows at stride_h 1), pass 2
 * requantizes the column. An odd out_w's last column (and every column at stride_w > 1) takes the single-column
 * pass. `k`: the channel's record (EDGEC_DW3X3_WORDS); `pre`: the stage's shift the taps did not take; `mode` as
 * dw_output; `acc`: 2 out_h int32 of scratch. */
DW_NOINLINE void dw_channel_3x3(const edgec_depthwise_conv2d_s8_params *p, const int8_t *plane, int32_t row_bytes,
                                const int32_t *k, int32_t pre, int32_t mode, const dw_requant_t *rq, int8_t *out,
                                int32_t *acc) {
    const int32_t step_y = p->stride_h * row_bytes, stride_w = p->stride_w, out_c = p->out_c;
    const int32_t out_h = p->out_h, out_w = p->out_w, row_step = out_w * out_c;
    const int32_t start = k[5], fast = mode == 2 && pre == 0;
    int32_t x = 0;
    if (stride_w == 1) {
        for (; x + 1 < out_w; x += 2) {
            dw_column_pair(plane + x, row_bytes, step_y, k, acc, out_h, out + x * out_c, out_c, row_step, fast);
            if (!fast) dw_out_c(rq, acc, out_h, 2, 1, start, out + x * out_c, out_c, row_step, mode, pre, k + 6);
        }
    }
    for (; x < out_w; x++) { /* an odd out_w's last column, or each column at stride_w > 1 */
        dw_column_one(plane + x * stride_w, row_bytes, step_y, k, acc, out_h, out + x * out_c, row_step, fast);
        if (!fast) dw_out_c(rq, acc, out_h, 1, 0, start, out + x * out_c, out_c, row_step, mode, pre, k + 6);
    }
}

/* Channel o's 3x3 record: the taps (scaled by 2^fold) as the 5 words of dw_w3x3_t, the start (scaled alike), the
 * stage's M, round, e. The stage's pre-shift moves into the taps when |w| 2^pre fits an int16 half (pre <= 8):
 * the sums then leave pass 1 as acc 2^pre (mod 2^32; exact, since the stage holds only when acc 2^pre fits int32,
 * so its sign is acc's too). Returns the shift left to the requantization (0 when the taps took it). Without a
 * stage the start is bias - zp_x sum(w) and the last 3 words are 0. */
static int32_t dw_pack_3x3(const edgec_depthwise_conv2d_s8_params *p, const int32_t *stage, int32_t o, int32_t *k) {
    const int32_t *st = stage ? stage + o * EDGEC_DSP_OUT_WORDS : NULL;
    const int32_t pre = st ? st[EDGEC_DSP_OUT_PRE] : 0, fold = pre >= 0 && pre <= 8 ? pre : 0;
    int32_t s[9];
    uint32_t weight_sum = 0;
    for (int32_t t = 0; t < 9; t++) {
        const int32_t v = p->weights[t * p->out_c + o];
        weight_sum += (uint32_t)v;
        s[t] = (int32_t)((uint32_t)v << fold);
    }
    k[0] = dw_halves(s[0], s[2]), k[1] = dw_halves(s[3], s[5]), k[2] = dw_halves(s[6], s[8]);
    k[3] = dw_halves(s[1], s[4]), k[4] = dw_halves(s[7], 0);
    /* bias - zp * sum(w), modulo 2^32: computed by the compiler when the layer has a stage */
    const uint32_t start = st ? (uint32_t)st[EDGEC_DSP_OUT_START]
                              : (p->bias ? (uint32_t)p->bias[o] : 0u) + (uint32_t)p->input_offset * weight_sum;
    k[5] = (int32_t)(start << fold);
    k[6] = st ? st[EDGEC_DSP_OUT_M] : 0, k[7] = st ? st[EDGEC_DSP_OUT_ROUND] : 0;
    k[8] = st ? st[EDGEC_DSP_OUT_RIGHT] : 0;
    return pre - fold;
}

int32_t edgec_depthwise_conv2d_s8_dsp_3x3_pack(const edgec_depthwise_conv2d_s8_params *p, const int32_t *stage,
                                               int32_t *packed) {
    int32_t ok = stage != NULL && p->k_h == 3 && p->k_w == 3;
    for (int32_t o = 0; ok && o < p->out_c; o++) ok = dw_pack_3x3(p, stage, o, packed + o * EDGEC_DW3X3_WORDS) == 0;
    return ok;
}

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
 * the channel loop, GCC kept its pointers on the stack). Per 4 bytes 4 LDRB, 3 ORR (shifted operands), STR
 * (unaligned: allowed), ADD; on the cores an assembly loop of 2 words a turn: 2.5 instructions per byte (the C
 * loop: 3.25). */
DW_NOINLINE void dw_gather(const int8_t *src, int32_t in_c, int32_t src_row, int8_t *dst, int32_t dst_row,
                           int32_t rows, int32_t cols) {
    const int32_t in_c2 = 2 * in_c, in_c3 = 3 * in_c, words = cols >> 2, rest = cols & 3;
    for (int32_t r = 0; r < rows; r++, src += src_row, dst += dst_row) {
        const uint8_t *s = (const uint8_t *)src;
        int8_t *d = dst;
#if EDGEC_HAVE_DSP /* (Armv7E-M and later: LDRB with a shifted register offset, unaligned STR) */
        if (words > 0) {
            int32_t n = (words + 1) >> 1, t, u;
            __asm__ volatile("tst %[w], #1\n\t"
                             "bne 2f\n"
                             "1:\n\t"
                             "ldrb %[t], [%[s]]\n\t"
                             "ldrb %[u], [%[s], %[c]]\n\t"
                             "orr %[t], %[t], %[u], lsl #8\n\t"
                             "ldrb %[u], [%[s], %[c], lsl #1]\n\t"
                             "orr %[t], %[t], %[u], lsl #16\n\t"
                             "ldrb %[u], [%[s], %[c3]]\n\t"
                             "orr %[t], %[t], %[u], lsl #24\n\t"
                             "str %[t], [%[d]], #4\n\t"
                             "add %[s], %[s], %[c], lsl #2\n"
                             "2:\n\t"
                             "ldrb %[t], [%[s]]\n\t"
                             "ldrb %[u], [%[s], %[c]]\n\t"
                             "orr %[t], %[t], %[u], lsl #8\n\t"
                             "ldrb %[u], [%[s], %[c], lsl #1]\n\t"
                             "orr %[t], %[t], %[u], lsl #16\n\t"
                             "ldrb %[u], [%[s], %[c3]]\n\t"
                             "orr %[t], %[t], %[u], lsl #24\n\t"
                             "str %[t], [%[d]], #4\n\t"
                             "add %[s], %[s], %[c], lsl #2\n\t"
                             "subs %[n], %[n], #1\n\t"
                             "bne 1b"
                             : [t] "=&r"(t), [u] "=&r"(u), [s] "+r"(s), [d] "+r"(d), [n] "+r"(n)
                             : [w] "r"(words), [c] "r"(in_c), [c3] "r"(in_c3)
                             : "cc", "memory");
        }
#else
        for (int32_t k = 0; k < words; k++, d += 4, s += 4 * in_c) {
            const uint32_t v = (uint32_t)s[0] | ((uint32_t)s[in_c] << 8) | ((uint32_t)s[in_c2] << 16) |
                               ((uint32_t)s[in_c3] << 24);
            memcpy(d, &v, 4);
        }
#endif
        for (int32_t k = 0; k < rest; k++, s += in_c) d[k] = (int8_t)*s;
    }
    (void)in_c2;
}

/* dw_gather for planes taller than wide (kws: 25 x 5), column by column, the row overhead paid per column instead:
 * on the cores an assembly loop of 8 rows a turn (8 LDRB, 8 STRB, 4 ADD, SUBS, BNE: 2.75 instructions per byte,
 * the C loop of 4 rows 3.25), the rest in C */
DW_NOINLINE void dw_gather_cols(const int8_t *src, int32_t in_c, int32_t src_row, int8_t *dst, int32_t dst_row,
                                int32_t rows, int32_t cols) {
    const int32_t s2 = 2 * src_row, s3 = 3 * src_row, d2 = 2 * dst_row, d3 = 3 * dst_row;
    for (int32_t x = 0; x < cols; x++, src += in_c, dst++) {
        const int8_t *s = src;
        int8_t *d = dst;
        int32_t r = rows;
#if EDGEC_HAVE_DSP
        if (r >= 8) {
            int32_t n = r >> 3, t, u;
            const int8_t *s4 = s + 4 * src_row;
            int8_t *d4 = d + 4 * dst_row;
            __asm__ volatile("1:\n\t"
                             "ldrb %[t], [%[s]]\n\t"
                             "ldrb %[u], [%[s], %[sr]]\n\t"
                             "strb %[t], [%[d]]\n\t"
                             "strb %[u], [%[d], %[dr]]\n\t"
                             "ldrb %[t], [%[s], %[sr], lsl #1]\n\t"
                             "ldrb %[u], [%[s], %[s3]]\n\t"
                             "strb %[t], [%[d], %[dr], lsl #1]\n\t"
                             "strb %[u], [%[d], %[d3]]\n\t"
                             "ldrb %[t], [%[s4]]\n\t"
                             "ldrb %[u], [%[s4], %[sr]]\n\t"
                             "strb %[t], [%[d4]]\n\t"
                             "strb %[u], [%[d4], %[dr]]\n\t"
                             "ldrb %[t], [%[s4], %[sr], lsl #1]\n\t"
                             "ldrb %[u], [%[s4], %[s3]]\n\t"
                             "strb %[t], [%[d4], %[dr], lsl #1]\n\t"
                             "strb %[u], [%[d4], %[d3]]\n\t"
                             "add %[s], %[s], %[sr], lsl #3\n\t"
                             "add %[s4], %[s4], %[sr], lsl #3\n\t"
                             "add %[d], %[d], %[dr], lsl #3\n\t"
                             "add %[d4], %[d4], %[dr], lsl #3\n\t"
                             "subs %[n], %[n], #1\n\t"
                             "bne 1b"
                             : [t] "=&r"(t), [u] "=&r"(u), [s] "+r"(s), [d] "+r"(d), [s4] "+r"(s4), [d4] "+r"(d4),
                               [n] "+r"(n)
                             : [sr] "r"(src_row), [s3] "r"(s3), [dr] "r"(dst_row), [d3] "r"(d3)
                             : "cc", "memory");
            r &= 7;
        }
#endif
        for (; r >= 4; r -= 4, s += 4 * src_row, d += 4 * dst_row) {
            const int8_t b0 = s[0], b1 = s[src_row], b2 = s[s2], b3 = s[s3];
            d[0] = b0, d[dst_row] = b1, d[d2] = b2, d[d3] = b3;
        }
        for (; r > 0; r--, s += src_row, d += dst_row) *d = *s;
    }
}

/* 4 channels at once into 4 planes pb bytes apart: per pixel one word of the 4 channels (an unaligned LDR; the
 * cores and hosts are little-endian: byte k is channel k), its bytes stored by STRB, LSR + STRB x 3. The call and
 * row overheads, most of a small plane's copy, are shared by 4 channels (vww's 6 x 6 layers: 282 -> about 150
 * instructions per channel; 2 pixels a step by byte-pair transposes and STRH measured no better on these widths). */
DW_NOINLINE void dw_gather4(const int8_t *src, int32_t in_c, int32_t src_row, int8_t *dst, int32_t dst_row,
                            int32_t pb, int32_t rows, int32_t cols) {
    for (int32_t r = 0; r < rows; r++, src += src_row, dst += dst_row) {
        const int8_t *s = src;
        int8_t *d = dst;
        for (int32_t x = 0; x < cols; x++, s += in_c, d++) {
            uint32_t v;
            memcpy(&v, s, 4);
            d[0] = (int8_t)v, d[pb] = (int8_t)(v >> 8), d[2 * pb] = (int8_t)(v >> 16), d[3 * pb] = (int8_t)(v >> 24);
        }
    }
}

/* out[b,y,x,i*dm+m] = clamp(zp_out + MBQM(bias + sum_{ky,kx} w[ky,kx,i*dm+m] * (in[b,iy,ix,i] - zp_in)))
 * In place (input == output, depth multiplier 1): channel c is copied to a plane before any of its outputs is
 * written (4 channels at once with 4 planes, before any output of the 4), and output pixel q of batch b goes to slot (b * out_h * out_w + q) * in_c + c, at or before input
 * pixel b * in_h * in_w + q, in channel c: it overwrites only channel c of this batch (saved in the plane) or
 * input of an earlier batch (consumed): the argument of edgec_depthwise_conv2d_s8_inplace.
 * `packed`: the 3x3 records of every output channel (edgec_depthwise_conv2d_s8_dsp_3x3), else NULL. */
static void dw_run(const edgec_depthwise_conv2d_s8_params *p, const int32_t *stage, const int32_t *packed,
                   const int8_t *input, int8_t *output, int8_t *plane) {
    const dw_plane_t g = dw_plane_geometry(p);
    const int8_t zp = (int8_t)(-p->input_offset);
    const int32_t in_c = p->in_c, dm = p->depth_multiplier, out_c = p->out_c;
    const int32_t k_taps = p->k_h * p->k_w, groups = p->k_w / 4;
    const int is_3x3 = p->k_h == 3 && p->k_w == 3, full = p->act_min == -128 && p->act_max == 127;
    const int32_t mode = stage || packed ? (full ? 2 : 3) : p->rounding;
    /* the input rows and columns the plane holds (the rest of the plane is the zp border) */
    const int32_t y_end = edgec_min(p->in_h, g.rows - p->pad_top);
    const int32_t x_end = edgec_min(p->in_w, g.row_bytes - p->pad_left);
    int8_t *const interior = plane + p->pad_top * g.row_bytes + p->pad_left;
    const int32_t in_row = p->in_w * in_c, by_cols = y_end > 2 * x_end;
    const int32_t pb = g.rows * g.row_bytes, planes = dw_planes(p, &g);
    /* the column sums after the planes: each a multiple of 4 bytes and `plane` 4-byte aligned (STRD) */
    int32_t *const acc = (int32_t *)(void *)(plane + planes * pb);
    dw_requant_t bounds;
    memset(&bounds, 0, sizeof bounds);
    bounds.act_min = p->act_min, bounds.act_max = p->act_max;
    for (int32_t k = 0; k < planes * pb; k++) plane[k] = zp;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * in_c;
        int8_t *out_b = output + b * p->out_h * p->out_w * out_c;
        for (int32_t i = 0; i < in_c;) {
            /* gather channels i .. i + n - 1 into the planes' interiors */
            int32_t n = 1;
            if (planes == 4 && i + 4 <= in_c) {
                dw_gather4(in_b + i, in_c, in_row, interior, g.row_bytes, pb, y_end, x_end);
                n = 4;
            } else if (by_cols) {
                dw_gather_cols(in_b + i, in_c, in_row, interior, g.row_bytes, y_end, x_end);
            } else {
                dw_gather(in_b + i, in_c, in_row, interior, g.row_bytes, y_end, x_end);
            }
            for (int32_t j = 0; j < n; j++, i++) {
            for (int32_t m = 0; m < dm; m++) { /* output channel o of input channel i, from plane j */
                const int8_t *const pl = plane + j * pb;
                const int32_t o = i * dm + m;
                if (packed) { /* the compiler's records: nothing to prepare (the clamp's bounds only) */
                    dw_channel_3x3(p, pl, g.row_bytes, packed + o * EDGEC_DW3X3_WORDS, 0, mode, &bounds,
                                   out_b + o, acc);
                    continue;
                }
                dw_requant_t rq = dw_requant_of(p, o, p->rounding);
                if (is_3x3) {
                    int32_t k[EDGEC_DW3X3_WORDS];
                    const int32_t pre = dw_pack_3x3(p, stage, o, k);
                    rq.stage = stage ? stage + o * EDGEC_DSP_OUT_WORDS : NULL;
                    dw_channel_3x3(p, pl, g.row_bytes, k, pre, mode, &rq, out_b + o, acc);
                    continue;
                }
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
                int32_t w02[EDGEC_DW_DSP_MAX_K * EDGEC_DW_DSP_MAX_K / 4];
                int32_t w13[EDGEC_DW_DSP_MAX_K * EDGEC_DW_DSP_MAX_K / 4];
                for (int32_t r = 0; r < p->k_h; r++) {
                    for (int32_t q = 0; q < groups; q++) {
                        const int32_t *t = taps + r * p->k_w + 4 * q;
                        w02[r * groups + q] = dw_halves(t[0], t[2]);
                        w13[r * groups + q] = dw_halves(t[1], t[3]);
                    }
                }
                dw_channel_any(p, pl, g.row_bytes, w02, w13, taps, start, o, out_b + o, st);
            }
            }
        }
    }
}

void edgec_depthwise_conv2d_s8_dsp(const edgec_depthwise_conv2d_s8_params *p, const int32_t *stage,
                                   const int8_t *input, int8_t *output, int8_t *plane) {
    dw_run(p, stage, NULL, input, output, plane);
}

void edgec_depthwise_conv2d_s8_dsp_3x3(const edgec_depthwise_conv2d_s8_params *p, const int32_t *packed,
                                       const int8_t *input, int8_t *output, int8_t *plane) {
    dw_run(p, NULL, packed, input, output, plane);
}

/* ---- Channels last: the 3x3 layers of small planes and stride 2 (edgec_depthwise_conv2d_s8_dsp_cl) ----------
 *
 * No plane: 4 channels of an output pixel at a time, straight from the HWC input. The word of 4 channels
 * c0..c3 at one input pixel, SXTAB16 with the input offset in both halves (io = -zp_x), gives (x0 - zp, x2 - zp)
 * and, ROR 8, (x1 - zp, x3 - zp) (each in [-255, 255]: an int16 half); the tap's 2 record words hold the 4
 * channels' weights (w0, w2), (w1, w3) as int16 halves, so SMLABB and SMLATT add one channel's product each:
 *   per tap and 4 channels LDR, 2 SXTAB16, LDRD, 4 multiplies: 8 instructions per 4 MACs.
 * The zero point is subtracted per tap (not folded into the start), so the window's taps outside the input are
 * simply skipped: each pixel runs the rows ky0..ky1 - 1 and columns kx0..kx1 - 1 its window has inside the input
 * (one of 9 straight-line bodies by row and column count), and the start is the bias alone. Then per channel
 * LDM (M, round, e), SMMLAR, ADD ASR #31, ASR, SSAT, STRB: the compile-time stage with the taps and the bias
 * scaled by 2^pre (as the 3x3 records; exact for the same reason). With the fixed costs (the starts, the row
 * steps, the group loop) about 2 T + 8 instructions per output of T inside taps, independent of the plane: vww's
 * 6 x 6 and 3 x 3 layers have 7.1 and 5.4 inside taps per output. A channel count not a multiple of 4 leaves a
 * last group of 1-3 channels, done in C (byte loads; never reading past the pixel's channels); an activation
 * narrower than [-128, 127] clamps the stored bytes after (clamp(ssat8(v)) = clamp(v) inside [-128, 127]). */

/* a tap: the 4 channels' word at pr + XO, their weights at WA (the record's tap words); the split minus the zero
 * point (DW_CL_SPLIT is redefined for the wholly inside windows, whose start has the zero point folded in) */
#define DW_CL_SPLIT "sxtab16 %[q], %[z], %[t]\n\tsxtab16 %[t], %[z], %[t], ror #8\n\t"
/* a record group's head: 4 bias starts, 4 starts with the zero point folded in, (M, round, e) x 4 */
#define DW_CL_HEAD 20
#define DW_CL_TAP(XO, WA)                                                                                      \
    "ldr %[t], [%[pr]" XO "]\n\t" DW_CL_SPLIT                                                                 \
    "ldrd %[w0], %[w1], " WA "\n\t"                                                                            \
    "smlabb %[a0], %[q], %[w0], %[a0]\n\t"                                                                     \
    "smlatt %[a2], %[q], %[w0], %[a2]\n\t"                                                                     \
    "smlabb %[a1], %[t], %[w1], %[a1]\n\t"                                                                     \
    "smlatt %[a3], %[t], %[w1], %[a3]\n\t"
/* a row of 1, 2, 3 taps: columns at pr, pr + c, pr + 2c. The weights: the window's first inside tap post-indexes
 * pw to the next group's (+72), the others are at 8 (3 r + t) - 72 from there */
#define DW_CL_R1(W0, W1, W2) DW_CL_TAP("", W0)
#define DW_CL_R2(W0, W1, W2) DW_CL_TAP("", W0) DW_CL_TAP(", %[c]", W1)
#define DW_CL_R3(W0, W1, W2) DW_CL_TAP("", W0) DW_CL_TAP(", %[c]", W1) DW_CL_TAP(", %[c], lsl #1", W2)
#define DW_CL_NEXT "add %[pr], %[pr], %[rs]\n\t"
#define DW_CL_ROW0(R) R("[%[pw]], #72", "[%[pw], #-64]", "[%[pw], #-56]")
#define DW_CL_ROWS1(R) DW_CL_ROW0(R)
#define DW_CL_ROWS2(R) DW_CL_ROW0(R) DW_CL_NEXT R("[%[pw], #-48]", "[%[pw], #-40]", "[%[pw], #-32]")
/* the input pointer back to the next group's 4 channels of the window's first inside tap */
#define DW_CL_BACK1 "add %[pr], %[pr], #4\n\t"
#define DW_CL_BACK2 "sub %[pr], %[pr], %[rs]\n\t" DW_CL_BACK1
/* 3 rows (and 2 rows of 1 column): column by column, rows at pr, pr + rs, pr + 2 rs (LDR's register offset LSL
 * #1), one ADD of c between columns: one pointer step fewer than by rows (4 for 3 x 3, was 5) */
#define DW_CL_C3(W0, W1, W2) DW_CL_TAP("", W0) DW_CL_TAP(", %[rs]", W1) DW_CL_TAP(", %[rs], lsl #1", W2)
#define DW_CL_STEP "add %[pr], %[pr], %[c]\n\t"
#define DW_CL_COLS1 DW_CL_C3("[%[pw]], #72", "[%[pw], #-48]", "[%[pw], #-24]")
#define DW_CL_COLS2 DW_CL_COLS1 DW_CL_STEP DW_CL_C3("[%[pw], #-64]", "[%[pw], #-40]", "[%[pw], #-16]")
#define DW_CL_COLS3 DW_CL_COLS2 DW_CL_STEP DW_CL_C3("[%[pw], #-56]", "[%[pw], #-32]", "[%[pw], #-8]")
#define DW_CL_CBACK2 "sub %[pr], %[pr], %[c]\n\t" DW_CL_BACK1
#define DW_CL_CBACK3 "sub %[pr], %[pr], %[c], lsl #1\n\t" DW_CL_BACK1
#define DW_CL_2X1 DW_CL_TAP("", "[%[pw]], #72") DW_CL_TAP(", %[rs]", "[%[pw], #-48]")

/* one channel of the stage: LDM (M, round, e) into r5, r6, r7 (q, w0, w1), SMMLAR, ADD ASR #31, ASR, SSAT, STRB
 * (the output pointer in lr, the z register's, reloaded after) */
#define DW_CL_REQ(A)                                                                                           \
    "ldm %[pq]!, {r5, r6, r7}\n\t"                                                                             \
    "smmlar r4, %[" A "], r5, r6\n\t"                                                                          \
    "add r4, r4, %[" A "], asr #31\n\t"                                                                        \
    "asr r4, r4, r7\n\t"                                                                                       \
    "ssat r4, #8, r4\n\t"                                                                                      \
    "strb r4, [lr], #1\n\t"

/* The groups of whole 4 channels of n pixels (step input bytes apart) whose windows have the same inside taps, one
 * loop of groups in assembly per pixel: px at the window's first inside tap (channel 0), packed the first group's
 * starts and stages (16 words a group: LDM), pw0 the first group's words of that tap (18 words a group), rs the
 * input row bytes. Every register is fixed (LDM lists must ascend): a0..a3 r0..r3, t, q, w0, w1 r4..r7, pr r8,
 * pw r9, pq r10, c r11, rs r12, z lr; the output pointer and z in memory. Per group LDM (the starts), 8
 * instructions per inside tap, s = 1 to 4 pointer steps (between rows or columns, and back to the next group's
 * channels), 6 per channel of the stage, 3 for the output pointer and z, 2 for the loop (CMP, BGE on the flag in
 * bit 31 of the last whole group's fourth e, which ASR ignores: it reads the bottom byte): 30 + s + 8 T
 * instructions per 4 outputs of T inside taps. */
#if EDGEC_HAVE_DSP
#define DW_CL_GROUPS(NAME, TAPS, BACK)                                                                      \
    DW_NOINLINE void NAME(const int8_t *px, const int32_t *packed, const int32_t *pw0, int8_t *out, int32_t c, \
                          int32_t rs, int32_t z, int32_t n, int32_t step) {                                    \
        do {                                                                                                   \
            register int32_t a0 __asm__("r0"), a1 __asm__("r1"), a2 __asm__("r2"), a3 __asm__("r3");           \
            register int32_t t __asm__("r4"), q __asm__("r5"), w0 __asm__("r6"), w1 __asm__("r7");             \
            register const int8_t *pr __asm__("r8") = px;                                                      \
            register const int32_t *pw __asm__("r9") = pw0;                                                    \
            register const int32_t *pq __asm__("r10") = packed;                                                \
            register int32_t cr __asm__("r11") = c;                                                            \
            register int32_t rr __asm__("r12") = rs;                                                           \
            register int32_t zr __asm__("lr") = z;                                                             \
            __asm__ volatile("1:\n\t"                                                                          \
                             "ldm %[pq]!, {r0-r7}\n\t" TAPS BACK                                   \
                             "ldr lr, %[out]\n\t" DW_CL_REQ("a0") DW_CL_REQ("a1") DW_CL_REQ("a2")              \
                                 DW_CL_REQ("a3")                                                               \
                             "str lr, %[out]\n\t"                                                              \
                             "ldr lr, %[zm]\n\t"                                                               \
                             "cmp r7, #0\n\t"                                                                  \
                             "bge 1b"                                                                          \
                             : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [t] "=&r"(t),   \
                               [q] "=&r"(q), [w0] "=&r"(w0), [w1] "=&r"(w1), [pr] "+r"(pr), [pw] "+r"(pw),     \
                               [pq] "+r"(pq), [z] "+r"(zr), [out] "+m"(out)                                    \
                             : [c] "r"(cr), [rs] "r"(rr), [zm] "m"(z)                          \
                             : "cc", "memory");                                                                \
            px += step;                                                                                        \
        } while (--n > 0);                                                                                     \
    }
DW_CL_GROUPS(dw_cl_1x1, DW_CL_ROWS1(DW_CL_R1), DW_CL_BACK1)
DW_CL_GROUPS(dw_cl_1x2, DW_CL_ROWS1(DW_CL_R2), DW_CL_BACK1)
DW_CL_GROUPS(dw_cl_1x3, DW_CL_ROWS1(DW_CL_R3), DW_CL_BACK1)
DW_CL_GROUPS(dw_cl_2x1, DW_CL_2X1, DW_CL_BACK1)
DW_CL_GROUPS(dw_cl_2x2, DW_CL_ROWS2(DW_CL_R2), DW_CL_BACK2)
DW_CL_GROUPS(dw_cl_2x3, DW_CL_ROWS2(DW_CL_R3), DW_CL_BACK2)
DW_CL_GROUPS(dw_cl_3x1, DW_CL_COLS1, DW_CL_BACK1)
DW_CL_GROUPS(dw_cl_3x2, DW_CL_COLS2, DW_CL_CBACK2)
DW_CL_GROUPS(dw_cl_3x3, DW_CL_COLS3, DW_CL_CBACK3)

/* A run of n pixels whose 3 x 3 windows are wholly inside (C % 4 == 0), the pixel loop in assembly too: the start
 * with the zero point folded in (bias - zp sum(w), scaled), so SXTB16 splits the raw inputs and no z register is
 * needed: the output pointer stays in lr. The accumulators in r4..r7 and the temporaries in r0..r3 (one LDM of 8
 * words reads the bias starts into r0..r3, unused, and the folded ones into r4..r7; the stage's LDM into r1..r3).
 * Per group 1 + 72 + 4 + 24 + 2 = 103 instructions (the general body: 106), per pixel 9. stepmc = step - c: the
 * input pointer ends a pixel's groups at its next channels, c on. */
#undef DW_CL_SPLIT
#define DW_CL_SPLIT "sxtb16 %[q], %[t]\n\tsxtb16 %[t], %[t], ror #8\n\t"
#define DW_CL_REQ_IN(A)                                                                                        \
    "ldm %[pq]!, {r1, r2, r3}\n\t"                                                                             \
    "smmlar r0, %[" A "], r1, r2\n\t"                                                                          \
    "add r0, r0, %[" A "], asr #31\n\t"                                                                        \
    "asr r0, r0, r3\n\t"                                                                                       \
    "ssat r0, #8, r0\n\t"                                                                                      \
    "strb r0, [%[o]], #1\n\t"
DW_NOINLINE void dw_cl_in3x3(const int8_t *px, const int32_t *packed, const int32_t *pw0, int8_t *out, int32_t c,
                             int32_t rs, int32_t n, int32_t stepmc) {
    register int32_t a0 __asm__("r4"), a1 __asm__("r5"), a2 __asm__("r6"), a3 __asm__("r7");
    register int32_t t __asm__("r0"), q __asm__("r1"), w0 __asm__("r2"), w1 __asm__("r3");
    register const int8_t *pr __asm__("r8") = px;
    register const int32_t *pw __asm__("r9") = pw0;
    register const int32_t *pq __asm__("r10") = packed;
    register int32_t cr __asm__("r11") = c;
    register int32_t rr __asm__("r12") = rs;
    register int8_t *o __asm__("lr") = out;
    __asm__ volatile("1:\n\t"
                     "ldm %[pq]!, {r0-r7}\n\t" DW_CL_COLS3 DW_CL_CBACK3 DW_CL_REQ_IN("a0") DW_CL_REQ_IN("a1")
                         DW_CL_REQ_IN("a2") DW_CL_REQ_IN("a3")
                     "cmp r3, #0\n\t"
                     "bge 1b\n\t"
                     "ldr r0, %[n]\n\t"
                     "subs r0, r0, #1\n\t"
                     "str r0, %[n]\n\t"
                     "beq 2f\n\t"
                     "ldr r0, %[stepmc]\n\t"
                     "add %[pr], %[pr], r0\n\t"
                     "ldr %[pq], %[packed]\n\t"
                     "ldr %[pw], %[pw0]\n\t"
                     "b 1b\n"
                     "2:"
                     : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3), [t] "=&r"(t), [q] "=&r"(q),
                       [w0] "=&r"(w0), [w1] "=&r"(w1), [pr] "+r"(pr), [pw] "+r"(pw), [pq] "+r"(pq), [o] "+r"(o),
                       [n] "+m"(n)
                     : [c] "r"(cr), [rs] "r"(rr), [stepmc] "m"(stepmc), [packed] "m"(packed), [pw0] "m"(pw0)
                     : "cc", "memory");
}

typedef void (*dw_cl_fn)(const int8_t *, const int32_t *, const int32_t *, int8_t *, int32_t, int32_t, int32_t,
                         int32_t, int32_t);
#endif

/* channel j (0..3) of a group's tap: the weight from the group's 18 tap words */
static inline int32_t dw_cl_weight(const int32_t *taps, int32_t tap, int32_t j) {
    const int32_t word = taps[2 * tap + (j & 1)];
    return j & 2 ? word >> 16 : (int32_t)(int16_t)(word & 0xFFFF);
}

/* the C form of a group (the host; the last group of 1-3 channels on the cores): channels n (1..4); sq the
 * group's 16 words of starts and stages, taps its 18 tap words */
static void dw_cl_group_c(const int8_t *px, const int32_t *sq, const int32_t *taps, int32_t ky0, int32_t kx0,
                          int32_t nr, int32_t nt, int32_t n, int8_t *out, int32_t c, int32_t row, int32_t io) {
    for (int32_t j = 0; j < n; j++) {
        uint32_t acc = (uint32_t)sq[j];
        for (int32_t r = 0; r < nr; r++) {
            for (int32_t t = 0; t < nt; t++) {
                const int32_t x = px[r * row + t * c + j] + io;
                acc += (uint32_t)(x * dw_cl_weight(taps, (ky0 + r) * 3 + kx0 + t, j));
            }
        }
        const int32_t *st = sq + 8 + 3 * j;
        out[j] = (int8_t)edgec_dsp_requant_k((int32_t)acc, 0, st[0], st[1], st[2] & 0xFF);
    }
}

int32_t edgec_depthwise_conv2d_s8_dsp_cl_pack(const edgec_depthwise_conv2d_s8_params *p, const int32_t *stage,
                                              int32_t *packed) {
    if (stage == NULL || p->k_h != 3 || p->k_w != 3 || p->depth_multiplier != 1) return 0;
    for (int32_t o = 0; o < p->out_c; o++) {
        const int32_t pre = stage[o * EDGEC_DSP_OUT_WORDS + EDGEC_DSP_OUT_PRE];
        if (pre < 0 || pre > 8) return 0;
    }
    const int32_t groups = (p->out_c + 3) / 4;
    memset(packed, 0, sizeof(int32_t) * (size_t)(groups * EDGEC_DWCL_WORDS));
    for (int32_t o = 0; o < p->out_c; o++) {
        const int32_t *st = stage + o * EDGEC_DSP_OUT_WORDS;
        int32_t *rec = packed + (o / 4) * DW_CL_HEAD, *taps = packed + DW_CL_HEAD * groups + (o / 4) * 18;
        const int32_t j = o % 4, pre = st[EDGEC_DSP_OUT_PRE];
        uint32_t weight_sum = 0;
        for (int32_t t = 0; t < 9; t++) {
            const int32_t v = p->weights[t * p->out_c + o];
            weight_sum += (uint32_t)v;
            const uint32_t half = ((uint32_t)v << pre) & 0xFFFFu;
            taps[2 * t + (j & 1)] |= (int32_t)(j & 2 ? half << 16 : half);
        }
        /* the stage's start is bias + io sum(w): the bias alone, scaled by 2^pre (mod 2^32) */
        const uint32_t bias = (uint32_t)st[EDGEC_DSP_OUT_START] - (uint32_t)p->input_offset * weight_sum;
        rec[j] = (int32_t)(bias << pre);
        rec[4 + j] = (int32_t)((uint32_t)st[EDGEC_DSP_OUT_START] << pre); /* with the zero point folded in */
        rec[8 + 3 * j] = st[EDGEC_DSP_OUT_M], rec[9 + 3 * j] = st[EDGEC_DSP_OUT_ROUND];
        rec[10 + 3 * j] = st[EDGEC_DSP_OUT_RIGHT];
        if (j == 3 && o / 4 == p->out_c / 4 - 1) rec[10 + 3 * j] |= INT32_MIN; /* the last whole group's flag */
    }
    return 1;
}

/* the layer's constants of the channels-last path */
typedef struct {
    const int32_t *packed, *taps;
    int32_t c, row, whole, rest, io, step, narrow, act_min, act_max;
} dw_cl_layer_t;

/* n pixels of one output row whose windows have the same inside taps (rows ky0 .. ky0 + nr - 1, columns kx0 ..
 * kx0 + nt - 1): px at the first one's first inside tap, the next ones step input bytes on; outputs from out on.
 * With whole groups only (C % 4 == 0: the groups' output pointer runs on into the next pixel) the run is one call. */
static void dw_cl_run(const dw_cl_layer_t *k, const int8_t *px, int8_t *out, int32_t ky0, int32_t nr, int32_t kx0,
                      int32_t nt, int32_t n) {
    const int32_t c = k->c;
    if (nr <= 0 || nt <= 0) { /* no tap inside: the bias alone (a window wholly in the padding) */
        for (int32_t i = 0; i < n * c; i++) {
            const int32_t *sq = k->packed + (i % c / 4) * DW_CL_HEAD, j = i % c % 4;
            out[i] = (int8_t)edgec_dsp_requant_k(sq[j], 0, sq[8 + 3 * j], sq[9 + 3 * j], sq[10 + 3 * j] & 0xFF);
        }
    } else {
        const int32_t *const pw = k->taps + 2 * (ky0 * 3 + kx0);
#if EDGEC_HAVE_DSP
        static const dw_cl_fn fns[9] = {dw_cl_1x1, dw_cl_1x2, dw_cl_1x3, dw_cl_2x1, dw_cl_2x2,
                                        dw_cl_2x3, dw_cl_3x1, dw_cl_3x2, dw_cl_3x3};
        const dw_cl_fn fn = fns[(nr - 1) * 3 + nt - 1];
        const int32_t z = (int32_t)(((uint32_t)k->io & 0xFFFFu) | ((uint32_t)k->io << 16));
        if (k->rest == 0 && nr == 3 && nt == 3) {
            dw_cl_in3x3(px, k->packed, pw, out, c, k->row, n, k->step - c);
        } else if (k->rest == 0) {
            fn(px, k->packed, pw, out, c, k->row, z, n, k->step);
        } else {
            for (int32_t i = 0; i < n; i++) {
                const int8_t *pi = px + i * k->step;
                int8_t *oi = out + i * c;
                if (k->whole > 0) fn(pi, k->packed, pw, oi, c, k->row, z, 1, 0);
                dw_cl_group_c(pi + 4 * k->whole, k->packed + DW_CL_HEAD * k->whole, k->taps + 18 * k->whole, ky0, kx0, nr,
                              nt, k->rest, oi + 4 * k->whole, c, k->row, k->io);
            }
        }
        (void)pw;
#else
        for (int32_t i = 0; i < n; i++) {
            for (int32_t g = 0; g * 4 < c; g++) {
                dw_cl_group_c(px + i * k->step + 4 * g, k->packed + DW_CL_HEAD * g, k->taps + 18 * g, ky0, kx0, nr, nt,
                              edgec_min(4, c - 4 * g), out + i * c + 4 * g, c, k->row, k->io);
            }
        }
        (void)pw;
#endif
    }
    if (k->narrow)
        for (int32_t i = 0; i < n * c; i++) out[i] = (int8_t)edgec_clamp(out[i], k->act_min, k->act_max);
}

void edgec_depthwise_conv2d_s8_dsp_cl(const edgec_depthwise_conv2d_s8_params *p, const int32_t *packed,
                                      const int8_t *input, int8_t *output) {
    const int32_t c = p->in_c, in_h = p->in_h, in_w = p->in_w, out_h = p->out_h, out_w = p->out_w;
    const int32_t sw = p->stride_w, pad_left = p->pad_left;
    dw_cl_layer_t k;
    k.packed = packed, k.c = c, k.row = in_w * c, k.whole = c / 4, k.rest = c % 4, k.io = p->input_offset;
    k.taps = packed + DW_CL_HEAD * ((c + 3) / 4); /* the tap words after every group's starts and stages */
    k.step = sw * c, k.act_min = p->act_min, k.act_max = p->act_max;
    k.narrow = p->act_min > -128 || p->act_max < 127;
    /* the output columns whose windows are wholly inside the input: x_lo .. x_hi - 1 (one run per row) */
    const int32_t x_lo = edgec_min(out_w, (pad_left + sw - 1) / sw);
    const int32_t x_hi = in_w + pad_left >= 3 ? edgec_min(out_w, (in_w + pad_left - 3) / sw + 1) : 0;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * in_h * k.row;
        int8_t *out = output + b * out_h * out_w * c;
        for (int32_t y = 0; y < out_h; y++, out += out_w * c) {
            const int32_t iy = y * p->stride_h - p->pad_top;
            const int32_t ky0 = iy < 0 ? -iy : 0, nr = edgec_min(3, in_h - iy) - ky0;
            const int8_t *in_y = in_b + (iy + ky0) * k.row;
            for (int32_t x = 0; x < out_w;) {
                const int32_t ix = x * sw - pad_left;
                const int32_t kx0 = ix < 0 ? -ix : 0, nt = edgec_min(3, in_w - ix) - kx0;
                const int32_t n = x >= x_lo && x < x_hi ? x_hi - x : 1; /* the inside run, or one border pixel */
                dw_cl_run(&k, in_y + (ix + kx0) * c, out + x * c, ky0, nr, kx0, nt, n);
                x += n;
            }
        }
    }
}
