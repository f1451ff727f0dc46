#include "leaky_relu_f32.h"

void edgec_leaky_relu_f32(int32_t size, float alpha, const float *input, float *output) {
    for (int32_t i = 0; i < size; i++) output[i] = input[i] > 0.0f ? input[i] : input[i] * alpha;
}
