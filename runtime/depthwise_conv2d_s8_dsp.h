#ifndef EDGEC_DEPTHWISE_CONV2D_S8_DSP_H
#define EDGEC_DEPTHWISE_CONV2D_S8_DSP_H
#include <stdint.h>

#include "depthwise_conv2d_s8.h"

/* int8 depthwise convolution with the DSP extension's SMLAD (Cortex-M4, M7, M33, M55), the same bytes as
 * edgec_depthwise_conv2d_s8 for dilation 1, any kernel size up to EDGEC_DW_DSP_MAX_K x EDGEC_DW_DSP_MAX_K, any
 * stride, padding and depth multiplier. `plane` is edgec_depthwise_conv2d_s8_dsp_plane_bytes(p) bytes of scratch:
 * one input channel with its zero-point border. `input` may equal `output` (in place) when the depth multiplier
 * is 1 and out_h * out_w <= in_h * in_w, as for edgec_depthwise_conv2d_s8_inplace. `stage`: NULL, or the
 * compile-time output stage of runtime/edgec_dsp_out.h, EDGEC_DSP_OUT_WORDS int32 per output channel, whose start
 * is the bias folded with the zero point, bias - zp_x * sum(w) (toolchain/ops/int8_common.py, folded_bias). */
#define EDGEC_DW_DSP_MAX_K 8

void edgec_depthwise_conv2d_s8_dsp(const edgec_depthwise_conv2d_s8_params *p, const int32_t *stage,
                                   const int8_t *input, int8_t *output, int8_t *plane);

/* The 3x3 layers with a compile-time stage: `packed` holds EDGEC_DW3X3_WORDS int32 per output channel, the
 * channel's taps scaled by 2^pre as int16 halves ((w00, w02), (w10, w12), (w20, w22), (w01, w11), (w21, 0)), its
 * start (bias - zp_x sum(w)) scaled by 2^pre, and the stage's M, round, e (edgec_dsp_out.h): the compiler
 * computes them (toolchain/ops/depthwise_conv2d.py, dsp_3x3_records) as edgec_depthwise_conv2d_s8_dsp_3x3_pack
 * does, which returns 0 when some channel's pre exceeds 8 (|w| 2^pre no longer an int16: use
 * edgec_depthwise_conv2d_s8_dsp). The same bytes as edgec_depthwise_conv2d_s8_dsp; plane and in place alike. */
#define EDGEC_DW3X3_WORDS 9

void edgec_depthwise_conv2d_s8_dsp_3x3(const edgec_depthwise_conv2d_s8_params *p, const int32_t *packed,
                                       const int8_t *input, int8_t *output, int8_t *plane);
int32_t edgec_depthwise_conv2d_s8_dsp_3x3_pack(const edgec_depthwise_conv2d_s8_params *p, const int32_t *stage,
                                               int32_t *packed);

/* Channels last, for 3x3 layers with depth multiplier 1 and a compile-time stage whose pre-shifts are at most 8,
 * not in place, no scratch: `packed` holds EDGEC_DWCL_WORDS int32 per group of 4 channels (ceil(C / 4) groups, the
 * last one's missing channels zero): first, group by group, 20 words: the 4 channels' biases scaled by 2^pre
 * (modulo 2^32: windows partly outside the input subtract the zero point per tap), their starts with the zero
 * point folded in (bias - zp sum(w), the stage's start) scaled alike (wholly inside windows), their stages' M,
 * round, e (channel by channel; bit 31 of the last group of 4 whole channels' fourth e set: the end of the group
 * loop); then, group by group, per tap (ky, kx) in row order the weights scaled by 2^pre as int16 halves
 * (w0, w2), (w1, w3).
 * The compiler computes them (toolchain/ops/depthwise_conv2d.py, pack_cl_records) as
 * edgec_depthwise_conv2d_s8_dsp_cl_pack does (0: the layer does not qualify). The same bytes as
 * edgec_depthwise_conv2d_s8_dsp. */
#define EDGEC_DWCL_WORDS 38

void edgec_depthwise_conv2d_s8_dsp_cl(const edgec_depthwise_conv2d_s8_params *p, const int32_t *packed,
                                      const int8_t *input, int8_t *output);
int32_t edgec_depthwise_conv2d_s8_dsp_cl_pack(const edgec_depthwise_conv2d_s8_params *p, const int32_t *stage,
                                              int32_t *packed);

/* the scratch: the plane, rows (out_h - 1) * stride_h + k_h, row length align4((out_w - 1) * stride_w + k_w + 1),
 * then 2 out_h int32 (the 3x3 path's column sums); 4-byte aligned (the arena aligns every buffer to 8). The code
 * generator computes the same number (toolchain/ops/depthwise_conv2d.py, dsp_plane_bytes) */
int32_t edgec_depthwise_conv2d_s8_dsp_plane_bytes(const edgec_depthwise_conv2d_s8_params *p);

#endif
