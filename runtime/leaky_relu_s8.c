#include "leaky_relu_s8.h"
#include "edgec_fixedpoint.h"

void edgec_leaky_relu_s8(const edgec_leaky_relu_s8_params *p, const int8_t *input, int8_t *output) {
    const int negative_alpha = p->multiplier_alpha < 0;
    /* |M_a| as uint32 first: -INT32_MIN does not fit an int32 (TFLM would overflow there too) */
    const int32_t abs_alpha = (int32_t)(negative_alpha ? 0u - (uint32_t)p->multiplier_alpha
                                                       : (uint32_t)p->multiplier_alpha);
    for (int32_t i = 0; i < p->size; i++) {
        const int32_t v = (int32_t)input[i] - p->input_offset;
        int32_t scaled;
        if (v >= 0) {
            scaled = edgec_mbqm(v, p->multiplier_identity, (int)p->shift_identity);
        } else {
            scaled = edgec_mbqm(v, abs_alpha, (int)p->shift_alpha);
            if (negative_alpha) scaled = edgec_wrap_neg(scaled);
        }
        output[i] = (int8_t)edgec_clamp(edgec_wrap_add(p->output_offset, scaled), -128, 127);
    }
}
