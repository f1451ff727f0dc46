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
 * along the plane's longer side are requantized as a vector and stored by one scatter VSTRB.32.
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

#endif
