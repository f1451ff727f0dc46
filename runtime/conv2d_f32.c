#include "conv2d_f32.h"

/* out[b,y,x,o] = clamp(sum_{ky,kx,i} in[b,iy,ix,g*icg+i] * w[o,ky,kx,i] + bias[o])
 * with iy = y*stride_h - pad_top + ky*dilation_h; taps outside the input are skipped (zero padding).
 * The sum runs ky, kx, i ascending in one float, then the bias is added (TFLite's reference order). */
void edgec_conv2d_f32(const edgec_conv2d_f32_params *p, const float *input, float *output) {
    const int32_t in_c_per_group = p->in_c / p->groups;
    const int32_t out_c_per_group = p->out_c / p->groups;
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t y = 0; y < p->out_h; y++) {
            const int32_t in_y0 = y * p->stride_h - p->pad_top;
            for (int32_t x = 0; x < p->out_w; x++) {
                const int32_t in_x0 = x * p->stride_w - p->pad_left;
                float *out = output + ((b * p->out_h + y) * p->out_w + x) * p->out_c;
                for (int32_t o = 0; o < p->out_c; o++) {
                    const int32_t group = o / out_c_per_group;
                    const float *w = p->weights + o * p->k_h * p->k_w * in_c_per_group;
                    float acc = 0.0f;
                    for (int32_t ky = 0; ky < p->k_h; ky++) {
                        const int32_t iy = in_y0 + ky * p->dilation_h;
                        if (iy < 0 || iy >= p->in_h) continue;
                        for (int32_t kx = 0; kx < p->k_w; kx++) {
                            const int32_t ix = in_x0 + kx * p->dilation_w;
                            if (ix < 0 || ix >= p->in_w) continue;
                            const float *in = input + ((b * p->in_h + iy) * p->in_w + ix) * p->in_c
                                              + group * in_c_per_group;
                            const float *wk = w + (ky * p->k_w + kx) * in_c_per_group;
                            for (int32_t i = 0; i < in_c_per_group; i++) acc += in[i] * wk[i];
                        }
                    }
                    if (p->bias) acc += p->bias[o];
                    out[o] = edgec_clampf(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}
