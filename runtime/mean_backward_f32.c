#include "mean_backward_f32.h"

void edgec_mean_backward_f32(int32_t batches, int32_t pixels, int32_t channels, float inv_count, const float *g_y,
                             float *g_x) {
    for (int32_t n = 0; n < batches; n++)
        for (int32_t p = 0; p < pixels; p++)
            for (int32_t c = 0; c < channels; c++)
                g_x[(n * pixels + p) * channels + c] = g_y[n * channels + c] * inv_count;
}
