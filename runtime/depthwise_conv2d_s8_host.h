#ifndef EDGEC_DEPTHWISE_CONV2D_S8_HOST_H
#define EDGEC_DEPTHWISE_CONV2D_S8_HOST_H
#include <stdint.h>

#include "depthwise_conv2d_s8.h"

/* int8 DEPTHWISE_CONV_2D for the host: plain C99 whose channel loops gcc -O2 vectorizes. The same parameters and
 * the same bytes as the portable kernel, depth multiplier 1, any kernel, stride, dilation, padding.
 * `weights16` [k_h k_w][out_c]: the layer's weights as int16 (compile time). `requant` [out_c][4]: the output
 * stage's constants (edgec_host.h), or NULL for onnxruntime's rounding (edgec_requantize).
 * In place when input == output (batches 1): the input rows a window still needs are first copied to a ring of
 * (k_h - 1) dilation_h + 1 rows on the stack (at most EDGEC_DW_HOST_MAX_RING bytes; the compiler checks that
 * every row is copied before an output overwrites it, toolchain/ops/depthwise_conv2d.py host_ring_ok). */
#define EDGEC_DW_HOST_MAX_RING 65536
#define EDGEC_DW_HOST_BLOCK 16

void edgec_depthwise_conv2d_s8_host(const edgec_depthwise_conv2d_s8_params *p, const int16_t *weights16,
                                    const int32_t *requant, const int8_t *input, int8_t *output);

#endif
