#include "fully_connected_f32_backward.h"

#include <stddef.h>

#include "edgec_train.h" /* the fp16 conversions */

/* velocity_w / velocity_b NULL: plain SGD (W += step); else momentum: v = momentum * v + step, W += v. The step
 * is (the gradient's sum) * neg_lr, one float32 rounding; every operation float32, in the order written. */
static void head_backward(int32_t rows, int32_t depth, int32_t out_c, float neg_lr, float momentum, const float *x,
                          const float *g_y, float *weights, float *bias, float *velocity_w, float *velocity_b,
                          float *g_x) {
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
            float step = gw * neg_lr;
            if (velocity_w != NULL) {
                velocity_w[o * depth + i] = momentum * velocity_w[o * depth + i] + step;
                step = velocity_w[o * depth + i];
            }
            weights[o * depth + i] = weights[o * depth + i] + step;
        }
        float step_b = gb * neg_lr;
        if (velocity_b != NULL) {
            velocity_b[o] = momentum * velocity_b[o] + step_b;
            step_b = velocity_b[o];
        }
        bias[o] = bias[o] + step_b;
    }
}

void edgec_fully_connected_f32_backward(int32_t rows, int32_t depth, int32_t out_c, float neg_lr, const float *x,
                                        const float *g_y, float *weights, float *bias, float *g_x) {
    head_backward(rows, depth, out_c, neg_lr, 0.0f, x, g_y, weights, bias, NULL, NULL, g_x);
}

void edgec_fully_connected_f32_backward_momentum(int32_t rows, int32_t depth, int32_t out_c, float neg_lr,
                                                 float momentum, const float *x, const float *g_y, float *weights,
                                                 float *bias, float *velocity_w, float *velocity_b, float *g_x) {
    head_backward(rows, depth, out_c, neg_lr, momentum, x, g_y, weights, bias, velocity_w, velocity_b, g_x);
}

/* g_x in fp16: the sums of head_backward, each rounded to half at its store, before the update */
static void head_input_grad_f16(int32_t rows, int32_t depth, int32_t out_c, const float *weights, const float *g_y,
                                uint16_t *g_x) {
    for (int32_t r = 0; r < rows; r++) {
        for (int32_t i = 0; i < depth; i++) {
            float s = 0.0f;
            for (int32_t o = 0; o < out_c; o++) s = s + weights[o * depth + i] * g_y[r * out_c + o];
            g_x[r * depth + i] = edgec_float_to_half(s);
        }
    }
}

void edgec_fully_connected_f32_backward_f16(int32_t rows, int32_t depth, int32_t out_c, float neg_lr, const float *x,
                                            const float *g_y, float *weights, float *bias, uint16_t *g_x) {
    if (g_x != NULL) head_input_grad_f16(rows, depth, out_c, weights, g_y, g_x);
    head_backward(rows, depth, out_c, neg_lr, 0.0f, x, g_y, weights, bias, NULL, NULL, NULL);
}

void edgec_fully_connected_f32_backward_momentum_f16(int32_t rows, int32_t depth, int32_t out_c, float neg_lr,
                                                     float momentum, const float *x, const float *g_y, float *weights,
                                                     float *bias, float *velocity_w, float *velocity_b, uint16_t *g_x) {
    if (g_x != NULL) head_input_grad_f16(rows, depth, out_c, weights, g_y, g_x);
    head_backward(rows, depth, out_c, neg_lr, momentum, x, g_y, weights, bias, velocity_w, velocity_b, NULL);
}
