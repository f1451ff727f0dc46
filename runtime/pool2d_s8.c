#include "pool2d_s8.h"
#include "edgec_fixedpoint.h"

/* The window of output (y, x), clipped to the full input (padded taps are not counted: TFLite semantics), then
 * shifted into the input buffer's coordinates (edgec_region.h; the whole layer has no shift). */
typedef struct { int32_t y0, y1, x0, x1; } window_t;

static window_t clipped_window(const edgec_pool2d_s8_params *p, const edgec_region *r, int32_t y, int32_t x) {
    window_t w;
    const int32_t in_y = y * p->stride_h - p->pad_top;
    const int32_t in_x = x * p->stride_w - p->pad_left;
    w.y0 = edgec_max(in_y, 0) - r->in_y0;
    w.y1 = edgec_min(in_y + p->k_h, p->in_h) - r->in_y0;
    w.x0 = edgec_max(in_x, 0) - r->in_x0;
    w.x1 = edgec_min(in_x + p->k_w, p->in_w) - r->in_x0;
    return w;
}

/* mean = sum / count rounded half away from zero (the integer division truncates, hence the +-count/2) */
void edgec_avg_pool2d_s8_region(const edgec_pool2d_s8_params *p, const edgec_region *r, const int8_t *input,
                                int8_t *output) {
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in = input + b * r->in_h * r->in_w * p->channels;
        int8_t *out_b = output + b * r->ob_h * r->ob_w * p->channels;
        for (int32_t y = r->out_y0; y < r->out_y0 + r->out_h; y++) {
            for (int32_t x = r->out_x0; x < r->out_x0 + r->out_w; x++) {
                const window_t w = clipped_window(p, r, y, x);
                const int32_t count = (w.y1 - w.y0) * (w.x1 - w.x0);
                int8_t *out = out_b + ((y - r->ob_y0) * r->ob_w + (x - r->ob_x0)) * p->channels;
                for (int32_t c = 0; c < p->channels; c++) {
                    int32_t sum = 0;
                    for (int32_t iy = w.y0; iy < w.y1; iy++)
                        for (int32_t ix = w.x0; ix < w.x1; ix++) sum += in[(iy * r->in_w + ix) * p->channels + c];
                    if (count == 0) { out[c] = 0; continue; }
                    const int32_t mean = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                    out[c] = (int8_t)edgec_clamp(mean, p->act_min, p->act_max);
                }
            }
        }
    }
}

void edgec_max_pool2d_s8_region(const edgec_pool2d_s8_params *p, const edgec_region *r, const int8_t *input,
                                int8_t *output) {
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *in = input + b * r->in_h * r->in_w * p->channels;
        int8_t *out_b = output + b * r->ob_h * r->ob_w * p->channels;
        for (int32_t y = r->out_y0; y < r->out_y0 + r->out_h; y++) {
            for (int32_t x = r->out_x0; x < r->out_x0 + r->out_w; x++) {
                const window_t w = clipped_window(p, r, y, x);
                int8_t *out = out_b + ((y - r->ob_y0) * r->ob_w + (x - r->ob_x0)) * p->channels;
                for (int32_t c = 0; c < p->channels; c++) {
                    int32_t best = -128;
                    for (int32_t iy = w.y0; iy < w.y1; iy++)
                        for (int32_t ix = w.x0; ix < w.x1; ix++)
                            best = edgec_max(best, in[(iy * r->in_w + ix) * p->channels + c]);
                    out[c] = (int8_t)edgec_clamp(best, p->act_min, p->act_max);
                }
            }
        }
    }
}

void edgec_avg_pool2d_s8(const edgec_pool2d_s8_params *p, const int8_t *input, int8_t *output) {
    const edgec_region whole = edgec_whole_region(p->in_h, p->in_w, p->out_h, p->out_w);
    edgec_avg_pool2d_s8_region(p, &whole, input, output);
}

void edgec_max_pool2d_s8(const edgec_pool2d_s8_params *p, const int8_t *input, int8_t *output) {
    const edgec_region whole = edgec_whole_region(p->in_h, p->in_w, p->out_h, p->out_w);
    edgec_max_pool2d_s8_region(p, &whole, input, output);
}
