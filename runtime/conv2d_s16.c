#include "conv2d_s16.h"
#include "edgec_fixedpoint.h"
#include "edgec_region.h"

/* out[b,y,x,o] = clamp(MBQM64(bias[o] + sum_{ky,kx,i} w[o,ky,kx,i] * in[b,iy,ix,g*icg+i], M[o], shift[o]))
 * with iy = y*stride_h - pad_top + ky*dilation_h; taps outside the input contribute nothing (zero padding, and
 * the zero point is 0). TFLite Micro's 16x8 ConvPerChannel: the sum is int64, the rescale one rounding on a 16-bit
 * multiplier (edgec_mbqm64); the input and output zero points are 0 by the 16x8 spec (the op's constraints).
 * Cost: one 16x8 multiply and one 64-bit add per MAC (SMLAL on a 32-bit core), one 64-bit rescale per output. */
void edgec_conv2d_s16(const edgec_conv2d_s16_params *p, const int16_t *input, int16_t *output) {
    const int32_t icg = p->in_c / p->groups, ocg = p->out_c / p->groups;
    for (int32_t b = 0; b < p->batches; b++) {
        const int16_t *in_b = input + b * p->in_h * p->in_w * p->in_c;
        for (int32_t y = 0; y < p->out_h; y++) {
            const int32_t in_y0 = y * p->stride_h - p->pad_top;
            int32_t ky0, ky1;
            edgec_tap_range(in_y0, 0, p->in_h, p->k_h, p->dilation_h, &ky0, &ky1);
            for (int32_t x = 0; x < p->out_w; x++) {
                const int32_t in_x0 = x * p->stride_w - p->pad_left;
                int32_t kx0, kx1;
                edgec_tap_range(in_x0, 0, p->in_w, p->k_w, p->dilation_w, &kx0, &kx1);
                int16_t *out = output + ((b * p->out_h + y) * p->out_w + x) * p->out_c;
                for (int32_t o = 0; o < p->out_c; o++) {
                    const int32_t g = o / ocg;
                    int64_t acc = p->bias ? p->bias[o] : 0;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int32_t iy = in_y0 + ky * p->dilation_h;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            const int32_t ix = in_x0 + kx * p->dilation_w;
                            const int16_t *px = in_b + (iy * p->in_w + ix) * p->in_c + g * icg;
                            const int8_t *w = p->weights + ((o * p->k_h + ky) * p->k_w + kx) * icg;
                            for (int32_t i = 0; i < icg; i++) acc += (int32_t)w[i] * (int32_t)px[i];
                        }
                    }
                    const int32_t v = edgec_mbqm64(acc, p->multiplier[o], (int)p->shift[o]);
                    out[o] = (int16_t)edgec_clamp(v, p->act_min, p->act_max);
                }
            }
        }
    }
}
