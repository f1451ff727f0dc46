#include "depthwise_conv2d_f32.h"
#include "edgec_region.h"

/* out[b,y,x,o] = clamp(sum_{ky,kx} in[b,iy,ix,i] * w[ky,kx,o] + bias[o]),  o = i * depth_multiplier + m.
 * Taps outside the input are skipped; the sum runs ky, kx ascending, then the bias is added. */
void edgec_depthwise_conv2d_f32(const edgec_depthwise_conv2d_f32_params *p, const float *input, float *output) {
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t y = 0; y < p->out_h; y++) {
            const int32_t in_y0 = y * p->stride_h - p->pad_top;
            int32_t ky0, ky1; /* the rows of the kernel that fall inside the input */
            edgec_tap_range(in_y0, 0, p->in_h, p->k_h, p->dilation_h, &ky0, &ky1);
            for (int32_t x = 0; x < p->out_w; x++) {
                const int32_t in_x0 = x * p->stride_w - p->pad_left;
                int32_t kx0, kx1;
                edgec_tap_range(in_x0, 0, p->in_w, p->k_w, p->dilation_w, &kx0, &kx1);
                float *out = output + ((b * p->out_h + y) * p->out_w + x) * p->out_c;
                for (int32_t i = 0; i < p->in_c; i++) {
                    for (int32_t m = 0; m < p->depth_multiplier; m++) {
                        const int32_t o = i * p->depth_multiplier + m;
                        float acc = 0.0f;
                        for (int32_t ky = ky0; ky < ky1; ky++) {
                            const int32_t iy = in_y0 + ky * p->dilation_h;
                            for (int32_t kx = kx0; kx < kx1; kx++) {
                                const int32_t ix = in_x0 + kx * p->dilation_w;
                                acc += input[((b * p->in_h + iy) * p->in_w + ix) * p->in_c + i]
                                       * p->weights[(ky * p->k_w + kx) * p->out_c + o];
                            }
                        }
                        if (p->bias) acc += p->bias[o];
                        out[o] = edgec_clampf(acc, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}
