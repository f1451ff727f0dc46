#include "pool2d_s8.h"
#include "edgec_fixedpoint.h"

/* The window of output (y, x), clipped to the input: padded taps are not counted (TFLite semantics). */
typedef struct { int32_t y0, y1, x0, x1; } window_t;

static window_t clipped_window(const edgec_pool2d_s8_params *p, int32_t y, int32_t x) {
    window_t w;
    const int32_t in_y = y * p->stride_h - p->pad_top;
    const int32_t in_x = x * p->stride_w - p->pad_left;
    w.y0 = edgec_max(in_y, 0);
    w.y1 = edgec_min(in_y + p->k_h, p->in_h);
    w.x0 = edgec_max(in_x, 0);
    w.x1 = edgec_min(in_x + p->k_w, p->in_w);
    return w;
}

/* mean = sum / count rounded half away from zero (the integer division truncates, hence the +-count/2) */
void edgec_avg_pool2d_s8(const edgec_pool2d_s8_params *p, const int8_t *input, int8_t *output) {
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in = input + b * p->in_h * p->in_w * p->channels;
        for (int32_t y = 0; y < p->out_h; y++) {
            for (int32_t x = 0; x < p->out_w; x++) {
                const window_t w = clipped_window(p, y, x);
                const int32_t count = (w.y1 - w.y0) * (w.x1 - w.x0);
                int8_t *out = output + ((b * p->out_h + y) * p->out_w + x) * p->channels;
                for (int32_t c = 0; c < p->channels; c++) {
                    int32_t sum = 0;
                    for (int32_t iy = w.y0; iy < w.y1; iy++)
                        for (int32_t ix = w.x0; ix < w.x1; ix++) sum += in[(iy * p->in_w + ix) * p->channels + c];
                    if (count == 0) { out[c] = 0; continue; }
                    const int32_t mean = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                    out[c] = (int8_t)edgec_clamp(mean, p->act_min, p->act_max);
                }
            }
        }
    }
}

void edgec_max_pool2d_s8(const edgec_pool2d_s8_params *p, const int8_t *input, int8_t *output) {
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in = input + b * p->in_h * p->in_w * p->channels;
        for (int32_t y = 0; y < p->out_h; y++) {
            for (int32_t x = 0; x < p->out_w; x++) {
                const window_t w = clipped_window(p, y, x);
                int8_t *out = output + ((b * p->out_h + y) * p->out_w + x) * p->channels;
                for (int32_t c = 0; c < p->channels; c++) {
                    int32_t best = -128;
                    for (int32_t iy = w.y0; iy < w.y1; iy++)
                        for (int32_t ix = w.x0; ix < w.x1; ix++)
                            best = edgec_max(best, in[(iy * p->in_w + ix) * p->channels + c]);
                    out[c] = (int8_t)edgec_clamp(best, p->act_min, p->act_max);
                }
            }
        }
    }
}
