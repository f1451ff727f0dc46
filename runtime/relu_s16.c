#include "relu_s16.h"
#include "edgec_fixedpoint.h"

/* RELU: y = clamp(MBQM(x, M, shift), act_min, act_max), M, shift from s_x / s_y; RELU6: y = clamp(x, act_min,
 * act_max). One element at a time (input[i] read before output[i] is written: in place is fine).
 * Cost: one double-rounding rescale (RELU) or two compares (RELU6) per element; no MACs. */
void edgec_relu_s16(const edgec_relu_s16_params *p, const int16_t *input, int16_t *output) {
    for (int32_t i = 0; i < p->size; i++) {
        output[i] = (int16_t)edgec_clamp(edgec_mbqm(input[i], p->multiplier, (int)p->shift), p->act_min, p->act_max);
    }
}

void edgec_clamp_s16(const edgec_relu_s16_params *p, const int16_t *input, int16_t *output) {
    for (int32_t i = 0; i < p->size; i++) output[i] = (int16_t)edgec_clamp(input[i], p->act_min, p->act_max);
}
