#include "pad_backward_f32.h"

#include "edgec_train.h" /* the fp16 conversions */

void edgec_pad_backward_f32(const int32_t *x_shape, const int32_t *y_shape, const int32_t *lead, float factor,
                            const float *g_y, float *g_x) {
    for (int32_t n = 0; n < x_shape[0]; n++)
        for (int32_t h = 0; h < x_shape[1]; h++)
            for (int32_t w = 0; w < x_shape[2]; w++) {
                const float *src = g_y + (((n + lead[0]) * y_shape[1] + h + lead[1]) * y_shape[2] + w + lead[2]) *
                                             y_shape[3] + lead[3];
                float *dst = g_x + ((n * x_shape[1] + h) * x_shape[2] + w) * x_shape[3];
                for (int32_t c = 0; c < x_shape[3]; c++) dst[c] = src[c] * factor;
            }
}

void edgec_pad_backward_f16(const int32_t *x_shape, const int32_t *y_shape, const int32_t *lead, float factor,
                            const uint16_t *g_y, uint16_t *g_x) {
    for (int32_t n = 0; n < x_shape[0]; n++)
        for (int32_t h = 0; h < x_shape[1]; h++)
            for (int32_t w = 0; w < x_shape[2]; w++) {
                const uint16_t *src =
                    g_y + (((n + lead[0]) * y_shape[1] + h + lead[1]) * y_shape[2] + w + lead[2]) * y_shape[3] + lead[3];
                uint16_t *dst = g_x + ((n * x_shape[1] + h) * x_shape[2] + w) * x_shape[3];
                for (int32_t c = 0; c < x_shape[3]; c++) dst[c] = edgec_float_to_half(edgec_half_to_float(src[c]) * factor);
            }
}
