#ifndef EDGEC_HARD_SIGMOID_S8_H
#define EDGEC_HARD_SIGMOID_S8_H
#include <stdint.h>

/* int8 HardSigmoid as a table lookup: y = table[x + 128], the table holding the correctly rounded
 * max(0, min(1, alpha * x + beta)) of every int8 input (computed by the compiler) */
void edgec_hard_sigmoid_s8(int32_t size, const int8_t *table, const int8_t *input, int8_t *output);

#endif
