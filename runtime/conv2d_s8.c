#include "conv2d_s8.h"
#include "edgec_fixedpoint.h"

/* out[b,y,x,o] = clamp(zp_out + MBQM(bias[o] + sum_{ky,kx,i} w[o,ky,kx,i] * (in[b,iy,ix,g*icg+i] - zp_in)))
 * with iy = y*stride_h - pad_top + ky*dilation_h (taps outside the input contribute nothing: zero padding
 * in the real domain is padding with zp_in in the integer one). */
void edgec_conv2d_s8(const edgec_conv2d_s8_params *p, const int8_t *input, int8_t *output) {
    const int32_t in_c_per_group = p->in_c / p->groups;
    const int32_t out_c_per_group = p->out_c / p->groups;
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t y = 0; y < p->out_h; y++) {
            const int32_t in_y0 = y * p->stride_h - p->pad_top;
            for (int32_t x = 0; x < p->out_w; x++) {
                const int32_t in_x0 = x * p->stride_w - p->pad_left;
                int8_t *out = output + ((b * p->out_h + y) * p->out_w + x) * p->out_c;
                for (int32_t o = 0; o < p->out_c; o++) {
                    const int32_t group = o / out_c_per_group;
                    const int8_t *w = p->weights + o * p->k_h * p->k_w * in_c_per_group;
                    int32_t acc = 0;
                    for (int32_t ky = 0; ky < p->k_h; ky++) {
                        const int32_t iy = in_y0 + ky * p->dilation_h;
                        if (iy < 0 || iy >= p->in_h) continue;
                        for (int32_t kx = 0; kx < p->k_w; kx++) {
                            const int32_t ix = in_x0 + kx * p->dilation_w;
                            if (ix < 0 || ix >= p->in_w) continue;
                            const int8_t *in = input + ((b * p->in_h + iy) * p->in_w + ix) * p->in_c
                                               + group * in_c_per_group;
                            const int8_t *wk = w + (ky * p->k_w + kx) * in_c_per_group;
                            for (int32_t i = 0; i < in_c_per_group; i++) {
                                acc += (int32_t)wk[i] * ((int32_t)in[i] + p->input_offset);
                            }
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
