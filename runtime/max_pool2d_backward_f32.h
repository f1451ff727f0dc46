/* max_pool2d_backward_f32.h - the gradient of a max pool (training graphs).
 *
 *     for every output (n, oy, ox) and channel c: the first tap (ky, kx), row-major, inside the input whose saved
 *     int8 value equals the window's maximum gets g_x[n, iy, ix, c] += g_y[n, oy, ox, c]
 *
 * Cost: one pass over each window's taps per output element (argmax_tap in the .c: a compare per tap, the first
 * tap at the maximum kept), then one addition into g_x.
 */
#ifndef EDGEC_MAX_POOL2D_BACKWARD_F32_H
#define EDGEC_MAX_POOL2D_BACKWARD_F32_H

#include <stdint.h>

#include "avg_pool2d_backward_f32.h" /* edgec_avg_pool2d_backward_params: the same geometry (inv_count unused) */

void edgec_max_pool2d_backward_f32(const edgec_avg_pool2d_backward_params *p, const float *g_y, const int8_t *x,
                                   float *g_x);
/* fp16-stored g_y and g_x (--gradients fp16, edgec_train.h): each addition into g_x in float32, rounded to half at
 * its store (a window's only tap at most once when windows do not overlap: then exact) */
void edgec_max_pool2d_backward_f16(const edgec_avg_pool2d_backward_params *p, const uint16_t *g_y, const int8_t *x,
                                   uint16_t *g_x);

#endif
