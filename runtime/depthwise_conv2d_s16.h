#ifndef EDGEC_DEPTHWISE_CONV2D_S16_H
#define EDGEC_DEPTHWISE_CONV2D_S16_H
#include <stdint.h>

/* 16x8 depthwise convolution: int16 NHWC activations (zero point 0), int8 weights [1, k_h, k_w, out_c] (output
 * channel o reads input channel o / depth_multiplier), int64 bias, per-output-channel 64-bit rescale. */
typedef struct {
    int32_t batches, in_h, in_w, in_c;      /* input  [batches, in_h, in_w, in_c]   */
    int32_t out_h, out_w, out_c;            /* output [batches, out_h, out_w, out_c] */
    int32_t k_h, k_w;
    int32_t depth_multiplier;               /* out_c / in_c */
    int32_t stride_h, stride_w, dilation_h, dilation_w;
    int32_t pad_top, pad_left;              /* the bottom/right padding is implied by the bounds */
    int32_t act_min, act_max;               /* output clamp (fused activation), int16 grid */
    const int8_t *weights;
    const int64_t *bias;                    /* [out_c] or NULL */
    const int32_t *multiplier, *shift;      /* [out_c] */
} edgec_depthwise_conv2d_s16_params;

void edgec_depthwise_conv2d_s16(const edgec_depthwise_conv2d_s16_params *p, const int16_t *input, int16_t *output);

#endif
