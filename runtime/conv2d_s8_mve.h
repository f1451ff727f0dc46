#ifndef EDGEC_CONV2D_S8_MVE_H
#define EDGEC_CONV2D_S8_MVE_H
#include <stdint.h>

#include "conv2d_s8.h"
#include "edgec_mve.h"

/* int8 CONV_2D with Helium (MVE, Cortex-M55), groups 1, the same bytes as the portable edgec_conv2d_s8.
 * Four output pixels at a time: their K = k_h * k_w * in_c inputs (raw int8; a padded tap holds the input zero
 * point) are copied into `scratch` interleaved by 16 (bytes 64c .. 64c + 63: inputs 16c .. 16c + 15 of pixels 0, 1,
 * 2, 3), then every pair of output channels loads each 16 weights once and adds them into the 4 pixels with one
 * VMLADAVA.S8 per pixel: 8 accumulators, 6 loads and 8 VMLADAVA per 16 k (a K not a multiple of 16 ends with a
 * predicated weight load). One channel's 4 pixels are requantized as a vector (edgec_mve.h) and stored by one
 * scatter VSTRB.32.
 * `chan` [out_c][4]: per output channel the folded bias, bias + input_offset * sum of the channel's weights
 * (edgec_mve.h), its multiplier, max(shift, 0) and min(shift, 0) (the generator computes them;
 * edgec_conv2d_s8_mve_channels is the same in C); p->bias, p->multiplier and p->shift are not read. `scratch`: 4 * ceil16(K) bytes, any alignment.
 * `live`: the output channels whose weights are not all zero (compile time, toolchain/ops/conv2d.py: mve_live);
 * only they are multiplied, the others' outputs are constants copied per pixel. NULL: every channel computed. */

/* A layer's all-zero output channels: their accumulator is the bias whatever the input, so their output,
 * clamp(zp_y + MBQM(bias)), is computed once by the compiler into `row`; `weights` holds the live channels'
 * weights only (OHWI, compacted), `channel` their output channels, ascending. */
typedef struct {
    const int8_t *weights;
    const int16_t *channel;
    const int8_t *row; /* out_c bytes: every dead channel's output (the live ones' bytes are overwritten) */
    int32_t live;      /* the number of live channels */
} edgec_conv2d_s8_mve_live;

/* Pointwise: 1x1 kernel, stride 1, no padding, any batches. In place when input == output (the buffer is
 * pixels * max(in_c, out_c) bytes, the input at its start), like edgec_conv2d_s8_pointwise_inplace. */
void edgec_conv2d_s8_pointwise_mve(const edgec_conv2d_s8_params *p, const int32_t *chan,
                                   const edgec_conv2d_s8_mve_live *live, const int8_t *input, int8_t *output,
                                   int8_t *scratch);

/* Any other convolution with groups 1 (k_h x k_w, strides, padding, dilation): the im2col of 4 output pixels, by
 * gathers at offsets computed once per call when K <= 256 (a border pixel's gathers predicated to its taps inside
 * the input, the zero point elsewhere), else by run copies. Not in place. Stack: about 1.5 KB (the gather tables
 * and the chunk's sums). */
void edgec_conv2d_s8_im2col_mve(const edgec_conv2d_s8_params *p, const int32_t *chan,
                                const edgec_conv2d_s8_mve_live *live, const int8_t *input, int8_t *output,
                                int8_t *scratch);

/* the `chan` words from the folded biases and p's multipliers and shifts */
void edgec_conv2d_s8_mve_channels(const edgec_conv2d_s8_params *p, const int32_t *bias_folded, int32_t *chan);

/* Few output channels (out_c <= 16), any groups-1 convolution: the output channels are the vector lanes. Per
 * output pixel and tap k, the input x[k] + input_offset is one scalar (LDRSB, ADD) and every 4 channels one
 * VLDRB.S32 of their weights and one VMLA.S32 (vector += vector x scalar); padded taps are skipped as the portable
 * kernel skips them. Cheaper than the 4-pixel kernels when K or out_c is small (vww's first conv, 3x3x3 -> 8, and
 * its 8 -> 16 pointwise conv), where their per-channel-pair work dominates. `weights_t`: the weights transposed,
 * [K][ceil4(out_c)] (K = k_h k_w in_c in OHWI order, zeros past out_c; the generator makes it); p->weights and
 * p->bias are not read (the bias is in `rec`, unfolded: the inputs get input_offset added). All of a pixel's sums are in registers before any of its outputs is
 * written, so a pointwise layer (1x1, stride 1, no padding) runs in place (input == output, the buffer pixels x
 * max(in_c, out_c) bytes): forward over the pixels when out_c <= in_c, backward otherwise. No scratch. */
#define EDGEC_CONV_MVE_LANES_MAX_OUT 16
void edgec_conv2d_s8_lanes_mve(const edgec_conv2d_s8_params *p, const int32_t *rec, const int8_t *weights_t,
                               const int8_t *input, int8_t *output);
/* `rec`: per group of 4 output channels 16 int32: the biases (0 without), the multipliers, max(shift, 0) and
 * min(shift, 0), lanes past out_c zero (the generator makes it; this is the same in C) */
void edgec_conv2d_s8_mve_records(const edgec_conv2d_s8_params *p, int32_t *rec);

#endif
