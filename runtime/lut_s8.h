#ifndef EDGEC_LUT_S8_H
#define EDGEC_LUT_S8_H
#include <stdint.h>

/* An int8 -> int8 elementwise function as a 256-entry table computed by the compiler (RSQRT, ...). */
void edgec_lut_s8(int32_t size, const int8_t *table, const int8_t *input, int8_t *output);

#endif
