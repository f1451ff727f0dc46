#include "avg_pool2d_backward_f32.h"

void edgec_avg_pool2d_backward_f32(const edgec_avg_pool2d_backward_params *p, const float *g_y, float *g_x) {
    const int32_t c = p->channels;
    for (int32_t i = 0; i < p->batches * p->in_h * p->in_w * c; i++) g_x[i] = 0.0f;
    for (int32_t n = 0; n < p->batches; n++) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                const float inv = p->inv_count[oy * p->out_w + ox];
                const float *gy = g_y + ((n * p->out_h + oy) * p->out_w + ox) * c;
                for (int32_t ky = 0; ky < p->filter_h; ky++) {
                    const int32_t iy = oy * p->stride_h - p->pad_top + ky;
                    if (iy < 0 || iy >= p->in_h) continue;
                    for (int32_t kx = 0; kx < p->filter_w; kx++) {
                        const int32_t ix = ox * p->stride_w - p->pad_left + kx;
                        if (ix < 0 || ix >= p->in_w) continue;
                        float *gx = g_x + ((n * p->in_h + iy) * p->in_w + ix) * c;
                        for (int32_t ch = 0; ch < c; ch++) gx[ch] = gx[ch] + gy[ch] * inv;
                    }
                }
            }
        }
    }
}
