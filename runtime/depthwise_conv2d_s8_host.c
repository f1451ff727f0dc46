#include <string.h>

#include "depthwise_conv2d_s8_host.h"
#include "edgec_fixedpoint.h"
#include "edgec_host.h"

/* out[y,x,c] = clamp(zp_out + MBQM(bias[c] + sum_{ky,kx inside} w[ky,kx,c] * (in[iy,ix,c] - zp_in)))
 *            = clamp(zp_out + MBQM(bias_folded[c] + sum_{all ky,kx} w[ky,kx,c] * x'[iy,ix,c]))
 * (the portable kernel, then with the input zero point folded), with bias_folded[c] = bias[c] - zp_in sum w[.,c]
 * (compile time) and x' = the input inside it, zp_in on the padding: there w (zp_in - zp_in) = 0 in the portable
 * sum (a skipped tap), w zp_in here, cancelled by the folded term. The same integer; the tap sum
 * (|w x'| <= 127 * 128 per tap, at most EDGEC_DW_HOST_MAX_TAPS taps) never overflows and the folded bias is
 * added once with wraparound, so the same int32 as the portable sum (which fits int32, checked by the compiler).
 *
 * x' is built row by row: each input row a window needs is widened to int16 once into a ring row whose padding
 * columns hold zp_in, and a row of zp_in stands for the padding rows; a window then reads every tap from
 * memory without a test. Per output pixel and block of 8 channels, 8 int32 accumulators in registers; each tap
 * adds 8 int16 products (a loop of constant trip count 8 that gcc -O2 turns into PMULLW, PMULHW, 2 PUNPCK and
 * 2 PADDD with 2 loads on SSE2: 8 instructions per 8 MACs, 15 with the loop). Channels past out_c are computed
 * (zero weights) and not written. The sums of a whole output row are kept (acc_row) and requantized together:
 * by edgec_host.h's vector stage 16 at a time when the compiler found it exact, else channel by channel with each
 * channel's constants prepared once per row (edgec_requantize for onnxruntime's rounding). */

#define BLOCK EDGEC_DW_HOST_BLOCK

/* input row `src` (in_w pixels of c channels) widened into ring row `dst` (wp columns of c_pad), zp_in on columns
 * outside the input and on channels past c */
static void dw_host_widen_row(const int8_t *src, int32_t in_w, int32_t c, int32_t c_pad, int32_t pad_left,
                              int32_t wp, int16_t zp, int16_t *dst) {
    for (int32_t col = 0; col < wp; col++) {
        const int32_t ix = col - pad_left;
        int16_t *d = dst + col * c_pad;
        if (ix < 0 || ix >= in_w) {
            for (int32_t i = 0; i < c_pad; i++) d[i] = zp;
        } else {
            edgec_host_widen(src + ix * c, c, d);
            for (int32_t i = c; i < c_pad; i++) d[i] = zp;
        }
    }
}

/* the output stage of one output row: acc [out_w][c_pad] -> out [out_w][c]; edgec_host.h's channel by channel (its
 * constants prepared once per channel), or edgec_requantize for onnxruntime's rounding (requant NULL) */
static void dw_host_outputs(const edgec_depthwise_conv2d_s8_params *p, const int32_t *requant, const double *vq,
                            const int32_t *voff, const int32_t *acc, int32_t c_pad, int8_t *out) {
    const int32_t zp = p->output_offset, lo = p->act_min, hi = p->act_max, c = p->out_c, n = p->out_w;
    if (vq && c < EDGEC_HOST_VBLOCK && c == c_pad) { /* c divides 16 (constants repeated): the row is contiguous */
        const int32_t total = n * c, v_end = total / EDGEC_HOST_VBLOCK * EDGEC_HOST_VBLOCK;
        for (int32_t i = 0; i < v_end; i += EDGEC_HOST_VBLOCK) {
            edgec_host_out16(acc + i, vq, vq + EDGEC_HOST_VBLOCK, vq + 2 * EDGEC_HOST_VBLOCK, voff, lo, hi, out + i);
        }
        for (int32_t i = v_end; i < total; i++) out[i] = edgec_host_out(acc[i], requant + 4 * (i % c), zp, lo, hi);
        for (int32_t i = 0; i < total; i += c) {
            for (int32_t f = 0; f < voff[EDGEC_HOST_VBLOCK]; f++) {
                const int32_t ch = voff[EDGEC_HOST_VBLOCK + 1 + f];
                out[i + ch] = edgec_host_out(acc[i + ch], requant + 4 * ch, zp, lo, hi);
            }
        }
    } else if (vq && c >= EDGEC_HOST_VBLOCK) { /* blocks of 16 channels, the last c % 16 through the scalar stage */
        const int32_t v_end = c / EDGEC_HOST_VBLOCK * EDGEC_HOST_VBLOCK;
        for (int32_t x = 0; x < n; x++) {
            for (int32_t c0 = 0; c0 < v_end; c0 += EDGEC_HOST_VBLOCK) {
                edgec_host_out16(acc + x * c_pad + c0, vq + c0, vq + c + c0, vq + 2 * c + c0, voff + c0, lo, hi,
                                 out + x * c + c0);
            }
            for (int32_t ch = v_end; ch < c; ch++) {
                out[x * c + ch] = edgec_host_out(acc[x * c_pad + ch], requant + 4 * ch, zp, lo, hi);
            }
            for (int32_t f = 0; f < voff[c]; f++) { /* the channels the vector stage cannot do exactly */
                const int32_t ch = voff[c + 1 + f];
                out[x * c + ch] = edgec_host_out(acc[x * c_pad + ch], requant + 4 * ch, zp, lo, hi);
            }
        }
    } else if (requant) {
        for (int32_t ch = 0; ch < c; ch++) {
            const edgec_host_q k = edgec_host_q_of(requant + 4 * ch);
            for (int32_t x = 0; x < n; x++) out[x * c + ch] = edgec_host_out_k(acc[x * c_pad + ch], &k, zp, lo, hi);
        }
    } else {
        for (int32_t x = 0; x < n; x++) {
            for (int32_t ch = 0; ch < c; ch++) {
                const int32_t y = edgec_requantize(acc[x * c_pad + ch], p->multiplier[ch], p->shift[ch], p->rounding);
                out[x * c + ch] = (int8_t)edgec_clamp(y + zp, lo, hi);
            }
        }
    }
}

void edgec_depthwise_conv2d_s8_host(const edgec_depthwise_conv2d_s8_params *p, const int16_t *weights16,
                                    const int32_t *bias_folded, const int32_t *requant, const double *vq,
                                    const int32_t *voff, const int8_t *input, int8_t *output) {
    int16_t ring[EDGEC_DW_HOST_MAX_RING];
    int32_t acc_row[EDGEC_DW_HOST_MAX_RING / 2]; /* out_w c_pad <= wp c_pad <= the ring / 2 (span + 1 >= 2 rows) */
    const int16_t *rows[64]; /* k_h <= 64 (the compiler checks) */
    const int32_t c = p->out_c, c_pad = (c + BLOCK - 1) / BLOCK * BLOCK, blocks = c_pad / BLOCK;
    const int32_t span = (p->k_h - 1) * p->dilation_h + 1;
    const int32_t wp = (p->out_w - 1) * p->stride_w + (p->k_w - 1) * p->dilation_w + 1, ring_row = wp * c_pad;
    const int32_t col_step = p->stride_w * c_pad, tap_step = p->dilation_w * c_pad, taps_w = p->k_w;
    const int16_t zp_in = (int16_t)-p->input_offset;
    int16_t *zp_row = ring + span * ring_row;
    for (int32_t i = 0; i < ring_row; i++) zp_row[i] = zp_in;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * c;
        int8_t *out_b = output + b * p->out_h * p->out_w * c;
        int32_t next_row = 0; /* the first input row not yet in the ring */
        for (int32_t y = 0; y < p->out_h; y++) {
            const int32_t iy0 = y * p->stride_h - p->pad_top;
            /* rows up to the window's last are widened before row y's outputs (in place) overwrite them; rows
             * above the window are never read again */
            const int32_t last = edgec_min(iy0 + span - 1, p->in_h - 1);
            if (next_row < iy0) next_row = iy0;
            for (; next_row <= last; next_row++) {
                dw_host_widen_row(in_b + next_row * p->in_w * c, p->in_w, c, c_pad, p->pad_left, wp, zp_in,
                                  ring + (next_row % span) * ring_row);
            }
            for (int32_t ky = 0; ky < p->k_h; ky++) {
                const int32_t iy = iy0 + ky * p->dilation_h;
                rows[ky] = iy < 0 || iy >= p->in_h ? zp_row : ring + (iy % span) * ring_row;
            }
            for (int32_t x = 0; x < p->out_w; x++) {
                for (int32_t blk = 0; blk < blocks; blk++) {
                    const int32_t c0 = blk * BLOCK;
                    int32_t acc[BLOCK] = {0, 0, 0, 0, 0, 0, 0, 0};
                    for (int32_t ky = 0; ky < p->k_h; ky++) {
                        const int16_t *xr = rows[ky] + x * col_step + c0;
                        const int16_t *wr = weights16 + ky * taps_w * c_pad + c0;
                        for (int32_t kx = 0; kx < taps_w; kx++, xr += tap_step, wr += c_pad) {
                            for (int32_t j = 0; j < BLOCK; j++) acc[j] += (int32_t)wr[j] * xr[j];
                        }
                    }
                    int32_t *dst = acc_row + x * c_pad + c0;
                    for (int32_t j = 0; j < BLOCK; j++) dst[j] = edgec_wrap_add(acc[j], bias_folded[c0 + j]);
                }
            }
            dw_host_outputs(p, requant, vq, voff, acc_row, c_pad, out_b + y * p->out_w * c);
        }
    }
}
