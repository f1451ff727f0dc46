#ifndef EDGEC_ABS_F32_H
#define EDGEC_ABS_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 ABS: y = fabsf(x), one IEEE operation per element (the sign bit cleared: -0 -> +0, NaN stays NaN). */
void edgec_abs_f32(int32_t size, const float *input, float *output);

#endif
