#include "pool2d_s16.h"
#include "edgec_fixedpoint.h"

/* avg = clamp(round_half_away(sum / count)), max = clamp(max of the window); the window clipped to the input
 * (padded taps are not counted), as TFLite Micro's int16 pooling. The int32 sum holds any window below 2^16 taps.
 * Cost: one add (or compare) per window tap, one division per output of the average. */
static void pool(const edgec_pool2d_s16_params *p, const int16_t *input, int16_t *output, int average) {
    for (int32_t b = 0; b < p->batches; b++) {
        const int16_t *in = input + b * p->in_h * p->in_w * p->channels;
        for (int32_t y = 0; y < p->out_h; y++) {
            for (int32_t x = 0; x < p->out_w; x++) {
                const int32_t in_y = y * p->stride_h - p->pad_top, in_x = x * p->stride_w - p->pad_left;
                const int32_t y0 = edgec_max(in_y, 0), y1 = edgec_min(in_y + p->k_h, p->in_h);
                const int32_t x0 = edgec_max(in_x, 0), x1 = edgec_min(in_x + p->k_w, p->in_w);
                const int32_t count = (y1 - y0) * (x1 - x0);
                int16_t *out = output + ((b * p->out_h + y) * p->out_w + x) * p->channels;
                for (int32_t c = 0; c < p->channels; c++) {
                    int32_t acc = average ? 0 : INT16_MIN;
                    for (int32_t iy = y0; iy < y1; iy++) {
                        for (int32_t ix = x0; ix < x1; ix++) {
                            const int32_t v = in[(iy * p->in_w + ix) * p->channels + c];
                            acc = average ? acc + v : edgec_max(acc, v);
                        }
                    }
                    if (average) {
                        if (count == 0) { out[c] = 0; continue; }
                        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    }
                    out[c] = (int16_t)edgec_clamp(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

void edgec_avg_pool2d_s16(const edgec_pool2d_s16_params *p, const int16_t *input, int16_t *output) {
    pool(p, input, output, 1);
}

void edgec_max_pool2d_s16(const edgec_pool2d_s16_params *p, const int16_t *input, int16_t *output) {
    pool(p, input, output, 0);
}
