#include "depthwise_conv2d_s16.h"
#include "edgec_fixedpoint.h"
#include "edgec_region.h"

/* out[b,y,x,o] = clamp(MBQM64(bias[o] + sum_{ky,kx} w[0,ky,kx,o] * in[b,iy,ix,o / depth_multiplier], M[o], s[o]))
 * TFLite Micro's 16x8 DepthwiseConvPerChannel (int64 sum, edgec_mbqm64). Cost: one 16x8 multiply and one 64-bit
 * add per MAC, one 64-bit rescale per output. */
void edgec_depthwise_conv2d_s16(const edgec_depthwise_conv2d_s16_params *p, const int16_t *input, int16_t *output) {
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
                    const int32_t i = o / p->depth_multiplier;
                    int64_t acc = p->bias ? p->bias[o] : 0;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int32_t iy = in_y0 + ky * p->dilation_h;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            const int32_t ix = in_x0 + kx * p->dilation_w;
                            acc += (int32_t)p->weights[(ky * p->k_w + kx) * p->out_c + o] *
                                   (int32_t)in_b[(iy * p->in_w + ix) * p->in_c + i];
                        }
                    }
                    const int32_t v = edgec_mbqm64(acc, p->multiplier[o], (int)p->shift[o]);
                    out[o] = (int16_t)edgec_clamp(v, p->act_min, p->act_max);
                }
            }
        }
    }
}
