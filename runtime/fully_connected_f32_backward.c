#include "fully_connected_f32_backward.h"

#include <stddef.h>

void edgec_fully_connected_f32_backward(int32_t rows, int32_t depth, int32_t out_c, float neg_lr, const float *x,
                                        const float *g_y, float *weights, float *bias, float *g_x) {
    if (g_x != NULL) {
        for (int32_t r = 0; r < rows; r++) {
            for (int32_t i = 0; i < depth; i++) {
                float s = 0.0f;
                for (int32_t o = 0; o < out_c; o++) s = s + weights[o * depth + i] * g_y[r * out_c + o];
                g_x[r * depth + i] = s;
            }
        }
    }
    for (int32_t o = 0; o < out_c; o++) {
        float gb = 0.0f;
        for (int32_t r = 0; r < rows; r++) gb = gb + g_y[r * out_c + o];
        for (int32_t i = 0; i < depth; i++) {
            float gw = 0.0f;
            for (int32_t r = 0; r < rows; r++) gw = gw + g_y[r * out_c + o] * x[r * depth + i];
            weights[o * depth + i] = weights[o * depth + i] + gw * neg_lr;
        }
        bias[o] = bias[o] + gb * neg_lr;
    }
}
