#include "pool2d_s8_dsp.h"

#include "edgec_acle.h"
#include "edgec_fixedpoint.h"

/* out[b, y, x, c] = clamp(sign(s) floor((|s| + floor(n / 2)) / n))  (average; TFLite's (s +- n/2) / n with C's
 *                   truncating division),  or  clamp(max of the window)  (max);  s and the max over the window's n
 * taps inside the input (padding is not counted), as runtime/pool2d_s8.c.
 *
 * The sums. One 32-bit load holds 4 channels of a tap; SXTAB16 adds bytes b0, b2 into the two 16-bit halves of
 * one accumulator and SXTAB16 ROR #8 bytes b1, b3 into another: 3 instructions per 4 channels and tap (the load
 * and 2 adds), 8 channels per pass, 4 taps per turn of an assembly loop (27 instructions: GCC's own loop keeps one
 * tap a turn). A window whose rows span whole rows of the input buffer (global pooling) is one run of taps. A half
 * holds the sum of at most 256 int8 (-32,768..32,512), hence EDGEC_AVG_POOL_DSP_MAX_TAPS.
 *
 * The division. For d = |s| + floor(n / 2) >= 0, n >= 2 and m = ceil(2^32 / n):
 *     floor(d m / 2^32) = floor(d / n)   whenever d n < 2^32
 * (d m / 2^32 = d / n + d e / 2^32 with e = m - 2^32 / n in [0, 1); the fraction of d / n is at most 1 - 1/n and
 * d e / 2^32 < d / 2^32 < 1 / n never reaches the next integer). Here d <= 128 n + n / 2 and n <= 256, so d n <
 * 2^24. The code generator checks the same over every count of taps the layer's windows have (pool2d.py) and
 * passes m for the full window; a clipped window (SAME padding, regions) computes its m once per pixel. UMULL's
 * top word is the quotient: per channel about 9 instructions (the half out, |s|, + n/2, UMULL, the sign back, into
 * its byte), then per 4 channels the clamp as SSUB8 + SEL pairs (below) and one store. n = 1 takes d itself.
 *
 * The max. SSUB8 a, b sets the GE flag of each byte lane where a >= b (signed) and SEL picks a's byte there, b's
 * elsewhere: 2 instructions per 4 channels and tap after the load; the clamp is the same pair against the
 * activation bounds in all 4 bytes.
 *
 * Cost per input element read: about 0.85 instructions (average: 27 per 4 taps of 8 channels) and 1.1 (max: 2
 * loads, 4 SSUB8/SEL, pointer step and loop per tap of 8 channels); the portable kernels take 8.7. kws's global
 * pool (125 taps, 64 channels) takes 8,902 instructions on the Cortex-M4, 69,289 on the portable kernel. */

#if EDGEC_HAVE_DSP
/* per signed byte: max(a, b) and min(a, b) (SSUB8 sets GE where a >= b, SEL takes a's byte there) */
static inline int32_t max_s8x4(int32_t a, int32_t b) {
    int32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
}
static inline int32_t min_s8x4(int32_t a, int32_t b) {
    int32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %2, %1" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
}
#else /* the C models of the same pair */
static inline int32_t pick_s8x4(int32_t a, int32_t b, int want_max) {
    uint32_t r = 0;
    for (int k = 0; k < 4; k++) {
        const int32_t x = (int8_t)(uint8_t)((uint32_t)a >> (8 * k)), y = (int8_t)(uint8_t)((uint32_t)b >> (8 * k));
        const int32_t v = (x >= y) == (want_max != 0) ? x : y;
        r |= (uint32_t)(uint8_t)v << (8 * k);
    }
    return (int32_t)r;
}
static inline int32_t max_s8x4(int32_t a, int32_t b) { return pick_s8x4(a, b, 1); }
static inline int32_t min_s8x4(int32_t a, int32_t b) { return pick_s8x4(a, b, 0); }
#endif

/* the window of output (y, x) clipped to the full input, in the input buffer's coordinates (edgec_region.h) */
typedef struct { int32_t y0, rows, x0, cols; } span_t;

static inline span_t clipped(const edgec_pool2d_s8_params *p, const edgec_region *r, int32_t y, int32_t x) {
    span_t s;
    const int32_t in_y = y * p->stride_h - p->pad_top, in_x = x * p->stride_w - p->pad_left;
    const int32_t y0 = edgec_max(in_y, 0), x0 = edgec_max(in_x, 0);
    s.rows = edgec_min(in_y + p->k_h, p->in_h) - y0;
    s.cols = edgec_min(in_x + p->k_w, p->in_w) - x0;
    s.y0 = y0 - r->in_y0, s.x0 = x0 - r->in_x0;
    return s;
}

/* the mean of one channel: s its sum over n taps; m the reciprocal (0: n = 1, or divide as TFLite) */
typedef struct {
    int32_t n, lo, hi;
    uint32_t half, m;
} divider_t;

/* the unclamped quotient, in -128..127 (|s| <= 128 n, so (|s| + n/2) / n <= 128.5 and 127 n + n/2 < 128 n) */
static inline int32_t quotient(const divider_t *v, int32_t s) {
    if (v->m) {
        const int32_t t = -(int32_t)((uint32_t)s >> 31); /* -1 when s < 0 */
        const uint32_t d = (uint32_t)((s ^ t) - t) + v->half;
        return ((int32_t)(uint32_t)(((uint64_t)d * v->m) >> 32) ^ t) - t;
    }
    return s > 0 ? (s + (int32_t)v->half) / v->n : (s - (int32_t)v->half) / v->n;
}

static inline int8_t mean_of(const divider_t *v, int32_t s) {
    return (int8_t)edgec_clamp(quotient(v, s), v->lo, v->hi);
}

/* the bottom and top 16-bit halves of a lane-sum word */
static inline int32_t bottom16(int32_t a) { return (int16_t)(uint16_t)((uint32_t)a & 0xFFFFu); }
static inline int32_t top16(int32_t a) { return (int16_t)(uint16_t)((uint32_t)a >> 16); }

/* 4 channels' means from their sums (even: channels 0 and 2, odd: 1 and 3) packed into one word, clamped in
 * all 4 bytes at once (lo4, hi4: the activation bounds in every byte), one store */
static inline void mean_x4(const divider_t *v, int32_t lo4, int32_t hi4, int32_t even, int32_t odd, int8_t *out) {
    const uint32_t w = (uint32_t)(uint8_t)quotient(v, bottom16(even))
                       | (uint32_t)(uint8_t)quotient(v, bottom16(odd)) << 8
                       | (uint32_t)(uint8_t)quotient(v, top16(even)) << 16
                       | (uint32_t)(uint8_t)quotient(v, top16(odd)) << 24;
    const int32_t q = min_s8x4(max_s8x4((int32_t)w, lo4), hi4);
    memcpy(out, &q, 4);
}

/* one tap of 4 channels into the lane sums a (bytes 0, 2) and b (bytes 1, 3) */
static inline void sum4(int32_t *a, int32_t *b, const int8_t *px) {
    const int32_t q = edgec_read_s8x4(px);
    *a = edgec_sxtab16(*a, q), *b = edgec_sxtab16_ror8(*b, q);
}

/* one tap of 8 channels into the four pair sums: 2 loads, 4 SXTAB16, the step to the next tap (7 instructions) */
#define EDGEC_POOL_SUM_TAP                                                                                             \
    "ldr %[t], [%[px]]\n\t"                                                                                            \
    "sxtab16 %[a0], %[a0], %[t]\n\t"                                                                                   \
    "sxtab16 %[a1], %[a1], %[t], ror #8\n\t"                                                                           \
    "ldr %[t], [%[px], #4]\n\t"                                                                                        \
    "sxtab16 %[a2], %[a2], %[t]\n\t"                                                                                   \
    "sxtab16 %[a3], %[a3], %[t], ror #8\n\t"                                                                           \
    "add %[px], %[px], %[ch]\n\t"

void edgec_avg_pool2d_s8_dsp_region(const edgec_pool2d_s8_params *p, uint32_t recip, const edgec_region *r,
                                    const int8_t *input, int8_t *output) {
    const int32_t ch = p->channels, row = r->in_w * ch, full = p->k_h * p->k_w;
    const int32_t lo4 = (int32_t)(0x01010101u * (uint8_t)p->act_min);
    const int32_t hi4 = (int32_t)(0x01010101u * (uint8_t)p->act_max);
    divider_t v;
    v.lo = p->act_min, v.hi = p->act_max;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in = input + b * r->in_h * row;
        int8_t *out_b = output + b * r->ob_h * r->ob_w * ch;
        for (int32_t y = r->out_y0; y < r->out_y0 + r->out_h; y++) {
            for (int32_t x = r->out_x0; x < r->out_x0 + r->out_w; x++) {
                const span_t w = clipped(p, r, y, x);
                int8_t *out = out_b + ((y - r->ob_y0) * r->ob_w + (x - r->ob_x0)) * ch;
                if (w.rows <= 0 || w.cols <= 0) { /* no tap inside the input: 0, as the portable kernel */
                    for (int32_t c = 0; c < ch; c++) out[c] = 0;
                    continue;
                }
                v.n = w.rows * w.cols, v.half = (uint32_t)v.n / 2;
                /* n = 1: m = 0 and half = 0, the quotient is s itself; no proof (recip = 0): TFLite's division */
                v.m = v.n == 1 || !recip ? 0 : (v.n == full ? recip : 0xFFFFFFFFu / (uint32_t)v.n + 1);
                const int8_t *first = in + w.y0 * row + w.x0 * ch;
                /* runs of taps adjacent in memory: the window's rows, or one run when it spans whole buffer rows */
                const int32_t runs = w.cols * ch == row ? 1 : w.rows, run = w.cols * ch == row ? v.n : w.cols;
                int32_t c = 0;
                for (; c + 8 <= ch; c += 8) {
                    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                    for (int32_t k = 0; k < runs; k++) {
                        const int8_t *px = first + k * row + c, *end = px + run * ch;
                        for (int32_t i = 0; i < (run & 3); i++, px += ch) sum4(&a0, &a1, px), sum4(&a2, &a3, px + 4);
#if EDGEC_HAVE_DSP /* 4 taps a turn, 27 instructions (the compiler's loop keeps 1 tap a turn: 9 per tap) */
                        if (px != end) {
                            int32_t t;
                            __asm__("1:\n\t" EDGEC_POOL_SUM_TAP EDGEC_POOL_SUM_TAP EDGEC_POOL_SUM_TAP EDGEC_POOL_SUM_TAP
                                    "cmp %[px], %[end]\n\t"
                                    "bne 1b"
                                    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [px] "+r"(px),
                                      [t] "=&r"(t)
                                    : [ch] "r"(ch), [end] "r"(end)
                                    : "cc", "memory");
                        }
#else
                        for (; px != end; px += ch) sum4(&a0, &a1, px), sum4(&a2, &a3, px + 4);
#endif
                    }
                    mean_x4(&v, lo4, hi4, a0, a1, out + c), mean_x4(&v, lo4, hi4, a2, a3, out + c + 4);
                }
                for (; c + 4 <= ch; c += 4) {
                    int32_t a0 = 0, a1 = 0;
                    for (int32_t k = 0; k < runs; k++) {
                        const int8_t *px = first + k * row + c, *end = px + run * ch;
                        for (; px != end; px += ch) sum4(&a0, &a1, px);
                    }
                    mean_x4(&v, lo4, hi4, a0, a1, out + c);
                }
                for (; c < ch; c++) { /* the last 1..3 channels: no byte past the pixel is read */
                    int32_t s = 0;
                    for (int32_t iy = 0; iy < w.rows; iy++)
                        for (int32_t ix = 0; ix < w.cols; ix++) s += first[iy * row + ix * ch + c];
                    out[c] = mean_of(&v, s);
                }
            }
        }
    }
}

void edgec_max_pool2d_s8_dsp_region(const edgec_pool2d_s8_params *p, const edgec_region *r, const int8_t *input,
                                    int8_t *output) {
    const int32_t ch = p->channels, row = r->in_w * ch;
    const int32_t lo = (int32_t)(0x01010101u * (uint8_t)p->act_min), hi = (int32_t)(0x01010101u * (uint8_t)p->act_max);
    const int32_t lowest = (int32_t)0x80808080u; /* -128 in every byte */
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in = input + b * r->in_h * row;
        int8_t *out_b = output + b * r->ob_h * r->ob_w * ch;
        for (int32_t y = r->out_y0; y < r->out_y0 + r->out_h; y++) {
            for (int32_t x = r->out_x0; x < r->out_x0 + r->out_w; x++) {
                const span_t w = clipped(p, r, y, x);
                int8_t *out = out_b + ((y - r->ob_y0) * r->ob_w + (x - r->ob_x0)) * ch;
                if (w.rows <= 0 || w.cols <= 0) { /* no tap inside the input: -128, clamped, as the portable one */
                    for (int32_t c = 0; c < ch; c++) out[c] = (int8_t)edgec_clamp(-128, p->act_min, p->act_max);
                    continue;
                }
                const int8_t *first = in + w.y0 * row + w.x0 * ch;
                const int32_t whole_rows = w.cols * ch == row; /* the window's rows adjacent: one run of taps */
                const int32_t runs = whole_rows ? 1 : w.rows, run = whole_rows ? w.rows * w.cols : w.cols;
                int32_t c = 0;
                for (; c + 8 <= ch; c += 8) {
                    int32_t m0 = lowest, m1 = lowest;
                    for (int32_t k = 0; k < runs; k++) {
                        const int8_t *px = first + k * row + c, *end = px + run * ch;
                        for (; px != end; px += ch) {
                            m0 = max_s8x4(edgec_read_s8x4(px), m0), m1 = max_s8x4(edgec_read_s8x4(px + 4), m1);
                        }
                    }
                    m0 = min_s8x4(max_s8x4(m0, lo), hi), m1 = min_s8x4(max_s8x4(m1, lo), hi);
                    memcpy(out + c, &m0, 4), memcpy(out + c + 4, &m1, 4);
                }
                for (; c + 4 <= ch; c += 4) {
                    int32_t m0 = lowest;
                    for (int32_t k = 0; k < runs; k++) {
                        const int8_t *px = first + k * row + c, *end = px + run * ch;
                        for (; px != end; px += ch) m0 = max_s8x4(edgec_read_s8x4(px), m0);
                    }
                    m0 = min_s8x4(max_s8x4(m0, lo), hi);
                    memcpy(out + c, &m0, 4);
                }
                for (; c < ch; c++) {
                    int32_t best = -128;
                    for (int32_t iy = 0; iy < w.rows; iy++)
                        for (int32_t ix = 0; ix < w.cols; ix++) best = edgec_max(best, first[iy * row + ix * ch + c]);
                    out[c] = (int8_t)edgec_clamp(best, p->act_min, p->act_max);
                }
            }
        }
    }
}

void edgec_avg_pool2d_s8_dsp(const edgec_pool2d_s8_params *p, uint32_t recip, const int8_t *input, int8_t *output) {
    const edgec_region whole = edgec_whole_region(p->in_h, p->in_w, p->out_h, p->out_w);
    edgec_avg_pool2d_s8_dsp_region(p, recip, &whole, input, output);
}

void edgec_max_pool2d_s8_dsp(const edgec_pool2d_s8_params *p, const int8_t *input, int8_t *output) {
    const edgec_region whole = edgec_whole_region(p->in_h, p->in_w, p->out_h, p->out_w);
    edgec_max_pool2d_s8_dsp_region(p, &whole, input, output);
}
