#ifndef EDGEC_CONV2D_S8_H
#define EDGEC_CONV2D_S8_H
#include <stdint.h>

#include "edgec_region.h"

/* int8 2-D convolution, NHWC activations, OHWI weights, per-output-channel requantization. */
typedef struct {
    int32_t batches, in_h, in_w, in_c;      /* input  [batches, in_h, in_w, in_c]   */
    int32_t out_h, out_w, out_c;            /* output [batches, out_h, out_w, out_c] */
    int32_t k_h, k_w;                       /* weights [out_c, k_h, k_w, in_c / groups] */
    int32_t groups;                         /* in_c / weights' last dim (1 for a plain conv) */
    int32_t stride_h, stride_w, dilation_h, dilation_w;
    int32_t pad_top, pad_left;              /* the bottom/right padding is implied by the bounds */
    int32_t input_offset, output_offset;    /* -input zero point, +output zero point */
    int32_t act_min, act_max;               /* output clamp (fused activation) */
    const int8_t *weights;
    const int32_t *bias;                    /* [out_c] or NULL */
    const int32_t *multiplier, *shift;      /* [out_c] */
    int32_t rounding;                       /* 0: TFLite's MBQM(acc, multiplier, shift); 1: onnxruntime's
                                               float32 rescale, multiplier * 2^shift = the float32 scale
                                               (edgec_requantize_f32) */
    /* A partially trained conv of a training step (docs/training.md, "Only the trained slice in SRAM"): when
     * weights_frozen is not NULL, `weights` holds only the trained slice [out_c, k_h, k_w, weight_split] (SRAM)
     * and weights_frozen the rest [out_c, k_h, k_w, in_c / groups - weight_split] (flash). */
    const int8_t *weights_frozen;
    int32_t weight_split;
} edgec_conv2d_s8_params;

void edgec_conv2d_s8(const edgec_conv2d_s8_params *p, const int8_t *input, int8_t *output);
/* the same over one region of the layer (patch-based inference); the call above is the whole-tensor region */
void edgec_conv2d_s8_region(const edgec_conv2d_s8_params *p, const edgec_region *r, const int8_t *input,
                            int8_t *output);

/* In place, pointwise only (1x1 kernel, stride 1, no padding, so output pixel q reads input pixel q only).
 * `data` holds the input [batches*in_h*in_w pixels, in_c] at its start and receives the output [same pixels,
 * out_c]: it is pixels * max(in_c, out_c) bytes. `pixel` is in_c bytes of scratch. */
void edgec_conv2d_s8_pointwise_inplace(const edgec_conv2d_s8_params *p, int8_t *data, int8_t *pixel);

#endif
