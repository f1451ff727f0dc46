#ifndef EDGEC_POOL2D_F32_H
#define EDGEC_POOL2D_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 AVERAGE_POOL_2D and MAX_POOL_2D, NHWC, fused activation as a clamp. */
typedef struct {
    int32_t batches, in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    float act_min, act_max;
} edgec_pool2d_f32_params;

void edgec_avg_pool2d_f32(const edgec_pool2d_f32_params *p, const float *input, float *output);
void edgec_max_pool2d_f32(const edgec_pool2d_f32_params *p, const float *input, float *output);

#endif
