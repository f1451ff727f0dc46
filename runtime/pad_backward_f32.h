/* pad_backward_f32.h - the gradient of a PAD (training graphs): the crop of g_y at the input's place.
 *
 *     g_x[n, h, w, c] = g_y[n + lead[0], h + lead[1], w + lead[2], c + lead[3]] * factor    (factor = s_y / s_x)
 *
 * Cost: one load, one multiply and one store per input element.
 */
#ifndef EDGEC_PAD_BACKWARD_F32_H
#define EDGEC_PAD_BACKWARD_F32_H

#include <stdint.h>

void edgec_pad_backward_f32(const int32_t *x_shape, const int32_t *y_shape, const int32_t *lead, float factor,
                            const float *g_y, float *g_x);

/* fp16-stored g_y and g_x (edgec_train.h): the same float32 product, rounded to half once at the store */
void edgec_pad_backward_f16(const int32_t *x_shape, const int32_t *y_shape, const int32_t *lead, float factor,
                            const uint16_t *g_y, uint16_t *g_x);

#endif
