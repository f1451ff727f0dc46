#ifndef EDGEC_HARD_SWISH_F32_H
#define EDGEC_HARD_SWISH_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 HARD_SWISH: y = x * min(6, max(0, x + 3)) / 6 (TFLite's order of operations) */
void edgec_hard_swish_f32(int32_t size, const float *input, float *output);

#endif
