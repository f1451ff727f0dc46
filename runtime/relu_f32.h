#ifndef EDGEC_RELU_F32_H
#define EDGEC_RELU_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 RELU, RELU6, RELU_N1_TO_1 and ONNX Clip: y = min(max(x, act_min), act_max); an absent bound is
 * +-HUGE_VALF (infinity), so it never clamps. */
typedef struct {
    int32_t size;
    float act_min, act_max;
} edgec_relu_f32_params;

void edgec_relu_f32(const edgec_relu_f32_params *p, const float *input, float *output);

#endif
