#ifndef EDGEC_CONV_TRANSPOSE_S8_H
#define EDGEC_CONV_TRANSPOSE_S8_H
#include <stdint.h>

/* int8 transposed 2-D convolution (TFLite TRANSPOSE_CONV), NHWC activations, OHWI weights, per-output-channel
 * requantization. Input pixel (iy, ix) feeds output rows iy*stride_h - pad_top + ky, ky in [0, k_h). */
typedef struct {
    int32_t batches, in_h, in_w, in_c;      /* input  [batches, in_h, in_w, in_c]    */
    int32_t out_h, out_w, out_c;            /* output [batches, out_h, out_w, out_c] */
    int32_t k_h, k_w;                       /* weights [out_c, k_h, k_w, in_c]       */
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    const int8_t *weights;
    const int32_t *bias;                    /* [out_c] or NULL */
    int32_t input_offset, output_offset;    /* -input zero point, +output zero point */
    int32_t act_min, act_max;               /* output clamp (fused activation) */
    const int32_t *multiplier, *shift;      /* [out_c] */
} edgec_conv_transpose_s8_params;

void edgec_conv_transpose_s8(const edgec_conv_transpose_s8_params *p, const int8_t *input, int8_t *output);

#endif
