#ifndef EDGEC_HARD_SIGMOID_F32_H
#define EDGEC_HARD_SIGMOID_F32_H
#include <stdint.h>

#include "edgec_float.h"

/* float32 HardSigmoid (ONNX): y = max(0, min(1, alpha * x + beta)) */
void edgec_hard_sigmoid_f32(int32_t size, float alpha, float beta, const float *input, float *output);

#endif
