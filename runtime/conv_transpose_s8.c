#include "conv_transpose_s8.h"
#include "edgec_fixedpoint.h"
#include "edgec_region.h"

/* Gather form of TFLite's scatter: output row oy takes every input row iy whose tap ky = oy + pad_top
 * - iy * stride_h is inside the kernel, [0, k_h) (the same for columns), so no int32 scratch buffer of the
 * output's size is needed. Those rows are iy * stride_h in [oy + pad_top - k_h + 1, oy + pad_top + 1), iy in
 * [0, in_h): found once per output row (columns: per pixel) by edgec_tap_range, with the input as the taps.
 * out[b,oy,ox,o] = clamp(zp_out + MBQM(bias[o] + sum_{ky,kx,i} w[o,ky,kx,i] * (in[b,iy,ix,i] - zp_in))) */
void edgec_conv_transpose_s8(const edgec_conv_transpose_s8_params *p, const int8_t *input, int8_t *output) {
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            int32_t iy0, iy1; /* the input rows that reach output row oy */
            edgec_tap_range(0, oy + p->pad_top - p->k_h + 1, oy + p->pad_top + 1, p->in_h, p->stride_h, &iy0, &iy1);
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                int32_t ix0, ix1;
                edgec_tap_range(0, ox + p->pad_left - p->k_w + 1, ox + p->pad_left + 1, p->in_w, p->stride_w, &ix0,
                                &ix1);
                int8_t *out = output + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                for (int32_t o = 0; o < p->out_c; o++) {
                    int32_t acc = 0;
                    for (int32_t iy = iy0; iy < iy1; iy++) {
                        const int32_t ky = oy + p->pad_top - iy * p->stride_h;
                        for (int32_t ix = ix0; ix < ix1; ix++) {
                            const int32_t kx = ox + p->pad_left - ix * p->stride_w;
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
