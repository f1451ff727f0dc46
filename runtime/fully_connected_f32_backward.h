/* fully_connected_f32_backward.h - the float32 classifier head's gradient and SGD step (training graphs).
 *
 *     g_x[b, i] = sum_o W[o, i] g_y[b, o]                  (before the update; skipped when g_x is NULL)
 *     W[o, i]  += (sum_b g_y[b, o] x[b, i]) * neg_lr       bias[o] += (sum_b g_y[b, o]) * neg_lr
 * With momentum M (the _momentum variant, velocities vW [out_c, depth] and vb [out_c] kept between steps):
 *     vW[o, i] = M * vW[o, i] + (sum_b g_y[b, o] x[b, i]) * neg_lr;   W[o, i] += vW[o, i]   (and the bias alike)
 *
 * Cost per weight and row: one multiply-add for g_x, one for the weight gradient, plus the update.
 */
#ifndef EDGEC_FULLY_CONNECTED_F32_BACKWARD_H
#define EDGEC_FULLY_CONNECTED_F32_BACKWARD_H

#include <stdint.h>

void edgec_fully_connected_f32_backward(int32_t rows, int32_t depth, int32_t out_c, float neg_lr, const float *x,
                                        const float *g_y, float *weights, float *bias, float *g_x);
void edgec_fully_connected_f32_backward_momentum(int32_t rows, int32_t depth, int32_t out_c, float neg_lr,
                                                 float momentum, const float *x, const float *g_y, float *weights,
                                                 float *bias, float *velocity_w, float *velocity_b, float *g_x);

/* the same with g_x stored in fp16 (edgec_train.h): each float32 sum rounded to half once at its store */
void edgec_fully_connected_f32_backward_f16(int32_t rows, int32_t depth, int32_t out_c, float neg_lr, const float *x,
                                            const float *g_y, float *weights, float *bias, uint16_t *g_x);
void edgec_fully_connected_f32_backward_momentum_f16(int32_t rows, int32_t depth, int32_t out_c, float neg_lr,
                                                     float momentum, const float *x, const float *g_y, float *weights,
                                                     float *bias, float *velocity_w, float *velocity_b, uint16_t *g_x);

#endif
