#include <string.h>

#include "concat_f32.h"

void edgec_concat_f32(const edgec_concat_f32_params *p, const float *const *inputs, float *output) {
    float *out = output;
    for (int32_t k = 0; k < p->outer; k++) {
        for (int32_t i = 0; i < p->num_inputs; i++) {
            const size_t n = (size_t)p->chunk[i];
            memcpy(out, inputs[i] + (size_t)k * n, n * sizeof(float));
            out += n;
        }
    }
}
