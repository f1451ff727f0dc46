#ifndef EDGEC_CONV2D_S8_DSP_H
#define EDGEC_CONV2D_S8_DSP_H
#include <stdint.h>

#include "conv2d_s8.h"

/* int8 CONV_2D with the Arm DSP extension (Cortex-M4, M7, M33: SXTB16, SMLAD), the same parameters and the same
 * bytes as the portable edgec_conv2d_s8. Two output pixels at a time: their inputs, minus the input zero point,
 * are widened once to int16 in `scratch` (K padded with zeros to a multiple of 4), then every pair of output
 * channels is a 2 x 2 block of accumulators, each SMLAD adding two products. Requantization is the portable
 * kernel's (edgec_requantize, both rounding modes).
 * `scratch`: 2 * ceil4(K) int16, 4-byte aligned (LDRD reads it), with K = k_h * k_w * in_c (in_c for the
 * pointwise kernel). The im2col kernel also uses up to 128 bytes of stack (stems: in_c not a multiple of 4). */

/* Pointwise: 1x1 kernel, stride 1, no padding, groups 1, any batches. In place when input == output (the buffer
 * is pixels * max(in_c, out_c) bytes, the input at its start), like edgec_conv2d_s8_pointwise_inplace. */
void edgec_conv2d_s8_pointwise_dsp(const edgec_conv2d_s8_params *p, const int8_t *input, int8_t *output,
                                   int16_t *scratch);

/* Any other convolution with groups 1 (k_h x k_w, strides, padding, dilation): the im2col of two output pixels.
 * Not in place. */
void edgec_conv2d_s8_im2col_dsp(const edgec_conv2d_s8_params *p, const int8_t *input, int8_t *output,
                                int16_t *scratch);

#endif
