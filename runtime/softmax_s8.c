#include "softmax_s8.h"
#include "edgec_fixedpoint.h"

enum { SCALED_DIFF_INTEGER_BITS = 5, ACCUMULATION_INTEGER_BITS = 12 };

/* exp(beta * s_x * diff) in Q0.31 for diff <= 0, diff >= diff_min */
static int32_t exp_of_diff(const edgec_softmax_s8_params *p, int32_t diff) {
    const int32_t scaled = edgec_mbqm(diff, p->input_multiplier, p->input_left_shift); /* Q5.26 */
    return edgec_exp_on_negative_values(scaled, SCALED_DIFF_INTEGER_BITS);
}

/* x / 2^exponent rounded half away from zero, for any exponent in 0..62 */
static int32_t rounding_divide_by_pot_wide(int32_t x, int exponent) {
    if (exponent <= 31) return edgec_rounding_divide_by_pot(x, exponent);
    const int64_t mask = ((int64_t)1 << exponent) - 1;
    const int64_t remainder = (int64_t)x & mask;
    const int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (int32_t)(((int64_t)x >> exponent) + (remainder > threshold ? 1 : 0));
}

void edgec_softmax_s8(const edgec_softmax_s8_params *p, const int8_t *input, int8_t *output) {
    for (int32_t i = 0; i < p->outer; i++) {
        const int8_t *in = input + i * p->depth;
        int8_t *out = output + i * p->depth;
        int32_t max = -128;
        for (int32_t c = 0; c < p->depth; c++) max = edgec_max(max, in[c]);

        /* sum of exp in Q12.19; wraps around like TFLite's int32 sum (only rows of >= 4096 values can) */
        int32_t sum = 0;
        for (int32_t c = 0; c < p->depth; c++) {
            const int32_t diff = in[c] - max;
            if (diff >= p->diff_min)
                sum = edgec_wrap_add(sum, edgec_sat_rounding_mul_by_pot(exp_of_diff(p, diff),
                                                                        -ACCUMULATION_INTEGER_BITS));
        }

        /* sum = 2^bits_over_unit * (1 + f), f in [0, 1): 1/sum = 2^-bits_over_unit / (1 + f) */
        const int headroom = edgec_clz32((uint32_t)sum);
        const int bits_over_unit = ACCUMULATION_INTEGER_BITS - headroom;
        const int32_t f = (int32_t)(((uint64_t)(uint32_t)sum << headroom) - ((uint64_t)1 << 31));
        const int32_t reciprocal = edgec_one_over_one_plus_x_for_x_in_0_1(f);
        /* exp * reciprocal is e / sum * 2^bits_over_unit in Q0.31; output units are 1/256 = 2^-8 */
        const int exponent = bits_over_unit + 31 - 8;

        for (int32_t c = 0; c < p->depth; c++) {
            const int32_t diff = in[c] - max;
            if (diff >= p->diff_min) {
                const int32_t prob = rounding_divide_by_pot_wide(edgec_srdhm(reciprocal, exp_of_diff(p, diff)),
                                                                 exponent);
                out[c] = (int8_t)edgec_clamp(prob - 128, -128, 127);
            } else {
                out[c] = -128;
            }
        }
    }
}
