/* avg_pool2d_backward_f32.h - the gradient of an average pool (training graphs).
 *
 *     for every output (n, oy, ox) and every tap (ky, kx) inside the input:
 *         g_x[n, iy, ix, c] += g_y[n, oy, ox, c] * inv_count[oy, ox]      (inv_count = 1 / inside taps)
 *
 * Cost: one multiply per output element and one add per tap and channel.
 */
#ifndef EDGEC_AVG_POOL2D_BACKWARD_F32_H
#define EDGEC_AVG_POOL2D_BACKWARD_F32_H

#include <stdint.h>

typedef struct {
    int32_t batches, in_h, in_w, channels, out_h, out_w;
    int32_t filter_h, filter_w, stride_h, stride_w, pad_top, pad_left;
    const float *inv_count; /* [out_h * out_w] */
} edgec_avg_pool2d_backward_params;

void edgec_avg_pool2d_backward_f32(const edgec_avg_pool2d_backward_params *p, const float *g_y, float *g_x);

#endif
