#ifndef EDGEC_DEPTHWISE_CONV2D_S8_MVE_H
#define EDGEC_DEPTHWISE_CONV2D_S8_MVE_H
#include <stdint.h>

#include "depthwise_conv2d_s8.h"
#include "edgec_mve.h"

/* int8 depthwise convolution with Helium (MVE, Cortex-M55), the same bytes as edgec_depthwise_conv2d_s8 for
 * dilation 1, at most 16 taps (k_h * k_w: 3x3, 4x4, 1x16...), any stride, padding and depth multiplier, when the
 * window's bytes lie within 255 of its first in the channel plane (edgec_depthwise_conv2d_s8_mve_fits).
 * One input channel at a time is gathered into a plane bordered with the input zero point; each output is one
 * gather VLDRB.U8 of its k_h * k_w window (8-bit offsets) and one VMLADAVA.S8 with the channel's taps; 4 outputs
 * along the plane's longer side are requantized as a vector and stored by one scatter VSTRB.32 (with TFLite's
 * rounding and a right shift one asm loop: 25 instructions per 4 outputs).
 * `bias_folded` [out_c]: bias + input_offset * sum of the channel's k_h * k_w weights (edgec_mve.h; padded taps read
 * the zero point from the border, so the fold cancels them). `plane`: edgec_depthwise_conv2d_s8_mve_plane_bytes(p)
 * bytes of scratch. `input` may equal `output` (in place) when the depth multiplier is 1 and out_h * out_w <=
 * in_h * in_w, as for edgec_depthwise_conv2d_s8_inplace. */
void edgec_depthwise_conv2d_s8_mve(const edgec_depthwise_conv2d_s8_params *p, const int32_t *bias_folded,
                                   const int8_t *input, int8_t *output, int8_t *plane);

/* The plane: rows (out_h - 1) * stride_h + k_h of (out_w - 1) * stride_w + k_w bytes, plus 3 steps of the 4-output
 * groups (the lanes past the last output read there, computed and not stored). The code generator computes the
 * same numbers (toolchain/ops/depthwise_conv2d.py: mve_plane). */
int32_t edgec_depthwise_conv2d_s8_mve_plane_bytes(const edgec_depthwise_conv2d_s8_params *p);
/* 1 when the kernel takes the layer (taps <= 16, dilation 1, the window and 3 group steps within 255 bytes) */
int32_t edgec_depthwise_conv2d_s8_mve_fits(const edgec_depthwise_conv2d_s8_params *p);

/* Channels as vector lanes (depth multiplier 1, dilation 1, any kernel size, stride and padding): per output pixel
 * and 4 channels, one VLDRB.S32 of the inputs, one of the taps' weights, VMUL and VADD per tap, from a ring of the
 * input rows the window needs (each row bordered with the input zero point, so padded taps add w zp, which the
 * folded bias cancels); the 4 sums are requantized as a vector with their channels' multipliers and shifts. No
 * per-channel setup: cheaper than the plane kernel above on small planes (vww's 12x12 to 3x3 layers, kws's 25x5).
 * 3x3 layers with TFLite's rounding take a straight-line path: gathers at offsets 0..3 + kx C from one pointer per
 * window row, the requantization constants from `rec`.
 * `weights_r`: the weights regrouped [ceil4(C) / 4][k_h k_w][4] (zeros past C; the generator makes it).
 * `ring`: edgec_depthwise_conv2d_s8_mve_ring_bytes(p) bytes. In place (input == output, batches 1) when every
 * input row is still intact when the ring copies it, just before the first output row that needs it
 * (toolchain/ops/depthwise_conv2d.py: host_ring_ok, the host kernel's same schedule). */
void edgec_depthwise_conv2d_s8_lanes_mve(const edgec_depthwise_conv2d_s8_params *p, const int32_t *bias_folded,
                                         const int32_t *rec, const int8_t *weights_r, const int8_t *input,
                                         int8_t *output, int8_t *ring);
/* `rec` (TFLite's rounding; NULL: the generic path): per group of 4 channels, 16 int32: the folded biases, the
 * multipliers, the left shifts max(shift, 0) and the right shifts as min(shift, 0), lanes past C zero (the
 * generator makes it; edgec_depthwise_conv2d_s8_mve_records below is the same in C). */
void edgec_depthwise_conv2d_s8_mve_records(const edgec_depthwise_conv2d_s8_params *p, const int32_t *bias_folded,
                                           int32_t *rec);
/* k_h + 1 rows (k_h ring slots and one row of the zero point) of (out_w - 1) * stride_w + k_w columns x in_c bytes */
int32_t edgec_depthwise_conv2d_s8_mve_ring_bytes(const edgec_depthwise_conv2d_s8_params *p);

#endif
