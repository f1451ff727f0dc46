#ifndef EDGEC_SOFTMAX_S8_H
#define EDGEC_SOFTMAX_S8_H
#include <stdint.h>

/* int8 softmax over the last axis: `outer` rows of `depth` values; output scale 1/256, zero point -128.
 * input_multiplier / input_left_shift turn an input difference into beta * difference * s_x in Q5.26;
 * differences below diff_min give exp() = 0 (output -128). */
typedef struct {
    int32_t outer, depth;
    int32_t input_multiplier, input_left_shift;
    int32_t diff_min;
} edgec_softmax_s8_params;

void edgec_softmax_s8(const edgec_softmax_s8_params *p, const int8_t *input, int8_t *output);

#endif
