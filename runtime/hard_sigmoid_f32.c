#include "hard_sigmoid_f32.h"

void edgec_hard_sigmoid_f32(int32_t size, float alpha, float beta, const float *input, float *output) {
    for (int32_t i = 0; i < size; i++) output[i] = edgec_clampf(alpha * input[i] + beta, 0.0f, 1.0f);
}
