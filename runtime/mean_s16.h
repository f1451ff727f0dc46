#ifndef EDGEC_MEAN_S16_H
#define EDGEC_MEAN_S16_H
#include <stdint.h>

/* 16x8 MEAN (int16, zero points 0) over any axes, TFLite Micro's QuantizedMeanOrSum<int16_t>: output elements
 * are walked by the kept loops (out_shape, outermost first), each mean sums the input over the reduced loops
 * (red_shape, int32 sum); the strides are input element steps.
 *     y = clamp(MBQM(sum, multiplier, shift), -32768, 32767)
 * where multiplier/shift already include the division by count (compile time, as for int8). */
typedef struct {
    int32_t out_shape[4], out_stride[4];
    int32_t red_shape[4], red_stride[4];
    int32_t multiplier, shift;
} edgec_mean_s16_params;

void edgec_mean_s16(const edgec_mean_s16_params *p, const int16_t *input, int16_t *output);

#endif
