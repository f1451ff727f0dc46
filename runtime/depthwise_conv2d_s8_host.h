#ifndef EDGEC_DEPTHWISE_CONV2D_S8_HOST_H
#define EDGEC_DEPTHWISE_CONV2D_S8_HOST_H
#include <stdint.h>

#include "depthwise_conv2d_s8.h"

/* int8 DEPTHWISE_CONV_2D for the host: plain C99 whose channel loops gcc -O2 vectorizes. The same parameters and
 * the same bytes as the portable kernel, depth multiplier 1, any kernel, stride, dilation, padding, batches.
 * c_pad = out_c rounded up to a multiple of EDGEC_DW_HOST_BLOCK. `weights16` [k_h k_w][c_pad]: the weights as
 * int16, zeros past out_c; `bias_folded` [c_pad]: bias[c] + input_offset sum_taps w[tap][c] modulo 2^32 (the
 * input zero point folded in, toolchain/ops/int8_common.py folded_bias); `requant` [out_c][4]: the output
 * stage's constants (edgec_host.h), or NULL for onnxruntime's rounding (edgec_requantize); `vq`, `voff`: the
 * vector output stage's (edgec_host_out16, blocks of 16 channels, the rest through `requant`), or NULL.
 * The input rows a window needs are widened to int16 into a ring of span = (k_h - 1) dilation_h + 1 rows of
 * wp = (out_w - 1) stride_w + (k_w - 1) dilation_w + 1 columns (the padding columns hold the input zero point),
 * plus one row of zero points for the padding rows: (span + 1) wp c_pad <= EDGEC_DW_HOST_MAX_RING int16 on the
 * stack. In place when input == output (batches 1): the compiler checks that every row is copied to the ring
 * before an output overwrites it (toolchain/ops/depthwise_conv2d.py host_ring_ok). */
#define EDGEC_DW_HOST_MAX_RING 65536
#define EDGEC_DW_HOST_MAX_TAPS 4096
#define EDGEC_DW_HOST_BLOCK 8

void edgec_depthwise_conv2d_s8_host(const edgec_depthwise_conv2d_s8_params *p, const int16_t *weights16,
                                    const int32_t *bias_folded, const int32_t *requant, const double *vq,
                                    const int32_t *voff, const int8_t *input, int8_t *output);

#endif
