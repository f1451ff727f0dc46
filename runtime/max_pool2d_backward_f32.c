#include "max_pool2d_backward_f32.h"

#include "edgec_train.h" /* the fp16 conversions */

/* The element of x (an index into the NHWC input) that wins the window of output (n, oy, ox), channel ch: the
 * first tap, row-major, inside the input holding the window's maximum; -1 when no tap is inside. */
static int32_t argmax_tap(const edgec_avg_pool2d_backward_params *p, const int8_t *x, int32_t n, int32_t oy,
                          int32_t ox, int32_t ch) {
    const int32_t c = p->channels;
    const int32_t y0 = oy * p->stride_h - p->pad_top, x0 = ox * p->stride_w - p->pad_left;
    int32_t best = -129, at = -1;
    for (int32_t ky = 0; ky < p->filter_h; ky++) {
        const int32_t iy = y0 + ky;
        if (iy < 0 || iy >= p->in_h) continue;
        for (int32_t kx = 0; kx < p->filter_w; kx++) {
            const int32_t ix = x0 + kx;
            if (ix < 0 || ix >= p->in_w) continue;
            const int32_t e = ((n * p->in_h + iy) * p->in_w + ix) * c + ch;
            if (x[e] > best) { /* strictly greater: the first tap at the maximum wins */
                best = x[e];
                at = e;
            }
        }
    }
    return at;
}

void edgec_max_pool2d_backward_f32(const edgec_avg_pool2d_backward_params *p, const float *g_y, const int8_t *x,
                                   float *g_x) {
    const int32_t c = p->channels;
    for (int32_t i = 0; i < p->batches * p->in_h * p->in_w * c; i++) g_x[i] = 0.0f;
    for (int32_t n = 0; n < p->batches; n++) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                for (int32_t ch = 0; ch < c; ch++) {
                    const int32_t at = argmax_tap(p, x, n, oy, ox, ch);
                    if (at >= 0) g_x[at] = g_x[at] + g_y[((n * p->out_h + oy) * p->out_w + ox) * c + ch];
                }
            }
        }
    }
}

void edgec_max_pool2d_backward_f16(const edgec_avg_pool2d_backward_params *p, const uint16_t *g_y, const int8_t *x,
                                   uint16_t *g_x) {
    const int32_t c = p->channels;
    for (int32_t i = 0; i < p->batches * p->in_h * p->in_w * c; i++) g_x[i] = 0u;
    for (int32_t n = 0; n < p->batches; n++) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                for (int32_t ch = 0; ch < c; ch++) {
                    const int32_t at = argmax_tap(p, x, n, oy, ox, ch);
                    if (at >= 0)
                        g_x[at] = edgec_float_to_half(edgec_half_to_float(g_x[at])
                                                      + edgec_half_to_float(g_y[((n * p->out_h + oy) * p->out_w + ox) * c + ch]));
                }
            }
        }
    }
}
