#ifndef EDGEC_CONV2D_S8_DSP_H
#define EDGEC_CONV2D_S8_DSP_H
#include <stdint.h>

#include "conv2d_s8.h"
#include "edgec_dsp_out.h"

/* int8 CONV_2D with the Arm DSP extension (Cortex-M4, M7, M33: SXTB16, SMLAD), the same parameters and the same
 * bytes as the portable edgec_conv2d_s8. Two output pixels at a time: their inputs, minus the input zero point,
 * are widened once to int16 in `scratch` (K padded with zeros to a multiple of 4), then every pair of output
 * channels is a 2 x 2 block of accumulators, each SMLAD adding two products. Requantization is the portable
 * kernel's (edgec_requantize, both rounding modes) when `stage` is NULL, else the compile-time output stage below.
 * With the stage's int16 weights (weights16 below) the 2 x 2 blocks multiply with no SXTB16: 50 instructions per
 * 64 MACs in the loop, the sums of 16 channel pairs kept on the stack (256 bytes) and requantized in a second pass.
 * `scratch`: 2 * ceil4(K) int16, 4-byte aligned (LDRD reads it), with K = k_h * k_w * in_c (in_c for the
 * pointwise kernel). The im2col kernel also uses up to 128 bytes of stack (stems: in_c not a multiple of 4). */

/* Compile-time work of one layer (toolchain/ops/conv2d.py): the output stage of runtime/edgec_dsp_out.h per live
 * output channel, and the channels whose weights are all zero (their output is clamp(zp_y + MBQM(bias)) whatever the
 * input: computed once by the compiler, in `row`, and copied). Live channel j has the weights weights[j * K ..],
 * output channel channel[j] (j when channel is NULL), and EDGEC_DSP_OUT_WORDS words of out from j *
 * EDGEC_DSP_OUT_WORDS. */
typedef struct {
    const int32_t *out;      /* per live channel: start (the bias), multiplier, round, pre, right */
    const int8_t *weights;   /* the live channels' weights, OHWI (the layer's own array when none is dead) */
    const int16_t *channel;  /* the output channel of each live channel, ascending; NULL: none is dead */
    const int8_t *row;       /* out_c bytes: every dead channel's output (live ones overwritten); NULL: none */
    int32_t live;            /* the number of live channels */
    /* NULL, or the weights of the live channels 0 .. 2 floor(live / 2) - 1 again, widened to int16 and interleaved
     * by pairs of channels: pair j, group g of 4 k (K padded with zeros to a multiple of 4) holds the 8 int16
     * a[4g], a[4g+2], a[4g+1], a[4g+3], b[4g], b[4g+2], b[4g+1], b[4g+3] (a = live channel 2j, b = 2j + 1) at
     * (j * ceil4(K) / 4 + g) * 8: the scratch's order, so no SXTB16 is left in the loop (an odd last channel
     * keeps the int8 path) */
    const int16_t *weights16;
} edgec_conv2d_s8_dsp_stage;

/* Pointwise: 1x1 kernel, stride 1, no padding, groups 1, any batches. In place when input == output (the buffer
 * is pixels * max(in_c, out_c) bytes, the input at its start), like edgec_conv2d_s8_pointwise_inplace. */
void edgec_conv2d_s8_pointwise_dsp(const edgec_conv2d_s8_params *p, const edgec_conv2d_s8_dsp_stage *stage,
                                   const int8_t *input, int8_t *output, int16_t *scratch);

/* Any other convolution with groups 1 (k_h x k_w, strides, padding, dilation): the im2col of two output pixels.
 * Not in place. */
void edgec_conv2d_s8_im2col_dsp(const edgec_conv2d_s8_params *p, const edgec_conv2d_s8_dsp_stage *stage,
                                const int8_t *input, int8_t *output, int16_t *scratch);

#endif
