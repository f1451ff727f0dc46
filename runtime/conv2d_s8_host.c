#include <string.h>

#include "conv2d_s8_host.h"
#include "edgec_fixedpoint.h"
#include "edgec_host.h"

/* out[q,o] = clamp(zp_out + MBQM(bias[o] + sum_k w[o,k] * (x[q,k] - zp_in)))        (the portable kernel)
 *          = clamp(zp_out + MBQM(bias_folded[o] + sum_k w[o,k] * x'[q,k]))
 * with bias_folded[o] = bias[o] - zp_in sum_k w[o,k] (compile time) and x'[q,k] = x[q,k] at a tap inside the
 * input, zp_in at a padded tap (there w * (zp_in - zp_in) = 0 in the portable sum, skipped; here w * zp_in,
 * cancelled by the folded term). Both sums are the same integer; the portable one fits int32 (the compiler
 * checks every model: fixedpoint.accumulator_extremes) and this one is added with wraparound, so they are the
 * same int32. Every product |w x'| <= 128 * 128 and K <= 4608 terms: the dot product itself never overflows.
 *
 * Per block of 4 output pixels: their windows are gathered once as int16 (im2col, K padded with zeros to a
 * multiple of 8); then per output channel the 4 dot products share each load of 8 weights. The trip count is a
 * multiple of 8 by construction, so gcc -O2 (its "very cheap" vectorizer) turns the k loop into
 * 1 load of weights, 4 loads of inputs, 4 PMADDWD and 4 PADDD per 32 MACs (SSE2); the 4 sums are reduced once
 * per channel, and requantized by edgec_host.h's output stage (TFLite's rounding, its constants computed by the
 * compiler and prepared once per channel for the block's 4 pixels) or edgec_requantize (onnxruntime's rounding). */

/* x' of one output pixel, K values then zeros up to k_pad */
static void im2col_pixel(const edgec_conv2d_s8_params *p, const int8_t *in_b, int32_t y, int32_t x, int32_t k_pad,
                         int16_t *col) {
    const int16_t zp = (int16_t)-p->input_offset;
    const int32_t c = p->in_c;
    int16_t *dst = col;
    for (int32_t ky = 0; ky < p->k_h; ky++) {
        const int32_t iy = y * p->stride_h - p->pad_top + ky * p->dilation_h;
        for (int32_t kx = 0; kx < p->k_w; kx++, dst += c) {
            const int32_t ix = x * p->stride_w - p->pad_left + kx * p->dilation_w;
            if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                for (int32_t i = 0; i < c; i++) dst[i] = zp;
            } else {
                edgec_host_widen(in_b + (iy * p->in_w + ix) * c, c, dst);
            }
        }
    }
    for (int32_t k = (int32_t)(dst - col); k < k_pad; k++) col[k] = 0;
}

/* The output stage of one pixel: the host's (edgec_host.h, constants per channel in `requant`), or onnxruntime's
 * rounding through the portable edgec_requantize when `requant` is NULL; the choice is made once per pixel. */
static void conv_host_outputs(const edgec_conv2d_s8_params *p, const int32_t *requant, const int32_t *acc,
                              int8_t *out) {
    const int32_t out_c = p->out_c, zp = p->output_offset, lo = p->act_min, hi = p->act_max;
    if (requant) {
        for (int32_t o = 0; o < out_c; o++) out[o] = edgec_host_out(acc[o], requant + 4 * o, zp, lo, hi);
    } else {
        for (int32_t o = 0; o < out_c; o++) {
            const int32_t y = edgec_requantize(acc[o], p->multiplier[o], p->shift[o], p->rounding) + zp;
            out[o] = (int8_t)edgec_clamp(y, lo, hi);
        }
    }
}

void edgec_conv2d_s8_host(const edgec_conv2d_s8_params *p, const int16_t *weights16, const int32_t *bias_folded,
                          const int32_t *requant, const double *vq, const int32_t *voff, const int8_t *input,
                          int8_t *output) {
    int16_t col[EDGEC_CONV_HOST_PIXELS * EDGEC_CONV_HOST_MAX_K];
    int32_t acc[EDGEC_CONV_HOST_PIXELS * EDGEC_CONV_HOST_MAX_C];
    const int32_t k = p->k_h * p->k_w * p->in_c;
    const int32_t k8 = (k + EDGEC_CONV_HOST_K_STEP - 1) / EDGEC_CONV_HOST_K_STEP; /* groups of 8 */
    const int32_t k_pad = k8 * EDGEC_CONV_HOST_K_STEP;
    const int32_t per_image = p->out_h * p->out_w, pixels = p->batches * per_image, out_c = p->out_c;
    /* In place (pointwise): every pixel of a block is gathered before any output is written. Forward when
     * out_c <= in_c: block [q, q + n) writes [q out_c, (q + n) out_c), below (q + n) in_c, so only pixels of
     * this block (saved) or before it (consumed). Backward otherwise: the block writes from q out_c >= q in_c,
     * so only pixels of this block or after it (consumed). */
    const int32_t backward = input == output && out_c > p->in_c;
    for (int32_t done = 0; done < pixels; done += EDGEC_CONV_HOST_PIXELS) {
        const int32_t n = pixels - done < EDGEC_CONV_HOST_PIXELS ? pixels - done : EDGEC_CONV_HOST_PIXELS;
        const int32_t q0 = backward ? pixels - done - n : done;
        for (int32_t j = 0; j < n; j++) {
            const int32_t q = q0 + j, b = q / per_image, yx = q % per_image;
            im2col_pixel(p, input + b * p->in_h * p->in_w * p->in_c, yx / p->out_w, yx % p->out_w, k_pad,
                         col + j * k_pad);
        }
        const int16_t *x0 = col, *x1 = col + k_pad, *x2 = col + 2 * k_pad, *x3 = col + 3 * k_pad;
        const int32_t kk = k8 * EDGEC_CONV_HOST_K_STEP; /* a multiple of 8 the vectorizer can see */
        if (n == EDGEC_CONV_HOST_PIXELS) {
            int32_t o = 0;
            for (; o + 2 <= out_c; o += 2) { /* 2 channels x 4 pixels: 8 sums share 2 + 4 loads per 8 k */
                const int16_t *w = weights16 + o * k_pad, *v = w + k_pad;
                int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0;
                for (int32_t i = 0; i < kk; i++) {
                    const int32_t wi = w[i], vi = v[i], y0 = x0[i], y1 = x1[i], y2 = x2[i], y3 = x3[i];
                    a0 += wi * y0;
                    a1 += wi * y1;
                    a2 += wi * y2;
                    a3 += wi * y3;
                    b0 += vi * y0;
                    b1 += vi * y1;
                    b2 += vi * y2;
                    b3 += vi * y3;
                }
                const int32_t bias = bias_folded[o], bias1 = bias_folded[o + 1];
                acc[o] = edgec_wrap_add(bias, a0);
                acc[out_c + o] = edgec_wrap_add(bias, a1);
                acc[2 * out_c + o] = edgec_wrap_add(bias, a2);
                acc[3 * out_c + o] = edgec_wrap_add(bias, a3);
                acc[o + 1] = edgec_wrap_add(bias1, b0);
                acc[out_c + o + 1] = edgec_wrap_add(bias1, b1);
                acc[2 * out_c + o + 1] = edgec_wrap_add(bias1, b2);
                acc[3 * out_c + o + 1] = edgec_wrap_add(bias1, b3);
            }
            for (; o < out_c; o++) {
                const int16_t *w = weights16 + o * k_pad;
                int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                for (int32_t i = 0; i < kk; i++) {
                    const int32_t wi = w[i];
                    a0 += wi * x0[i];
                    a1 += wi * x1[i];
                    a2 += wi * x2[i];
                    a3 += wi * x3[i];
                }
                const int32_t bias = bias_folded[o];
                acc[o] = edgec_wrap_add(bias, a0);
                acc[out_c + o] = edgec_wrap_add(bias, a1);
                acc[2 * out_c + o] = edgec_wrap_add(bias, a2);
                acc[3 * out_c + o] = edgec_wrap_add(bias, a3);
            }
        } else {
            for (int32_t j = 0; j < n; j++) {
                const int16_t *xj = col + j * k_pad;
                for (int32_t o = 0; o < out_c; o++) {
                    const int16_t *w = weights16 + o * k_pad;
                    int32_t a = 0;
                    for (int32_t i = 0; i < kk; i++) a += (int32_t)w[i] * xj[i];
                    acc[j * out_c + o] = edgec_wrap_add(bias_folded[o], a);
                }
            }
        }
        if (vq && out_c < EDGEC_HOST_VBLOCK) { /* out_c divides 16 (the constants repeated): 16 / out_c pixels */
            const int32_t total = n * out_c, v_end = total / EDGEC_HOST_VBLOCK * EDGEC_HOST_VBLOCK;
            const int32_t zp = p->output_offset, lo = p->act_min, hi = p->act_max;
            int8_t *out = output + q0 * out_c;
            const double *m = vq, *kc = vq + EDGEC_HOST_VBLOCK, *kd = vq + 2 * EDGEC_HOST_VBLOCK;
            for (int32_t i = 0; i < v_end; i += EDGEC_HOST_VBLOCK) {
                edgec_host_out16(acc + i, m, kc, kd, voff, lo, hi, out + i);
            }
            for (int32_t i = v_end; i < total; i++) {
                out[i] = edgec_host_out(acc[i], requant + 4 * (i % out_c), zp, lo, hi);
            }
            for (int32_t i = 0; i < total; i += out_c) {
                for (int32_t f = 0; f < voff[EDGEC_HOST_VBLOCK]; f++) {
                    const int32_t o = voff[EDGEC_HOST_VBLOCK + 1 + f];
                    out[i + o] = edgec_host_out(acc[i + o], requant + 4 * o, zp, lo, hi);
                }
            }
        } else if (vq) { /* the vector stage on blocks of 16 channels, the last out_c % 16 through the scalar one */
            const int32_t v_end = out_c / EDGEC_HOST_VBLOCK * EDGEC_HOST_VBLOCK;
            for (int32_t j = 0; j < n; j++) {
                const int32_t *a = acc + j * out_c;
                int8_t *out = output + (q0 + j) * out_c;
                for (int32_t c0 = 0; c0 < v_end; c0 += EDGEC_HOST_VBLOCK) {
                    edgec_host_out16(a + c0, vq + c0, vq + out_c + c0, vq + 2 * out_c + c0, voff + c0, p->act_min,
                                     p->act_max, out + c0);
                }
                for (int32_t o = v_end; o < out_c; o++) {
                    out[o] = edgec_host_out(a[o], requant + 4 * o, p->output_offset, p->act_min, p->act_max);
                }
                for (int32_t f = 0; f < voff[out_c]; f++) { /* the channels the vector stage cannot do exactly */
                    const int32_t o = voff[out_c + 1 + f];
                    out[o] = edgec_host_out(a[o], requant + 4 * o, p->output_offset, p->act_min, p->act_max);
                }
            }
        } else if (n == EDGEC_CONV_HOST_PIXELS && requant) { /* a channel's 4 outputs share its constants */
            int8_t *out0 = output + q0 * out_c, *out1 = out0 + out_c, *out2 = out1 + out_c, *out3 = out2 + out_c;
            const int32_t zp = p->output_offset, lo = p->act_min, hi = p->act_max;
            for (int32_t o = 0; o < out_c; o++) {
                const edgec_host_q qk = edgec_host_q_of(requant + 4 * o);
                out0[o] = edgec_host_out_k(acc[o], &qk, zp, lo, hi);
                out1[o] = edgec_host_out_k(acc[out_c + o], &qk, zp, lo, hi);
                out2[o] = edgec_host_out_k(acc[2 * out_c + o], &qk, zp, lo, hi);
                out3[o] = edgec_host_out_k(acc[3 * out_c + o], &qk, zp, lo, hi);
            }
        } else {
            for (int32_t j = 0; j < n; j++) conv_host_outputs(p, requant, acc + j * out_c, output + (q0 + j) * out_c);
        }
    }
}
