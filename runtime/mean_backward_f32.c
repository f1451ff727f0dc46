#include "mean_backward_f32.h"

#include "edgec_train.h" /* the fp16 conversions */

void edgec_mean_backward_f32(int32_t batches, int32_t pixels, int32_t channels, float inv_count, const float *g_y,
                             float *g_x) {
    for (int32_t n = 0; n < batches; n++)
        for (int32_t p = 0; p < pixels; p++)
            for (int32_t c = 0; c < channels; c++)
                g_x[(n * pixels + p) * channels + c] = g_y[n * channels + c] * inv_count;
}

void edgec_mean_backward_f16(int32_t batches, int32_t pixels, int32_t channels, float inv_count, const uint16_t *g_y,
                             uint16_t *g_x) {
    for (int32_t n = 0; n < batches; n++)
        for (int32_t p = 0; p < pixels; p++)
            for (int32_t c = 0; c < channels; c++)
                g_x[(n * pixels + p) * channels + c] =
                    edgec_float_to_half(edgec_half_to_float(g_y[n * channels + c]) * inv_count);
}
