#ifndef EDGEC_CONV2D_S16_H
#define EDGEC_CONV2D_S16_H
#include <stdint.h>

/* 16x8 2-D convolution and depthwise convolution: int16 NHWC activations (zero point 0), int8 weights (CONV_2D:
 * OHWI [out_c, k_h, k_w, in_c / groups]; DEPTHWISE_CONV_2D: [1, k_h, k_w, out_c]), int64 bias, per-output-channel
 * 64-bit rescale (edgec_mbqm64). One parameter struct for both. */
typedef struct {
    int32_t batches, in_h, in_w, in_c;      /* input  [batches, in_h, in_w, in_c]   */
    int32_t out_h, out_w, out_c;            /* output [batches, out_h, out_w, out_c] */
    int32_t k_h, k_w;
    int32_t groups;                         /* CONV_2D: in_c / weights' last dim; DEPTHWISE: unused */
    int32_t depth_multiplier;               /* DEPTHWISE: out_c / in_c; CONV_2D: unused */
    int32_t stride_h, stride_w, dilation_h, dilation_w;
    int32_t pad_top, pad_left;              /* the bottom/right padding is implied by the bounds */
    int32_t act_min, act_max;               /* output clamp (fused activation), int16 grid */
    const int8_t *weights;
    const int64_t *bias;                    /* [out_c] or NULL */
    const int32_t *multiplier, *shift;      /* [out_c] */
} edgec_conv2d_s16_params;

void edgec_conv2d_s16(const edgec_conv2d_s16_params *p, const int16_t *input, int16_t *output);
void edgec_depthwise_conv2d_s16(const edgec_conv2d_s16_params *p, const int16_t *input, int16_t *output);

#endif
