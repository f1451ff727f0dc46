#include "relu_s8.h"
#include "edgec_fixedpoint.h"

void edgec_relu_s8(const edgec_relu_s8_params *p, const int8_t *input, int8_t *output) {
    for (int32_t i = 0; i < p->size; i++) {
        const int32_t scaled = edgec_mbqm((int32_t)input[i] - p->input_offset, p->multiplier, (int)p->shift);
        output[i] = (int8_t)edgec_clamp(edgec_wrap_add(scaled, p->output_offset), p->act_min, p->act_max);
    }
}

void edgec_clamp_s8(const edgec_relu_s8_params *p, const int8_t *input, int8_t *output) {
    for (int32_t i = 0; i < p->size; i++) output[i] = (int8_t)edgec_clamp(input[i], p->act_min, p->act_max);
}
