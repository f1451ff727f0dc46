#ifndef EDGEC_CONV2D_S8_BACKWARD_H
#define EDGEC_CONV2D_S8_BACKWARD_H
#include <stdint.h>

/* The backward pass of an int8 2-D convolution (NHWC, OHWI weights, groups >= 1) for on-device training:
 * the input gradient and the in-place QAS update of the trained weights and bias (docs/training.md). */
typedef struct {
    int32_t batches, in_h, in_w, in_c;      /* input  [batches, in_h, in_w, in_c]   */
    int32_t out_h, out_w, out_c;            /* output [batches, out_h, out_w, out_c] */
    int32_t k_h, k_w;                       /* weights [out_c, k_h, k_w, in_c / groups] */
    int32_t groups;
    int32_t stride_h, stride_w, dilation_h, dilation_w;
    int32_t pad_top, pad_left;
    int32_t input_offset;                   /* -input zero point */
    int32_t weight_channels;                /* the first this many input channels (within a group) of every
                                               filter are trained; 0: the weights are frozen */
    int32_t train_bias;
    int32_t rounding;                       /* 0: nearest, 1: stochastic (one draw per updated weight) */
    float inv_sx;                           /* 1 / s_x */
    const int8_t *weights;                  /* read (the weights before this step's update) */
    const float *acc_scale;                 /* [out_c] s_x * s_w[o] */
    const float *coef_w, *coef_b;           /* [out_c] QAS: -lr / s_w^2, -lr / (s_x s_w)^2; 0: channel frozen */
    const int32_t *bias_max;                /* [out_c] the bias saturation */
    /* optimizer state (docs/training.md), all NULL / 0 for plain SGD on the int8 weights: */
    float momentum;                         /* M: v <- M v + step; the parameter moves by v */
    float *velocity_w;                      /* [trained weights, in update order] or NULL */
    float *velocity_b;                      /* [out_c] or NULL */
    float *shadow;                          /* [trained weights, in update order]: fp32 shadow weights, or NULL */
    /* only the trained slice in SRAM (docs/training.md): when weights_frozen is not NULL, the weights (read and
     * updated) are [out_c, k_h, k_w, weight_channels] and weights_frozen [out_c, k_h, k_w, in_c/groups -
     * weight_channels] holds the frozen rest (flash) */
    const int8_t *weights_frozen;
    /* channels per pixel of `input` (0: in_c): the saved input may hold only the first weight_channels channels,
     * all the weight gradient reads (groups 1; docs/training.md, "Only the trained channels saved") */
    int32_t saved_c;
} edgec_conv2d_s8_backward_params;

/* input: x (NULL when weight_channels is 0); grad_out: g_y; mask: the clamp mask of y (bit e of element e);
 * weights / bias: the trained arrays, updated in place (NULL when not trained; weights is p->weights then);
 * grad_in: g_x or NULL; scratch: out_c floats when grad_in is not NULL; rng: the generator state. */
void edgec_conv2d_s8_backward(const edgec_conv2d_s8_backward_params *p, const int8_t *input,
                              const float *grad_out, const uint8_t *mask, int8_t *weights, int32_t *bias,
                              float *grad_in, float *scratch, uint32_t *rng);
/* The same with g_y and g_x stored in fp16 (edgec train --gradients fp16; edgec_train.h's conversions): the same
 * float32 values, g_x rounded to half once at its store (gathered per input pixel); scratch: max(in_c, batches
 * out_h out_w when weights are trained) floats. */
void edgec_conv2d_s8_backward_f16(const edgec_conv2d_s8_backward_params *p, const int8_t *input,
                                  const uint16_t *grad_out, const uint8_t *mask, int8_t *weights, int32_t *bias,
                                  uint16_t *grad_in, float *scratch, uint32_t *rng);

#endif
