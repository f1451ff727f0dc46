#ifndef EDGEC_CONV2D_S8_HOST_H
#define EDGEC_CONV2D_S8_HOST_H
#include <stdint.h>

#include "conv2d_s8.h"

/* int8 CONV_2D for the host (x86-64, or any 64-bit desktop core): plain C99 written so that gcc -O2 vectorizes
 * its inner loop (a multiply-add of int16 pairs into int32: PMADDWD on x86). The same parameters and the same
 * bytes as the portable edgec_conv2d_s8, groups 1, any kernel, stride, dilation, padding, batches.
 * `weights16` [out_c][k_pad]: the layer's weights as int16, K = k_h k_w in_c padded with zeros to k_pad, the
 * next multiple of EDGEC_CONV_HOST_K_STEP. `bias_folded` [out_c]: bias[o] + input_offset * sum_k w[o][k], the
 * input zero point folded in at compile time. In place when input == output (pointwise only, as the portable
 * edgec_conv2d_s8_pointwise_inplace). `requant` [out_c][4]: the output stage's constants (edgec_host.h), or NULL
 * for onnxruntime's rounding (edgec_requantize); `vq`, `voff`: the vector output stage's constants
 * (edgec_host.h edgec_host_out16, channels in blocks of 16, the rest through `requant`), or NULL. The im2col
 * and the accumulators of 4 pixels are on the stack
 * (K <= EDGEC_CONV_HOST_MAX_K, out_c <= EDGEC_CONV_HOST_MAX_C). */
#define EDGEC_CONV_HOST_K_STEP 8
#define EDGEC_CONV_HOST_MAX_K 4608
#define EDGEC_CONV_HOST_PIXELS 4
#define EDGEC_CONV_HOST_MAX_C 4096

void edgec_conv2d_s8_host(const edgec_conv2d_s8_params *p, const int16_t *weights16, const int32_t *bias_folded,
                          const int32_t *requant, const double *vq, const int32_t *voff, const int8_t *input,
                          int8_t *output);

#endif
