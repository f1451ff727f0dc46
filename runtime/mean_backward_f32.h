/* mean_backward_f32.h - the gradient of a global average over H and W (training graphs).
 *
 *     g_x[n, p, c] = g_y[n, c] * inv_count          (p: the H*W pixels; inv_count = 1 / (H W))
 *
 * Cost: one multiply and one store per input element.
 */
#ifndef EDGEC_MEAN_BACKWARD_F32_H
#define EDGEC_MEAN_BACKWARD_F32_H

#include <stdint.h>

void edgec_mean_backward_f32(int32_t batches, int32_t pixels, int32_t channels, float inv_count, const float *g_y,
                             float *g_x);

/* fp16-stored g_y and g_x (edgec_train.h): the same float32 product, rounded to half once at the store */
void edgec_mean_backward_f16(int32_t batches, int32_t pixels, int32_t channels, float inv_count, const uint16_t *g_y,
                             uint16_t *g_x);

#endif
