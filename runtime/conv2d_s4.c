#include "conv2d_s4.h"
#include "edgec_fixedpoint.h"
#include "edgec_int4.h"

/* out[b,y,x,o] = clamp(zp_out + MBQM(bias[o] + sum_{ky,kx,i} w[o,ky,kx,i] * (in[b,iy,ix,g*icg+i] - zp_in)))
 * as in conv2d_s8.c, with the output channel as the OUTER loop: channel o's filter (K = k_h*k_w*icg values) is
 * unpacked once into `row`, then every output pixel of that channel is computed from it with the int8 inner loop.
 * Cost per MAC: the int8 MAC (load, multiply-accumulate) plus K unpacks per channel shared by batches*out_h*out_w
 * pixels, i.e. 1 / (batches*out_h*out_w) unpack per MAC (1/64 on an 8x8 output). The outputs of one pixel are
 * written out_c bytes apart. */
void edgec_conv2d_s4(const edgec_conv2d_s8_params *p, const uint8_t *packed, int8_t *row, const int8_t *input,
                     int8_t *output) {
    const int32_t in_c_per_group = p->in_c / p->groups;
    const int32_t out_c_per_group = p->out_c / p->groups;
    const int32_t taps = p->k_h * p->k_w * in_c_per_group;
    const int32_t in_row = p->in_w * p->in_c;
    for (int32_t o = 0; o < p->out_c; o++) {
        edgec_s4_unpack(packed, o * taps, 1, taps, row);
        const int32_t group = o / out_c_per_group;
        const int32_t bias = p->bias ? p->bias[o] : 0;
        for (int32_t b = 0; b < p->batches; b++) {
            const int8_t *in_b = input + b * p->in_h * in_row + group * in_c_per_group;
            int8_t *out_b = output + b * p->out_h * p->out_w * p->out_c + o;
            for (int32_t y = 0; y < p->out_h; y++) {
                const int32_t in_y0 = y * p->stride_h - p->pad_top;
                int32_t ky0, ky1; /* the rows of the kernel that fall inside the input */
                edgec_tap_range(in_y0, 0, p->in_h, p->k_h, p->dilation_h, &ky0, &ky1);
                for (int32_t x = 0; x < p->out_w; x++) {
                    const int32_t in_x0 = x * p->stride_w - p->pad_left;
                    int32_t kx0, kx1;
                    edgec_tap_range(in_x0, 0, p->in_w, p->k_w, p->dilation_w, &kx0, &kx1);
                    int32_t acc = 0;
                    for (int32_t ky = ky0; ky < ky1; ky++) {
                        const int8_t *in_y = in_b + (in_y0 + ky * p->dilation_h) * in_row;
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            const int8_t *in = in_y + (in_x0 + kx * p->dilation_w) * p->in_c;
                            const int8_t *wk = row + (ky * p->k_w + kx) * in_c_per_group;
                            for (int32_t i = 0; i < in_c_per_group; i++) {
                                acc += (int32_t)wk[i] * ((int32_t)in[i] + p->input_offset);
                            }
                        }
                    }
                    acc = edgec_requantize(acc + bias, p->multiplier[o], p->shift[o], p->rounding) + p->output_offset;
                    out_b[(y * p->out_w + x) * p->out_c] = (int8_t)edgec_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
