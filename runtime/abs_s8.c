#include "abs_s8.h"
#include "edgec_fixedpoint.h"

void edgec_abs_s8(const edgec_abs_s8_params *p, const int8_t *input, int8_t *output) {
    /* the rescale test is hoisted: one loop per case */
    if (!p->rescale) {
        for (int32_t i = 0; i < p->size; i++) {
            const int32_t v = (int32_t)input[i] - p->input_offset;
            output[i] = (int8_t)edgec_clamp(p->output_offset + (v < 0 ? -v : v), -128, 127);
        }
        return;
    }
    for (int32_t i = 0; i < p->size; i++) {
        const int32_t v = (int32_t)input[i] - p->input_offset;
        const int32_t scaled = edgec_mbqm(v < 0 ? -v : v, p->multiplier, (int)p->shift);
        output[i] = (int8_t)edgec_clamp(edgec_wrap_add(p->output_offset, scaled), -128, 127);
    }
}
