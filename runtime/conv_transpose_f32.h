#ifndef EDGEC_CONV_TRANSPOSE_F32_H
#define EDGEC_CONV_TRANSPOSE_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 transposed 2-D convolution (TFLite TRANSPOSE_CONV), NHWC activations, OHWI weights. */
typedef struct {
    int32_t batches, in_h, in_w, in_c;      /* input  [batches, in_h, in_w, in_c]    */
    int32_t out_h, out_w, out_c;            /* output [batches, out_h, out_w, out_c] */
    int32_t k_h, k_w;                       /* weights [out_c, k_h, k_w, in_c]       */
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    const float *weights;
    const float *bias;                      /* [out_c] or NULL */
    float act_min, act_max;                 /* output clamp (fused activation) */
} edgec_conv_transpose_f32_params;

void edgec_conv_transpose_f32(const edgec_conv_transpose_f32_params *p, const float *input, float *output);

#endif
