#include <string.h>

#include "concat_s8.h"

void edgec_concat_s8(const edgec_concat_s8_params *p, const int8_t *const *inputs, int8_t *output) {
    int8_t *out = output;
    for (int32_t k = 0; k < p->outer; k++) {
        for (int32_t i = 0; i < p->num_inputs; i++) {
            const size_t n = (size_t)p->chunk[i];
            memcpy(out, inputs[i] + (size_t)k * n, n);
            out += n;
        }
    }
}
