#ifndef EDGEC_DEPTHWISE_CONV2D_S8_BACKWARD_H
#define EDGEC_DEPTHWISE_CONV2D_S8_BACKWARD_H
#include <stdint.h>

/* The backward pass of an int8 depthwise convolution (NHWC, weights [1, k_h, k_w, out_c], output channel
 * o = i * depth_multiplier + m reads input channel i) for on-device training: the input gradient and the in-place
 * QAS update of the trained weights and bias (docs/training.md). */
typedef struct {
    int32_t batches, in_h, in_w, in_c;      /* input  [batches, in_h, in_w, in_c]   */
    int32_t out_h, out_w, out_c;            /* output [batches, out_h, out_w, out_c], out_c = in_c * mult */
    int32_t k_h, k_w;
    int32_t depth_multiplier;
    int32_t stride_h, stride_w, dilation_h, dilation_w;
    int32_t pad_top, pad_left;
    int32_t input_offset;                   /* -input zero point */
    int32_t weight_channels;                /* the filters of the output channels of the first this many input
                                               channels are trained; 0: the weights are frozen */
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
} edgec_depthwise_conv2d_s8_backward_params;

/* input: x (NULL when weight_channels is 0); grad_out: g_y; mask: the clamp mask of y (bit e of element e);
 * weights / bias: the trained arrays, updated in place (NULL when not trained; weights is p->weights then);
 * grad_in: g_x or NULL; scratch: batches out_h out_w floats when weights are trained (else NULL); rng: the
 * generator state. */
void edgec_depthwise_conv2d_s8_backward(const edgec_depthwise_conv2d_s8_backward_params *p, const int8_t *input,
                                        const float *grad_out, const uint8_t *mask, int8_t *weights, int32_t *bias,
                                        float *grad_in, float *scratch, uint32_t *rng);

/* The same in place (docs/training.md, "In-place depthwise backward"): depth multiplier 1, any stride. `grad`
 * holds g_y [batches, out_h, out_w, C] on entry and g_x [batches, in_h, in_w, C] on return (it is the larger of
 * the two); `plane` is batches*out_h*out_w floats of scratch. The same bits as above in every output, weight,
 * bias, state and generator draw. */
void edgec_depthwise_conv2d_s8_backward_inplace(const edgec_depthwise_conv2d_s8_backward_params *p,
                                                const int8_t *input, float *grad, const uint8_t *mask,
                                                int8_t *weights, int32_t *bias, float *plane, uint32_t *rng);

/* fp16-stored g_y and g_x (edgec train --gradients fp16), depth multiplier 1: grad_in may be grad_out (in place),
 * another buffer, or NULL; plane: batches out_h out_w floats (depthwise_conv2d_s8_backward.c). */
void edgec_depthwise_conv2d_s8_backward_f16(const edgec_depthwise_conv2d_s8_backward_params *p,
                                            const int8_t *input, const uint16_t *grad_out, const uint8_t *mask,
                                            int8_t *weights, int32_t *bias, uint16_t *grad_in, float *plane,
                                            uint32_t *rng);

#endif
