#include "abs_f32.h"

void edgec_abs_f32(int32_t size, const float *input, float *output) {
    for (int32_t i = 0; i < size; i++) output[i] = fabsf(input[i]);
}
