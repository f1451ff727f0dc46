#ifndef EDGEC_DEPTHWISE_CONV2D_F32_H
#define EDGEC_DEPTHWISE_CONV2D_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 depthwise convolution, NHWC; weights [1, k_h, k_w, out_c] with out_c = in_c * depth_multiplier. */
typedef struct {
    int32_t batches, in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t depth_multiplier;
    int32_t stride_h, stride_w, dilation_h, dilation_w;
    int32_t pad_top, pad_left;
    float act_min, act_max;
    const float *weights;
    const float *bias;                      /* [out_c] or NULL */
} edgec_depthwise_conv2d_f32_params;

void edgec_depthwise_conv2d_f32(const edgec_depthwise_conv2d_f32_params *p, const float *input, float *output);

#endif
