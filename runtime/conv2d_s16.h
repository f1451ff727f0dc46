#ifndef EDGEC_CONV2D_S16_H
#define EDGEC_CONV2D_S16_H
#include <stdint.h>

/* 16x8 2-D convolution: int16 NHWC activations (zero point 0), int8 OHWI weights [out_c, k_h, k_w, in_c / groups],
 * int64 bias, per-output-channel 64-bit rescale (edgec_mbqm64). */
typedef struct {
    int32_t batches, in_h, in_w, in_c;      /* input  [batches, in_h, in_w, in_c]   */
    int32_t out_h, out_w, out_c;            /* output [batches, out_h, out_w, out_c] */
    int32_t k_h, k_w;
    int32_t groups;                         /* in_c / weights' last dim (1 for a plain conv) */
    int32_t stride_h, stride_w, dilation_h, dilation_w;
    int32_t pad_top, pad_left;              /* the bottom/right padding is implied by the bounds */
    int32_t act_min, act_max;               /* output clamp (fused activation), int16 grid */
    const int8_t *weights;
    const int64_t *bias;                    /* [out_c] or NULL */
    const int32_t *multiplier, *shift;      /* [out_c] */
} edgec_conv2d_s16_params;

void edgec_conv2d_s16(const edgec_conv2d_s16_params *p, const int16_t *input, int16_t *output);

#endif
