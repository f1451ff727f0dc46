#include "conv_transpose_s8.h"
#include "edgec_fixedpoint.h"

/* Gather form of TFLite's scatter: output row oy takes input row iy = (oy + pad_top - ky) / stride_h for every
 * ky where that division is exact and iy is inside the input (the same for columns), so no int32 scratch
 * buffer of the output's size is needed.
 * out[b,oy,ox,o] = clamp(zp_out + MBQM(bias[o] + sum_{ky,kx,i} w[o,ky,kx,i] * (in[b,iy,ix,i] - zp_in))) */
void edgec_conv_transpose_s8(const edgec_conv_transpose_s8_params *p, const int8_t *input, int8_t *output) {
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                int8_t *out = output + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                for (int32_t o = 0; o < p->out_c; o++) {
                    int32_t acc = 0;
                    for (int32_t ky = p->k_h - 1; ky >= 0; ky--) {
                        const int32_t ty = oy + p->pad_top - ky;
                        if (ty < 0 || ty % p->stride_h != 0 || ty / p->stride_h >= p->in_h) continue;
                        const int32_t iy = ty / p->stride_h;
                        for (int32_t kx = p->k_w - 1; kx >= 0; kx--) {
                            const int32_t tx = ox + p->pad_left - kx;
                            if (tx < 0 || tx % p->stride_w != 0 || tx / p->stride_w >= p->in_w) continue;
                            const int32_t ix = tx / p->stride_w;
                            const int8_t *in = input + ((b * p->in_h + iy) * p->in_w + ix) * p->in_c;
                            const int8_t *w = p->weights + ((o * p->k_h + ky) * p->k_w + kx) * p->in_c;
                            for (int32_t i = 0; i < p->in_c; i++) {
                                acc += ((int32_t)in[i] + p->input_offset) * (int32_t)w[i];
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
