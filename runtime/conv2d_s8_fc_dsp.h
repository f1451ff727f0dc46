#ifndef EDGEC_CONV2D_S8_FC_DSP_H
#define EDGEC_CONV2D_S8_FC_DSP_H
#include <stdint.h>

#include "conv2d_s8.h"
#include "fully_connected_s8_dsp.h"

/* A DSP pointwise CONV_2D (1x1, stride 1, no padding, groups 1) of few input channels as a fully connected layer
 * over its pixels: y[p][o] = requant(bias[o] + sum_i w[o][i] (x[p][i] - zp_x)), from compile-time records
 * (toolchain/ops/conv2d.py, pointwise_records) with every channel's pre = left + 1 <= 8 folded into its data (int16
 * weights w << pre, start (bias - zp_x sum(w)) << pre mod 2^32), so the sums are the output stage's a2
 * (edgec_dsp_out.h) and the requantization is SMMLAR, ADD, ASR, SSAT. R words: e in the low byte, above it a count.
 *   in_c <= 8: the records of the FC records kernel (fully_connected_s8_dsp.h, depth <= 8: one 8-word record per
 *     channel), run by edgec_fully_connected_s8_dsp_rec with batches = pixels: 10.5 instructions per 8 MACs.
 *   in_c > 8: G = ceil(in_c / 4); blocks of 4 channels [s0, s1, s2, s3, 8 G], G groups of 8 words (channels 0..3:
 *     (w0, w2), (w1, w3) of the group's 4 inputs, zero past in_c), [M, round, R] x 4 (R of channel 3: e | (blocks
 *     left << 8)); then each of the out_c % 4 last channels [s, G x ((w0, w2), (w1, w3)), M, round, e]. Per pixel
 *     the inputs are widened once to int16 pairs on the stack; a group of 4 inputs x 4 channels is LDRD, 2 LDM,
 *     8 SMLAD (11 per 16 MACs, 12 with the loop), a block's requantization 2 LDM and 5 per output.
 * Chosen for in_c <= EDGEC_PW_REC_MAX_GROUPS * 4 with every channel live and the full int8 clamp [-128, 127]. In
 * place when input == output (the buffer is pixels * max(in_c, out_c) bytes, the input at its start); in_c <= 8
 * in place copies the pixels through at most EDGEC_PW_REC_CHUNK bytes of stack, in_c > 8 takes 4 ceil4(in_c)
 * bytes of stack for a pixel's widened inputs. */
#define EDGEC_PW_REC_CHUNK 256
#define EDGEC_PW_REC_MAX_GROUPS 28
void edgec_conv2d_s8_pointwise_dsp_rec(const edgec_conv2d_s8_params *p, const int32_t *records, const int8_t *input,
                                       int8_t *output);

#endif
