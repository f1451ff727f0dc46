#include "pool2d_s8_mve.h"

#include <arm_mve.h>

#include "edgec_fixedpoint.h"

/* out[b, y, x, c] = clamp(sign(s) floor((|s| + floor(n / 2)) / n)),  s = the sum of the window's n taps inside the
 * input (padding not counted): TFLite's (s +- n/2) / n with C's truncating division, for s of either sign.
 *
 * The division. For d = |s| + floor(n / 2) >= 0 and n >= 2, with m = ceil(2^32 / n) = floor((2^32 - 1) / n) + 1:
 *     floor(d m / 2^32) = floor(d / n)   whenever d n < 2^32
 * since d m / 2^32 = d / n + d e / 2^32 with 0 <= e < 1, and the fraction of d / n is at most 1 - 1/n, so the
 * extra d e / 2^32 < 1/n never crosses the next integer. Here d <= 128 n + n / 2, so d n < 2^32 for n <= 5,000:
 * EDGEC_AVG_POOL_MVE_MAX_TAPS = 4,096. VMULH.U32 gives floor(d m / 2^32) per lane in one instruction; n = 1 (m
 * would be 2^32) takes d itself. The sign: (q ^ t) - t with t = s >> 31 (-1 on negative lanes) negates q there.
 *
 * Cost: per 16 channels and tap, 4 VLDRB.S32, 4 VADD, the pointer step and the loop's LE (10 instructions); per 16
 * channels and pixel about 40 for the division, clamp and stores. */

typedef struct {
    uint32_t half, m; /* floor(n / 2) and the reciprocal (0 when n = 1: the quotient is d itself) */
    int32x4_t lo, hi; /* the clamp */
} avg_out_t;

static inline void avg_store(const avg_out_t *a, int32x4_t s, int8_t *out, mve_pred16_t pr) {
    const int32x4_t t = vshrq_n_s32(s, 31);
    uint32x4_t d = vaddq_n_u32(vreinterpretq_u32_s32(vabsq_s32(s)), a->half);
    if (a->m) d = vmulhq_u32(d, vdupq_n_u32(a->m));
    const int32x4_t q = vsubq_s32(veorq_s32(vreinterpretq_s32_u32(d), t), t);
    vstrbq_p_s32(out, vminq_s32(vmaxq_s32(q, a->lo), a->hi), pr);
}

void edgec_avg_pool2d_s8_mve_region(const edgec_pool2d_s8_params *p, const edgec_region *r, const int8_t *input,
                                    int8_t *output) {
    const int32_t ch = p->channels, row = r->in_w * ch;
    avg_out_t a;
    a.lo = vdupq_n_s32(p->act_min), a.hi = vdupq_n_s32(p->act_max);
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in = input + b * r->in_h * row;
        int8_t *out_b = output + b * r->ob_h * r->ob_w * ch;
        for (int32_t y = r->out_y0; y < r->out_y0 + r->out_h; y++) {
            /* the window clipped to the full input, in the input buffer's rows and columns (edgec_region.h) */
            const int32_t in_y = y * p->stride_h - p->pad_top;
            const int32_t y0 = edgec_max(in_y, 0), y1 = edgec_min(in_y + p->k_h, p->in_h);
            for (int32_t x = r->out_x0; x < r->out_x0 + r->out_w; x++) {
                const int32_t in_x = x * p->stride_w - p->pad_left;
                const int32_t x0 = edgec_max(in_x, 0), x1 = edgec_min(in_x + p->k_w, p->in_w);
                const int32_t rows = y1 - y0, cols = x1 - x0, n = rows * cols;
                int8_t *out = out_b + ((y - r->ob_y0) * r->ob_w + (x - r->ob_x0)) * ch;
                if (n <= 0) { /* no tap inside the input: 0, as the portable kernel */
                    for (int32_t c = 0; c < ch; c++) out[c] = 0;
                    continue;
                }
                a.half = (uint32_t)n / 2, a.m = n > 1 ? 0xFFFFFFFFu / (uint32_t)n + 1 : 0;
                const int8_t *first = in + (y0 - r->in_y0) * row + (x0 - r->in_x0) * ch;
                int32_t c = 0;
                for (; c + 16 <= ch; c += 16) {
                    int32x4_t s0 = vdupq_n_s32(0), s1 = s0, s2 = s0, s3 = s0;
                    for (int32_t iy = 0; iy < rows; iy++) {
                        const int8_t *px = first + iy * row + c;
                        for (int32_t ix = 0; ix < cols; ix++, px += ch) {
                            s0 = vaddq_s32(s0, vldrbq_s32(px)), s1 = vaddq_s32(s1, vldrbq_s32(px + 4));
                            s2 = vaddq_s32(s2, vldrbq_s32(px + 8)), s3 = vaddq_s32(s3, vldrbq_s32(px + 12));
                        }
                    }
                    const mve_pred16_t all = vctp32q(4);
                    avg_store(&a, s0, out + c, all), avg_store(&a, s1, out + c + 4, all);
                    avg_store(&a, s2, out + c + 8, all), avg_store(&a, s3, out + c + 12, all);
                }
                for (; c < ch; c += 4) { /* the last channels, 4 at a time: no byte past the pixel is read */
                    const mve_pred16_t pr = vctp32q((uint32_t)(ch - c));
                    int32x4_t s = vdupq_n_s32(0);
                    for (int32_t iy = 0; iy < rows; iy++) {
                        const int8_t *px = first + iy * row + c;
                        for (int32_t ix = 0; ix < cols; ix++, px += ch) s = vaddq_s32(s, vldrbq_z_s32(px, pr));
                    }
                    avg_store(&a, s, out + c, pr);
                }
            }
        }
    }
}

void edgec_avg_pool2d_s8_mve(const edgec_pool2d_s8_params *p, const int8_t *input, int8_t *output) {
    const edgec_region whole = edgec_whole_region(p->in_h, p->in_w, p->out_h, p->out_w);
    edgec_avg_pool2d_s8_mve_region(p, &whole, input, output);
}

/* out[b, y, x, c] = clamp(max over the window's taps inside the input; -128 when none is), as edgec_max_pool2d_s8.
 * Cost per 16 channels and tap: VLDRB.8, VMAX.S8, the pointer step and the loop's LE (about 4 instructions, 0.25
 * per input byte read; the DSP kernel takes about 1.1); per 16 channels and pixel VMAX, VMIN, VSTRB. */
void edgec_max_pool2d_s8_mve_region(const edgec_pool2d_s8_params *p, const edgec_region *r, const int8_t *input,
                                    int8_t *output) {
    const int32_t ch = p->channels, row = r->in_w * ch;
    const int8x16_t lo = vdupq_n_s8((int8_t)p->act_min), hi = vdupq_n_s8((int8_t)p->act_max);
    const int8_t empty = (int8_t)edgec_clamp(-128, p->act_min, p->act_max);
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in = input + b * r->in_h * row;
        int8_t *out_b = output + b * r->ob_h * r->ob_w * ch;
        for (int32_t y = r->out_y0; y < r->out_y0 + r->out_h; y++) {
            const int32_t in_y = y * p->stride_h - p->pad_top;
            const int32_t y0 = edgec_max(in_y, 0), y1 = edgec_min(in_y + p->k_h, p->in_h);
            for (int32_t x = r->out_x0; x < r->out_x0 + r->out_w; x++) {
                const int32_t in_x = x * p->stride_w - p->pad_left;
                const int32_t x0 = edgec_max(in_x, 0), x1 = edgec_min(in_x + p->k_w, p->in_w);
                const int32_t rows = y1 - y0, cols = x1 - x0;
                int8_t *out = out_b + ((y - r->ob_y0) * r->ob_w + (x - r->ob_x0)) * ch;
                if (rows <= 0 || cols <= 0) { /* no tap inside the input: -128, clamped, as the portable kernel */
                    for (int32_t c = 0; c < ch; c++) out[c] = empty;
                    continue;
                }
                const int8_t *first = in + (y0 - r->in_y0) * row + (x0 - r->in_x0) * ch;
                const int32_t whole_rows = cols * ch == row; /* the window's rows adjacent: one run of taps */
                const int32_t runs = whole_rows ? 1 : rows, run = whole_rows ? rows * cols : cols;
                int32_t c = 0;
                for (; c + 16 <= ch; c += 16) {
                    int8x16_t m = vdupq_n_s8(-128);
                    for (int32_t k = 0; k < runs; k++) {
                        const int8_t *px = first + k * row + c;
                        for (int32_t t = 0; t < run; t++, px += ch) m = vmaxq_s8(m, vldrbq_s8(px));
                    }
                    vstrbq_s8(out + c, vminq_s8(vmaxq_s8(m, lo), hi));
                }
                if (c < ch) { /* the last ch % 16 channels: predicated loads (0 in the other lanes) and store */
                    const mve_pred16_t pr = vctp8q((uint32_t)(ch - c));
                    int8x16_t m = vdupq_n_s8(-128);
                    for (int32_t k = 0; k < runs; k++) {
                        const int8_t *px = first + k * row + c;
                        for (int32_t t = 0; t < run; t++, px += ch) m = vmaxq_s8(m, vldrbq_z_s8(px, pr));
                    }
                    vstrbq_p_s8(out + c, vminq_s8(vmaxq_s8(m, lo), hi), pr);
                }
            }
        }
    }
}

void edgec_max_pool2d_s8_mve(const edgec_pool2d_s8_params *p, const int8_t *input, int8_t *output) {
    const edgec_region whole = edgec_whole_region(p->in_h, p->in_w, p->out_h, p->out_w);
    edgec_max_pool2d_s8_mve_region(p, &whole, input, output);
}
