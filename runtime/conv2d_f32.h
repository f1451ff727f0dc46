#ifndef EDGEC_CONV2D_F32_H
#define EDGEC_CONV2D_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 2-D convolution, NHWC activations, OHWI weights, optional bias, fused activation as a clamp. */
typedef struct {
    int32_t batches, in_h, in_w, in_c;      /* input  [batches, in_h, in_w, in_c]   */
    int32_t out_h, out_w, out_c;            /* output [batches, out_h, out_w, out_c] */
    int32_t k_h, k_w;                       /* weights [out_c, k_h, k_w, in_c / groups] */
    int32_t groups;                         /* in_c / weights' last dim (1 for a plain conv) */
    int32_t stride_h, stride_w, dilation_h, dilation_w;
    int32_t pad_top, pad_left;              /* the bottom/right padding is implied by the bounds */
    float act_min, act_max;                 /* output clamp (fused activation) */
    const float *weights;
    const float *bias;                      /* [out_c] or NULL */
} edgec_conv2d_f32_params;

void edgec_conv2d_f32(const edgec_conv2d_f32_params *p, const float *input, float *output);

#endif
