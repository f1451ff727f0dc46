#include "conv_transpose_f32.h"

/* The gather form of conv_transpose_s8.c. The taps are visited with ky and kx counting down, i.e. input rows
 * and columns counting up, which is the order TFLite's scatter adds them in: the float sums are the same. */
void edgec_conv_transpose_f32(const edgec_conv_transpose_f32_params *p, const float *input, float *output) {
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                float *out = output + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                for (int32_t o = 0; o < p->out_c; o++) {
                    float acc = 0.0f;
                    for (int32_t ky = p->k_h - 1; ky >= 0; ky--) {
                        const int32_t ty = oy + p->pad_top - ky;
                        if (ty < 0 || ty % p->stride_h != 0 || ty / p->stride_h >= p->in_h) continue;
                        const int32_t iy = ty / p->stride_h;
                        for (int32_t kx = p->k_w - 1; kx >= 0; kx--) {
                            const int32_t tx = ox + p->pad_left - kx;
                            if (tx < 0 || tx % p->stride_w != 0 || tx / p->stride_w >= p->in_w) continue;
                            const int32_t ix = tx / p->stride_w;
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
