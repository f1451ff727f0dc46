#ifndef EDGEC_SOFTMAX_S16_H
#define EDGEC_SOFTMAX_S16_H
#include <stdint.h>

/* 16x8 SOFTMAX over the last axis (TFLite Micro's SoftmaxInt16): int16 input (zero point 0) and output (scale
 * 2^-15, zero point 0), two 513-entry interpolation tables computed at compile time (exp on [-10, 0] and
 * 1 / (1 + x) on [0, 1], both in Q0.15). */
typedef struct {
    int32_t outer, depth;                   /* rows, and values per row (depth * 32767 must fit int32) */
    int32_t input_multiplier, input_shift;  /* (x - max) * s_x * beta in units of 10 / 65535 */
    const int16_t *exp_table;               /* [513] */
    const int16_t *reciprocal_table;        /* [513] */
} edgec_softmax_s16_params;

void edgec_softmax_s16(const edgec_softmax_s16_params *p, const int16_t *input, int16_t *output);

#endif
