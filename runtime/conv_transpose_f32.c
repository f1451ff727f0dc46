#include "conv_transpose_f32.h"
#include "edgec_region.h"

/* The gather form of conv_transpose_s8.c. The taps are visited with input rows and columns counting up, i.e. ky
 * and kx counting down, which is the order TFLite's scatter adds them in: the float sums are the same. */
void edgec_conv_transpose_f32(const edgec_conv_transpose_f32_params *p, const float *input, float *output) {
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            int32_t iy0, iy1; /* the input rows that reach output row oy (conv_transpose_s8.c) */
            edgec_tap_range(0, oy + p->pad_top - p->k_h + 1, oy + p->pad_top + 1, p->in_h, p->stride_h, &iy0, &iy1);
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                int32_t ix0, ix1;
                edgec_tap_range(0, ox + p->pad_left - p->k_w + 1, ox + p->pad_left + 1, p->in_w, p->stride_w, &ix0,
                                &ix1);
                float *out = output + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                for (int32_t o = 0; o < p->out_c; o++) {
                    float acc = 0.0f;
                    for (int32_t iy = iy0; iy < iy1; iy++) {
                        const int32_t ky = oy + p->pad_top - iy * p->stride_h;
                        for (int32_t ix = ix0; ix < ix1; ix++) {
                            const int32_t kx = ox + p->pad_left - ix * p->stride_w;
                            const float *in = input + ((b * p->in_h + iy) * p->in_w + ix) * p->in_c;
                            const float *w = p->weights + ((o * p->k_h + ky) * p->k_w + kx) * p->in_c;
                            for (int32_t i = 0; i < p->in_c; i++) acc += in[i] * w[i];
                        }
                    }
                    if (p->bias) acc += p->bias[o];
                    out[o] = edgec_clampf(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
