#include "relu_f32.h"

void edgec_relu_f32(const edgec_relu_f32_params *p, const float *input, float *output) {
    for (int32_t i = 0; i < p->size; i++) output[i] = edgec_clampf(input[i], p->act_min, p->act_max);
}
