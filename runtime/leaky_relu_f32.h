#ifndef EDGEC_LEAKY_RELU_F32_H
#define EDGEC_LEAKY_RELU_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 LEAKY_RELU: y = x > 0 ? x : x * alpha (alpha may be negative or above 1) */
void edgec_leaky_relu_f32(int32_t size, float alpha, const float *input, float *output);

#endif
