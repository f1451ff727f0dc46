#include "depthwise_conv2d_s8.h"
#include "edgec_fixedpoint.h"

/* out[b,y,x,i*dm+m] = clamp(zp_out + MBQM(bias + sum_{ky,kx} w[ky,kx,i*dm+m] * (in[b,iy,ix,i] - zp_in))) */
void edgec_depthwise_conv2d_s8(const edgec_depthwise_conv2d_s8_params *p, const int8_t *input, int8_t *output) {
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t y = 0; y < p->out_h; y++) {
            const int32_t in_y0 = y * p->stride_h - p->pad_top;
            for (int32_t x = 0; x < p->out_w; x++) {
                const int32_t in_x0 = x * p->stride_w - p->pad_left;
                int8_t *out = output + ((b * p->out_h + y) * p->out_w + x) * p->out_c;
                for (int32_t i = 0; i < p->in_c; i++) {
                    for (int32_t m = 0; m < p->depth_multiplier; m++) {
                        const int32_t o = i * p->depth_multiplier + m;
                        int32_t acc = 0;
                        for (int32_t ky = 0; ky < p->k_h; ky++) {
                            const int32_t iy = in_y0 + ky * p->dilation_h;
                            if (iy < 0 || iy >= p->in_h) continue;
                            for (int32_t kx = 0; kx < p->k_w; kx++) {
                                const int32_t ix = in_x0 + kx * p->dilation_w;
                                if (ix < 0 || ix >= p->in_w) continue;
                                const int32_t in = input[((b * p->in_h + iy) * p->in_w + ix) * p->in_c + i];
                                acc += (int32_t)p->weights[(ky * p->k_w + kx) * p->out_c + o] * (in + p->input_offset);
                            }
                        }
                        if (p->bias) acc += p->bias[o];
                        acc = edgec_mbqm(acc, p->multiplier[o], p->shift[o]) + p->output_offset;
                        out[o] = (int8_t)edgec_clamp(acc, p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}
