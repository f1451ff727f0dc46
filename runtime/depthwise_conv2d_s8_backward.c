#include "depthwise_conv2d_s8_backward.h"
#include "edgec_train.h"

/* With g_acc[p,o] = (mask(p,o) ? g_y[p,o] : 0) * acc_scale[o] (the gradient of the int32 accumulator, real units)
 * and o = i * mult + m:
 *   g_x[n,iy,ix,i] = inv_sx * sum_{ky asc, kx asc, m asc} (float)w[0,ky,kx,o] * g_acc[n,oy,ox,o]
 *                    over the taps where iy = oy*stride_h - pad_top + ky*dilation_h (and x) for an output pixel
 *   G[o,ky,kx]     = sum_{p asc} g_acc[p,o] * (float)(x[n,iy,ix,o / mult] - zp_x)   (taps inside the input)
 *   w[0,ky,kx,o]   = update(w, G * coef_w[o])  for o < weight_channels * mult asc, ky asc, kx asc
 *   bias[o]        = update_bias(bias, (sum_{p asc} g_acc[p,o]) * coef_b[o], bias_max[o])
 * With momentum or fp32 shadow weights (the state pointers set) `update` is edgec_update_weight and the bias's
 * step goes through edgec_momentum first; the state of the k-th updated weight (in the order above, frozen
 * channels' slots included) is velocity_w[k] / shadow[k]. (edgec_train.h states the float operations.)
 * Every sum is sequential in float32 from 0.0f, in that order, with no fused multiply-add (the numpy reference in
 * toolchain/ops/depthwise_conv2d.py gives the same bits). g_x uses the weights before the update.
 * A term whose g_acc is 0 (masked) or whose tap falls outside the input is skipped: it would add a zero to a sum
 * that started at +0.0 and so is never -0.0, which changes no bit.
 * Cost per MAC: g_x a load and conversion of the weight, a multiply and an add into g_x (output pixels scattered
 * to their taps, descending, per chunk of 16 output channels whose g_acc is computed once per pixel into a stack
 * row, a pixel whose chunk's g_acc is all zero skipped); G per output channel: g_acc[., o] once into `scratch`
 * (one float per output pixel), then per tap one sum over the tap's valid output pixels (their range computed
 * once: no bound test per pixel), skipping g_acc = 0: a load, a conversion, a multiply and an add. Per updated
 * weight ~8 instructions (nearest) or ~16 (stochastic). scratch: batches out_h out_w floats when weights are
 * trained. */

/* the output coordinates o in [0, out) whose input o*stride - pad + offset is inside [0, in): [*lo, *hi) */
static void valid_outputs(int32_t out, int32_t in, int32_t stride, int32_t pad, int32_t offset, int32_t *lo,
                          int32_t *hi) {
    int32_t a = 0, b = out;
    while (a < b && a * stride - pad + offset < 0) a++;
    while (b > a && (b - 1) * stride - pad + offset >= in) b--;
    *lo = a;
    *hi = b;
}

#define EDGEC_DW_ROW 16 /* output channels whose g_acc one pass keeps (on the stack) */

/* g_x scattered from the output side: output pixels in descending order, each to its taps in ascending (ky, kx)
 * order, so every input element still receives its terms tap by tap in ascending order (a larger output
 * coordinate reads an input through a smaller tap), m ascending within a tap. One pass per chunk of input
 * channels whose outputs fit EDGEC_DW_ROW (the chunks' sums are independent): the pixel's g_acc for the chunk is
 * computed once into `row` (a multiplier above EDGEC_DW_ROW computes each g_acc where it is used). */
static void input_grad(const edgec_depthwise_conv2d_s8_backward_params *p, const float *grad_out,
                       const uint8_t *mask, float *grad_in) {
    const int32_t mult = p->depth_multiplier;
    const int32_t total = p->batches * p->in_h * p->in_w * p->in_c;
    const int32_t chunk = mult <= EDGEC_DW_ROW ? EDGEC_DW_ROW / mult : 1; /* input channels per pass */
    float row[EDGEC_DW_ROW];
    for (int32_t k = 0; k < total; k++) grad_in[k] = 0.0f;
    for (int32_t c0 = 0; c0 < p->in_c; c0 += chunk) {
        const int32_t cn = p->in_c - c0 < chunk ? p->in_c - c0 : chunk;
        const int32_t o0 = c0 * mult, on = cn * mult;
        const int32_t kept = on <= EDGEC_DW_ROW;
        for (int32_t n = 0; n < p->batches; n++) {
            for (int32_t oy = p->out_h - 1; oy >= 0; oy--) {
                for (int32_t ox = p->out_w - 1; ox >= 0; ox--) {
                    const int32_t e0 = ((n * p->out_h + oy) * p->out_w + ox) * p->out_c + o0;
                    if (kept) {
                        int32_t any = 0;
                        for (int32_t k = 0; k < on; k++) {
                            row[k] = (edgec_mask_bit(mask, e0 + k) ? grad_out[e0 + k] : 0.0f) * p->acc_scale[o0 + k];
                            any |= row[k] != 0.0f;
                        }
                        if (!any) continue; /* only zeros to add */
                    }
                    for (int32_t ky = 0; ky < p->k_h; ky++) {
                        const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dilation_h;
                        if (iy < 0 || iy >= p->in_h) continue;
                        for (int32_t kx = 0; kx < p->k_w; kx++) {
                            const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dilation_w;
                            if (ix < 0 || ix >= p->in_w) continue;
                            float *s = grad_in + ((n * p->in_h + iy) * p->in_w + ix) * p->in_c + c0;
                            const int8_t *w = p->weights + (ky * p->k_w + kx) * p->out_c + o0;
                            if (mult == 1) {
                                for (int32_t i = 0; i < cn; i++) s[i] += (float)w[i] * row[i];
                                continue;
                            }
                            for (int32_t i = 0; i < cn; i++) {
                                float acc = s[i];
                                for (int32_t m = 0; m < mult; m++) {
                                    const int32_t k = i * mult + m;
                                    const float g = kept ? row[k]
                                                         : (edgec_mask_bit(mask, e0 + k) ? grad_out[e0 + k] : 0.0f)
                                                               * p->acc_scale[o0 + k];
                                    acc += (float)w[k] * g;
                                }
                                s[i] = acc;
                            }
                        }
                    }
                }
            }
        }
    }
    for (int32_t k = 0; k < total; k++) grad_in[k] = grad_in[k] * p->inv_sx;
}

/* G[o, tap] over the tap's valid output pixels, ascending; ga: g_acc[., o] over the output pixels */
static float weight_sum(const edgec_depthwise_conv2d_s8_backward_params *p, const int8_t *input, const float *ga,
                        int32_t c, int32_t ky, int32_t kx) {
    int32_t oy0, oy1, ox0, ox1;
    valid_outputs(p->out_h, p->in_h, p->stride_h, p->pad_top, ky * p->dilation_h, &oy0, &oy1);
    valid_outputs(p->out_w, p->in_w, p->stride_w, p->pad_left, kx * p->dilation_w, &ox0, &ox1);
    const int32_t off = p->input_offset;
    float acc = 0.0f;
    for (int32_t n = 0; n < p->batches; n++) {
        for (int32_t oy = oy0; oy < oy1; oy++) {
            const float *gr = ga + (n * p->out_h + oy) * p->out_w;
            const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dilation_h;
            const int8_t *xr = input + ((n * p->in_h + iy) * p->in_w) * p->in_c + c;
            for (int32_t ox = ox0; ox < ox1; ox++) {
                const float g = gr[ox];
                if (g == 0.0f) continue;
                const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dilation_w;
                acc += g * (float)((int32_t)xr[ix * p->in_c] + off);
            }
        }
    }
    return acc;
}

void edgec_depthwise_conv2d_s8_backward(const edgec_depthwise_conv2d_s8_backward_params *p, const int8_t *input,
                                        const float *grad_out, const uint8_t *mask, int8_t *weights, int32_t *bias,
                                        float *grad_in, float *scratch, uint32_t *rng) {
    if (grad_in) input_grad(p, grad_out, mask, grad_in);
    const int32_t trained_max = p->weight_channels < p->in_c ? p->weight_channels * p->depth_multiplier : p->out_c;
    if (trained_max > 0 && weights && input) {
        const int32_t pixels = p->batches * p->out_h * p->out_w;
        for (int32_t o = 0; o < trained_max; o++) {
            if (p->coef_w[o] == 0.0f) continue; /* frozen channel: no step, no draw */
            for (int32_t q = 0; q < pixels; q++) {
                const int32_t e = q * p->out_c + o;
                scratch[q] = (edgec_mask_bit(mask, e) ? grad_out[e] : 0.0f) * p->acc_scale[o];
            }
            for (int32_t ky = 0; ky < p->k_h; ky++) {
                for (int32_t kx = 0; kx < p->k_w; kx++) {
                    int8_t *w = weights + (ky * p->k_w + kx) * p->out_c + o;
                    const float step = weight_sum(p, input, scratch, o / p->depth_multiplier, ky, kx) * p->coef_w[o];
                    const int32_t k = (o * p->k_h + ky) * p->k_w + kx; /* the state's index */
                    *w = edgec_update_weight(*w, step, p->rounding, p->momentum,
                                             p->velocity_w ? p->velocity_w + k : NULL,
                                             p->shadow ? p->shadow + k : NULL, rng);
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

/* The two per-channel kernels below (float32 in place, fp16 storage) run the same three steps on channel c and
 * differ only in how an element of g_y is read and one of g_x is written: these accessors take both storages,
 * exactly one of them set (f16 set: half, converted to float32 at the load and rounded once at the store). */
static inline float grad_load(const float *f32, const uint16_t *f16, int32_t e) {
    return f16 ? edgec_half_to_float(f16[e]) : f32[e];
}

static inline void grad_store(float *f32, uint16_t *f16, int32_t e, float v) {
    if (f16) {
        f16[e] = edgec_float_to_half(v);
    } else {
        f32[e] = v;
    }
}

/* channel c's g_acc plane: (mask ? g_y : 0) * acc_scale[c] over the output pixels */
static void channel_plane(const edgec_depthwise_conv2d_s8_backward_params *p, const float *g32, const uint16_t *g16,
                          const uint8_t *mask, float *plane, int32_t c) {
    const int32_t c_n = p->out_c;
    for (int32_t n = 0; n < p->batches; n++) {
        for (int32_t q = 0; q < p->out_h * p->out_w; q++) {
            const int32_t e = (n * p->out_h * p->out_w + q) * c_n + c;
            plane[n * p->out_h * p->out_w + q] = (edgec_mask_bit(mask, e) ? grad_load(g32, g16, e) : 0.0f)
                                                 * p->acc_scale[c];
        }
    }
}

/* channel c of g_x from the plane and the weights before the update: each sum times inv_sx, stored once */
static void channel_input_grad(const edgec_depthwise_conv2d_s8_backward_params *p, const float *plane, float *g32,
                               uint16_t *g16, int32_t c) {
    const int32_t c_n = p->out_c;
    for (int32_t n = 0; n < p->batches; n++) {
        for (int32_t iy = 0; iy < p->in_h; iy++) {
            for (int32_t ix = 0; ix < p->in_w; ix++) {
                float acc = 0.0f;
                for (int32_t ky = 0; ky < p->k_h; ky++) {
                    const int32_t oy = edgec_output_of_tap(iy, ky, p->stride_h, p->dilation_h, p->pad_top, p->out_h);
                    if (oy < 0) continue;
                    for (int32_t kx = 0; kx < p->k_w; kx++) {
                        const int32_t ox =
                            edgec_output_of_tap(ix, kx, p->stride_w, p->dilation_w, p->pad_left, p->out_w);
                        if (ox < 0) continue;
                        acc += (float)p->weights[(ky * p->k_w + kx) * c_n + c]
                               * plane[(n * p->out_h + oy) * p->out_w + ox];
                    }
                }
                grad_store(g32, g16, ((n * p->in_h + iy) * p->in_w + ix) * c_n + c, acc * p->inv_sx);
            }
        }
    }
}

/* channel c's weights (when trained) and bias (when trained) updated from its plane */
static void channel_update(const edgec_depthwise_conv2d_s8_backward_params *p, const int8_t *input,
                           const uint8_t *mask, int8_t *weights, int32_t *bias, const float *plane, uint32_t *rng,
                           int32_t c) {
    const int32_t c_n = p->out_c; /* = in_c */
    const int32_t trained_max = p->weight_channels < p->in_c ? p->weight_channels : c_n;
    if (c < trained_max && weights && input && p->coef_w[c] != 0.0f) {
        for (int32_t ky = 0; ky < p->k_h; ky++) {
            for (int32_t kx = 0; kx < p->k_w; kx++) {
                float acc = 0.0f;
                for (int32_t n = 0; n < p->batches; n++) {
                    for (int32_t oy = 0; oy < p->out_h; oy++) {
                        const int32_t iy = oy * p->stride_h - p->pad_top + ky * p->dilation_h;
                        if (iy < 0 || iy >= p->in_h) continue;
                        for (int32_t ox = 0; ox < p->out_w; ox++) {
                            const int32_t ix = ox * p->stride_w - p->pad_left + kx * p->dilation_w;
                            if (ix < 0 || ix >= p->in_w) continue;
                            const int32_t q = (n * p->out_h + oy) * p->out_w + ox;
                            if (!edgec_mask_bit(mask, q * c_n + c)) continue;
                            const int32_t xv =
                                (int32_t)input[((n * p->in_h + iy) * p->in_w + ix) * p->in_c + c] + p->input_offset;
                            acc += plane[q] * (float)xv;
                        }
                    }
                }
                const int32_t k = (c * p->k_h + ky) * p->k_w + kx; /* the state's index */
                int8_t *w = weights + (ky * p->k_w + kx) * c_n + c;
                *w = edgec_update_weight(*w, acc * p->coef_w[c], p->rounding, p->momentum,
                                         p->velocity_w ? p->velocity_w + k : NULL, p->shadow ? p->shadow + k : NULL,
                                         rng);
            }
        }
    }
    if (p->train_bias && bias && p->coef_b[c] != 0.0f) {
        const int32_t pixels = p->batches * p->out_h * p->out_w;
        float acc = 0.0f;
        for (int32_t q = 0; q < pixels; q++) {
            if (edgec_mask_bit(mask, q * c_n + c)) acc += plane[q];
        }
        float step = acc * p->coef_b[c];
        if (p->velocity_b) step = edgec_momentum(&p->velocity_b[c], p->momentum, step, 1073741824.0f);
        bias[c] = edgec_update_bias(bias[c], step, p->bias_max[c]);
    }
}

/* In place, depth multiplier 1: channel c at a time. Its g_acc plane (mask and acc_scale applied, the same
 * float32 products as above) is copied to `plane` first; then channel c's g_x overwrites channel c of the buffer
 * (it reads only channel c's g_acc, from the plane, and the weights before the update; element (pixel p, channel
 * c) of g_x and of g_y is at p * C + c alike, so this touches no other channel of g_y, whatever the stride),
 * then channel c's weights and bias are updated from the plane. Every sum has the terms and order of the kernel
 * above; the weights are updated in the same order (c asc, ky asc, kx asc), so the generator's draws are the same;
 * a bias update touches nothing else. Cost: the kernel's, plus one pass over g_y to fill the planes; it saves the
 * g_x tensor (pixels x channels floats) for a plane of pixels floats. */
void edgec_depthwise_conv2d_s8_backward_inplace(const edgec_depthwise_conv2d_s8_backward_params *p,
                                                const int8_t *input, float *grad, const uint8_t *mask,
                                                int8_t *weights, int32_t *bias, float *plane, uint32_t *rng) {
    for (int32_t c = 0; c < p->out_c; c++) {
        channel_plane(p, grad, NULL, mask, plane, c);
        channel_input_grad(p, plane, grad, NULL, c);
        channel_update(p, input, mask, weights, bias, plane, rng, c);
    }
}

/* fp16 storage (edgec train --gradients fp16; edgec_train.h's conversions), depth multiplier 1: the in-place
 * kernel's plan with half loads and stores. Channel c's g_acc plane is filled from the half g_y first; then
 * channel c of g_x (each sum as above, times inv_sx, rounded to half once) is stored into grad_in, which may be
 * grad_out itself (in place) or another buffer or NULL; then channel c's weights and bias are updated from the
 * plane. The same float32 values as the other two kernels before the store. plane: batches out_h out_w floats. */
void edgec_depthwise_conv2d_s8_backward_f16(const edgec_depthwise_conv2d_s8_backward_params *p,
                                            const int8_t *input, const uint16_t *grad_out, const uint8_t *mask,
                                            int8_t *weights, int32_t *bias, uint16_t *grad_in, float *plane,
                                            uint32_t *rng) {
    for (int32_t c = 0; c < p->out_c; c++) {
        channel_plane(p, NULL, grad_out, mask, plane, c);
        if (grad_in) channel_input_grad(p, plane, NULL, grad_in, c);
        channel_update(p, input, mask, weights, bias, plane, rng, c);
    }
}
