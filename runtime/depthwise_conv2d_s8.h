#ifndef EDGEC_DEPTHWISE_CONV2D_S8_H
#define EDGEC_DEPTHWISE_CONV2D_S8_H
#include <stdint.h>

#include "edgec_region.h"

/* int8 depthwise convolution: output channel o = i * depth_multiplier + m reads only input channel i.
 * Weights [1, k_h, k_w, out_c]. */
typedef struct {
    int32_t batches, in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;            /* out_c = in_c * depth_multiplier */
    int32_t k_h, k_w, depth_multiplier;
    int32_t stride_h, stride_w, dilation_h, dilation_w;
    int32_t pad_top, pad_left;
    int32_t input_offset, output_offset;
    int32_t act_min, act_max;
    const int8_t *weights;
    const int32_t *bias;                    /* [out_c] or NULL */
    const int32_t *multiplier, *shift;      /* [out_c] */
    int32_t rounding;                       /* 0: TFLite's, 1: onnxruntime's (as in edgec_conv2d_s8_params) */
} edgec_depthwise_conv2d_s8_params;

void edgec_depthwise_conv2d_s8(const edgec_depthwise_conv2d_s8_params *p, const int8_t *input, int8_t *output);
/* the same over one region of the layer (patch-based inference); the call above is the whole-tensor region */
void edgec_depthwise_conv2d_s8_region(const edgec_depthwise_conv2d_s8_params *p, const edgec_region *r,
                                      const int8_t *input, int8_t *output);
/* in place, depth_multiplier 1: `data` holds the input and receives the output (out_h * out_w <= in_h * in_w);
 * `plane` is in_h * in_w bytes of scratch (one input channel) */
void edgec_depthwise_conv2d_s8_inplace(const edgec_depthwise_conv2d_s8_params *p, int8_t *data, int8_t *plane);

#endif
