#include "pool2d_f32.h"

/* The window of output (y, x) clipped to the input: padded taps are not counted (TFLite semantics). */
typedef struct { int32_t y0, y1, x0, x1; } window_t;

static window_t clipped_window(const edgec_pool2d_f32_params *p, int32_t y, int32_t x) {
    window_t w;
    const int32_t in_y = y * p->stride_h - p->pad_top;
    const int32_t in_x = x * p->stride_w - p->pad_left;
    w.y0 = in_y > 0 ? in_y : 0;
    w.y1 = in_y + p->k_h < p->in_h ? in_y + p->k_h : p->in_h;
    w.x0 = in_x > 0 ? in_x : 0;
    w.x1 = in_x + p->k_w < p->in_w ? in_x + p->k_w : p->in_w;
    return w;
}

/* out = clamp(sum / count): the taps summed row by row in one float, divided by the number of taps inside */
void edgec_avg_pool2d_f32(const edgec_pool2d_f32_params *p, const float *input, float *output) {
    for (int32_t b = 0; b < p->batches; b++) {
        const float *in = input + b * p->in_h * p->in_w * p->channels;
        for (int32_t y = 0; y < p->out_h; y++) {
            for (int32_t x = 0; x < p->out_w; x++) {
                const window_t w = clipped_window(p, y, x);
                const int32_t count = (w.y1 - w.y0) * (w.x1 - w.x0);
                float *out = output + ((b * p->out_h + y) * p->out_w + x) * p->channels;
                for (int32_t c = 0; c < p->channels; c++) {
                    float sum = 0.0f;
                    for (int32_t iy = w.y0; iy < w.y1; iy++)
                        for (int32_t ix = w.x0; ix < w.x1; ix++) sum += in[(iy * p->in_w + ix) * p->channels + c];
                    out[c] = edgec_clampf(count > 0 ? sum / (float)count : 0.0f, p->act_min, p->act_max);
                }
            }
        }
    }
}

void edgec_max_pool2d_f32(const edgec_pool2d_f32_params *p, const float *input, float *output) {
    for (int32_t b = 0; b < p->batches; b++) {
        const float *in = input + b * p->in_h * p->in_w * p->channels;
        for (int32_t y = 0; y < p->out_h; y++) {
            for (int32_t x = 0; x < p->out_w; x++) {
                const window_t w = clipped_window(p, y, x);
                float *out = output + ((b * p->out_h + y) * p->out_w + x) * p->channels;
                for (int32_t c = 0; c < p->channels; c++) {
                    float best = -HUGE_VALF;
                    for (int32_t iy = w.y0; iy < w.y1; iy++)
                        for (int32_t ix = w.x0; ix < w.x1; ix++) {
                            const float v = in[(iy * p->in_w + ix) * p->channels + c];
                            best = v > best ? v : best;
                        }
                    out[c] = edgec_clampf(best, p->act_min, p->act_max);
                }
            }
        }
    }
}
