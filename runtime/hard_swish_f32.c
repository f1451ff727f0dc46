#include "hard_swish_f32.h"

void edgec_hard_swish_f32(int32_t size, const float *input, float *output) {
    for (int32_t i = 0; i < size; i++) {
        const float x = input[i];
        float relu6 = x + 3.0f;
        relu6 = relu6 > 0.0f ? relu6 : 0.0f;
        relu6 = relu6 < 6.0f ? relu6 : 6.0f;
        output[i] = x * relu6 / 6.0f;
    }
}
