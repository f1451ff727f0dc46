#ifndef EDGEC_DEPTHWISE_CONV2D_S4_H
#define EDGEC_DEPTHWISE_CONV2D_S4_H
#include <stdint.h>

#include "depthwise_conv2d_s8.h"

/* int8 depthwise convolution with int4 weights packed two per byte (edgec_int4.h), [1, k_h, k_w, out_c] order:
 * the same parameters as edgec_depthwise_conv2d_s8 (p->weights unused), the weights in `packed`, and `row`:
 * k_h * k_w bytes of scratch that receive one output channel's taps, unpacked. Same results as
 * edgec_depthwise_conv2d_s8 on the unpacked weights, bit for bit. */
void edgec_depthwise_conv2d_s4(const edgec_depthwise_conv2d_s8_params *p, const uint8_t *packed, int8_t *row,
                               const int8_t *input, int8_t *output);

#endif
