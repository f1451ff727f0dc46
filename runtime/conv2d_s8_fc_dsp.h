#ifndef EDGEC_CONV2D_S8_FC_DSP_H
#define EDGEC_CONV2D_S8_FC_DSP_H
#include <stdint.h>

#include "conv2d_s8.h"

/* A DSP pointwise CONV_2D (1x1, stride 1, no padding, groups 1) as a fully connected layer over its pixels:
 * y[p][o] = requant(bias[o] + sum_i w[o][i] (x[p][i] - zp_x)), from compile-time records (toolchain/ops/conv2d.py,
 * pointwise_records) with every channel's pre = left + 1 <= 8 folded into its data (int16 weights w << pre, start
 * (bias - zp_x sum(w)) << pre mod 2^32), so the sums are the output stage's a2 (edgec_dsp_out.h) and the
 * requantization is SMMLAR, ADD, ASR, SSAT. R words: e in the low byte (ASR by a register reads only it), above it
 * a count.
 *   in_c <= 8: one record per channel [s, (w0, w2), (w1, w3), (w4, w6), (w5, w7), M, round, R] (zero weights past
 *     in_c; R = e | (turns of 4 channels left << 8) on the channels with out_c - 1 - o a multiple of 4): per pixel
 *     the inputs in 4 registers, per channel one LDM, 4 SMLAD and the stage: 10.5 instructions per 8 MACs with the
 *     loop, about 20 per pixel.
 *   in_c > 8: G = ceil(in_c / 4); blocks of 4 channels [s0, s1, s2, s3, 8 G], G groups of 8 words (channels 0..3:
 *     (w0, w2), (w1, w3) of the group's 4 inputs, zero past in_c), [M, round, R] x 4 (R of channel 3: e | (blocks
 *     left << 8)); then each of the out_c % 4 last channels [s, G x ((w0, w2), (w1, w3)), M, round, e]. Per pixel
 *     the inputs are widened once to int16 pairs on the stack; a group of 4 inputs x 4 channels is LDRD, 2 LDM,
 *     8 SMLAD (11 per 16 MACs), a block's requantization 2 LDM and 5 per output.
 * Chosen for in_c <= 4 EDGEC_PW_REC_MAX_GROUPS (at least 4 channels past in_c 8) with every channel live and the
 * full int8 clamp [-128, 127]. In place when input == output (the buffer is pixels * max(in_c, out_c) bytes, the
 * input at its start). in_c > 8 takes 8 EDGEC_PW_REC_MAX_GROUPS bytes of stack (512) for a pixel's widened inputs.
 */
#define EDGEC_PW_REC_MAX_GROUPS 64
void edgec_conv2d_s8_pointwise_dsp_rec(const edgec_conv2d_s8_params *p, const int32_t *records, const int8_t *input,
                                       int8_t *output);

#endif
