#include "conv2d_s8_backward.h"
#include "edgec_train.h"

/* With g_acc[p,o] = (mask(p,o) ? g_y[p,o] : 0) * acc_scale[o] (the gradient of the int32 accumulator, real units):
 *   g_x[n,iy,ix,i] = inv_sx * sum_{ky asc, kx asc, o asc in i's group} (float)w[o,ky,kx,i-base] * g_acc[n,oy,ox,o]
 *                    over the taps where iy = oy*stride_h - pad_top + ky*dilation_h (and x) for an output pixel
 *   G[o,ky,kx,i]   = sum_{p asc} g_acc[p,o] * (float)(x[n,iy,ix,base+i] - zp_x)   (taps inside the input)
 *   w[o,ky,kx,i]   = update(w, G * coef_w[o])  for o asc, ky asc, kx asc, i < weight_channels asc
 *   bias[o]        = update_bias(bias, (sum_{p asc} g_acc[p,o]) * coef_b[o], bias_max[o])
 * With momentum or fp32 shadow weights (the state pointers set) `update` is edgec_update_weight and the bias's
 * step goes through edgec_momentum first; the state of the k-th updated weight (in the order above, frozen
 * channels' slots included) is velocity_w[k] / shadow[k]. (edgec_train.h states the float operations.)
 * With weights_frozen set, w[o,ky,kx,i] is read from the trained slice (i < weight_channels, row stride
 * weight_channels) or the frozen rest (row stride in_c/groups - weight_channels): the same values, the same sums.
 * Every sum is sequential in float32 from 0.0f, in that order, with no fused multiply-add (the numpy reference in
 * toolchain/ops/conv2d.py gives the same bits). g_x uses the weights before the update (the update comes last).
 * Cost per MAC: g_x one multiply-add (the g_acc row of an output pixel is computed into `scratch` once per input
 * pixel and tap: out_c multiplies); G one mask test, two multiplies and an add (a masked output skips its
 * terms: its g_acc is +0.0, which changes no sum that started at +0.0); per updated weight ~8 instructions
 * (nearest) or ~16 (stochastic). */

static void input_grad(const edgec_conv2d_s8_backward_params *p, const float *grad_out, const uint8_t *mask,
                       float *grad_in, float *row) {
    const int32_t icg = p->in_c / p->groups, ocg = p->out_c / p->groups;
    const int32_t split = p->weights_frozen ? p->weight_channels : icg; /* channels in p->weights */
    const int32_t rest = icg - split;                                   /* channels in p->weights_frozen */
    for (int32_t n = 0; n < p->batches; n++) {
        for (int32_t iy = 0; iy < p->in_h; iy++) {
            for (int32_t ix = 0; ix < p->in_w; ix++) {
                float *s = grad_in + ((n * p->in_h + iy) * p->in_w + ix) * p->in_c;
                for (int32_t i = 0; i < p->in_c; i++) s[i] = 0.0f;
                for (int32_t ky = 0; ky < p->k_h; ky++) {
                    const int32_t oy = edgec_output_of_tap(iy, ky, p->stride_h, p->dilation_h, p->pad_top, p->out_h);
                    if (oy < 0) continue;
                    for (int32_t kx = 0; kx < p->k_w; kx++) {
                        const int32_t ox =
                            edgec_output_of_tap(ix, kx, p->stride_w, p->dilation_w, p->pad_left, p->out_w);
                        if (ox < 0) continue;
                        const int32_t e0 = ((n * p->out_h + oy) * p->out_w + ox) * p->out_c;
                        for (int32_t o = 0; o < p->out_c; o++) {
                            row[o] = (edgec_mask_bit(mask, e0 + o) ? grad_out[e0 + o] : 0.0f) * p->acc_scale[o];
                        }
                        for (int32_t i = 0; i < p->in_c; i++) {
                            const int32_t group = i / icg, ig = i - group * icg;
                            const int32_t src_c = ig < split ? split : rest; /* the source's channels */
                            const int32_t o_stride = p->k_h * p->k_w * src_c; /* from w[o] to w[o + 1] */
                            const int8_t *w = (ig < split ? p->weights : p->weights_frozen)
                                              + ((group * ocg * p->k_h + ky) * p->k_w + kx) * src_c
                                              + (ig < split ? ig : ig - split);
                            const float *gr = row + group * ocg;
                            float acc = s[i];
                            for (int32_t j = 0; j < ocg; j++) acc += (float)w[j * o_stride] * gr[j];
                            s[i] = acc;
                        }
                    }
                }
                for (int32_t i = 0; i < p->in_c; i++) s[i] = s[i] * p->inv_sx;
            }
        }
    }
}

static float weight_grad(const edgec_conv2d_s8_backward_params *p, const int8_t *input, const float *grad_out,
                         const uint8_t *mask, int32_t o, int32_t ky, int32_t kx, int32_t c) {
    const int32_t x_c = p->saved_c ? p->saved_c : p->in_c; /* channels per pixel of the saved input */
    float acc = 0.0f;
    for (int32_t n = 0; n < p->batches; n++) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dilation_h;
            if (iy < 0 || iy >= p->in_h) continue;
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dilation_w;
                if (ix < 0 || ix >= p->in_w) continue;
                const int32_t e = ((n * p->out_h + oy) * p->out_w + ox) * p->out_c + o;
                if (!edgec_mask_bit(mask, e)) continue;
                const int32_t xv = (int32_t)input[((n * p->in_h + iy) * p->in_w + ix) * x_c + c] + p->input_offset;
                acc += (grad_out[e] * p->acc_scale[o]) * (float)xv;
            }
        }
    }
    return acc;
}

void edgec_conv2d_s8_backward(const edgec_conv2d_s8_backward_params *p, const int8_t *input,
                              const float *grad_out, const uint8_t *mask, int8_t *weights, int32_t *bias,
                              float *grad_in, float *scratch, uint32_t *rng) {
    if (grad_in) input_grad(p, grad_out, mask, grad_in, scratch);
    const int32_t icg = p->in_c / p->groups, ocg = p->out_c / p->groups;
    const int32_t wc = p->weight_channels < icg ? p->weight_channels : icg;
    if (wc > 0 && weights && input) {
        for (int32_t o = 0; o < p->out_c; o++) {
            if (p->coef_w[o] == 0.0f) continue; /* frozen channel: no step, no draw */
            const int32_t base = (o / ocg) * icg;
            for (int32_t ky = 0; ky < p->k_h; ky++) {
                for (int32_t kx = 0; kx < p->k_w; kx++) {
                    int8_t *w = weights + ((o * p->k_h + ky) * p->k_w + kx) * (p->weights_frozen ? wc : icg);
                    for (int32_t i = 0; i < wc; i++) {
                        const float step = weight_grad(p, input, grad_out, mask, o, ky, kx, base + i) * p->coef_w[o];
                        const int32_t k = ((o * p->k_h + ky) * p->k_w + kx) * wc + i; /* the state's index */
                        w[i] = edgec_update_weight(w[i], step, p->rounding, p->momentum,
                                                   p->velocity_w ? p->velocity_w + k : NULL,
                                                   p->shadow ? p->shadow + k : NULL, rng);
                    }
                }
            }
        }
    }
    if (p->train_bias && bias) {
        const int32_t pixels = p->batches * p->out_h * p->out_w;
        for (int32_t o = 0; o < p->out_c; o++) {
            if (p->coef_b[o] == 0.0f) continue;
            float acc = 0.0f;
            for (int32_t q = 0; q < pixels; q++) {
                const int32_t e = q * p->out_c + o;
                if (edgec_mask_bit(mask, e)) acc += grad_out[e] * p->acc_scale[o];
            }
            float step = acc * p->coef_b[o];
            if (p->velocity_b) step = edgec_momentum(&p->velocity_b[o], p->momentum, step, 1073741824.0f);
            bias[o] = edgec_update_bias(bias[o], step, p->bias_max[o]);
        }
    }
}
