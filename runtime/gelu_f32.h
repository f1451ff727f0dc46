#ifndef EDGEC_GELU_F32_H
#define EDGEC_GELU_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 GELU over `size` values; approximate: the tanh form. */
typedef struct {
    int32_t size;
    int32_t approximate;
} edgec_gelu_f32_params;

void edgec_gelu_f32(const edgec_gelu_f32_params *p, const float *input, float *output);

#endif
