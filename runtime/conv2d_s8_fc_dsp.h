#ifndef EDGEC_CONV2D_S8_FC_DSP_H
#define EDGEC_CONV2D_S8_FC_DSP_H
#include <stdint.h>

#include "conv2d_s8.h"
#include "fully_connected_s8_dsp.h"

/* A DSP pointwise CONV_2D (1x1, stride 1, no padding, groups 1) of few input channels as a fully connected layer
 * over its pixels: y[p][o] = requant(bias[o] + sum_i w[o][i] (x[p][i] - zp_x)), batches = pixels, depth = in_c,
 * run by the FC records kernel (edgec_fully_connected_s8_dsp_rec) on the compiler's records of the [out_c, in_c]
 * weights (toolchain/ops/conv2d.py, pointwise_records: the records of fully_connected.dsp_fc_records, the output
 * stage started at the bias folded with the input zero point). Cost per MAC on the Cortex-M4: in_c <= 8, 10.5
 * instructions per 8 MACs (one LDM per channel, the pixel's inputs in registers); in_c > 8, 14 per 16 MACs and
 * 2 LDM + 5 per output (blocks of 4 channels). stage_tail: the out_c % 4 last channels' stage rows when in_c > 8,
 * else NULL. Chosen for in_c <= 112 with every channel live and the full int8 clamp. In place when input ==
 * output (the buffer is pixels * max(in_c, out_c) bytes, the input at its start) through a copy of at most
 * EDGEC_PW_REC_CHUNK bytes on the stack (in_c <= EDGEC_PW_REC_CHUNK). */
#define EDGEC_PW_REC_CHUNK 256
void edgec_conv2d_s8_pointwise_dsp_rec(const edgec_conv2d_s8_params *p, const int32_t *records,
                                       const int32_t *stage_tail, const int8_t *input, int8_t *output);

#endif
